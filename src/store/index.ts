import type { Kysely } from 'kysely';
import { openDatabase, type Db, type DialectName } from './db.ts';
import { migrate } from './migrations/index.ts';
import { orgsRepo } from './repos/orgs.ts';
import { usersRepo } from './repos/users.ts';
import { credentialsRepo } from './repos/credentials.ts';
import { cabinetsRepo } from './repos/cabinets.ts';
import { documentsRepo } from './repos/documents.ts';
import { mailConfigRepo } from './repos/mail-config.ts';
import { syncRepo } from './repos/sync.ts';
import { outboxRepo } from './repos/outbox.ts';
import { notificationsRepo } from './repos/notifications.ts';
import type { Database } from './schema.ts';

export interface Store {
  readonly db: Db;
  readonly orgs: ReturnType<typeof orgsRepo>;
  readonly users: ReturnType<typeof usersRepo>;
  readonly credentials: ReturnType<typeof credentialsRepo>;
  readonly cabinets: ReturnType<typeof cabinetsRepo>;
  readonly documents: ReturnType<typeof documentsRepo>;
  readonly mailConfig: ReturnType<typeof mailConfigRepo>;
  readonly sync: ReturnType<typeof syncRepo>;
  readonly outbox: ReturnType<typeof outboxRepo>;
  readonly notifications: ReturnType<typeof notificationsRepo>;
  close(): Promise<void>;
}

export function createStore(db: Db): Store {
  const k: Kysely<Database> = db.kysely;
  return {
    db,
    orgs: orgsRepo(k),
    users: usersRepo(k),
    credentials: credentialsRepo(k),
    cabinets: cabinetsRepo(k),
    documents: documentsRepo(k, db.dialect),
    mailConfig: mailConfigRepo(k),
    sync: syncRepo(k),
    outbox: outboxRepo(k, db.dialect),
    notifications: notificationsRepo(k, db.dialect),
    close: () => db.close(),
  };
}

/** Opens the configured database and brings its schema up to date. */
export async function openStore(opts: { databaseUrl?: string | undefined; dataDir: string }): Promise<Store> {
  const db = openDatabase(opts);
  await migrate({ kysely: db.kysely as unknown as Kysely<unknown>, dialect: db.dialect });
  return createStore(db);
}

export { openDatabase, openSqlite, openPostgres, type Db, type DialectName } from './db.ts';
export { migrate } from './migrations/index.ts';
export { FsBlobStore, type BlobStore, type BlobBatch, type BlobLocation, type BlobRef, type ReindexProblem, type ReindexResult } from './blobs/index.ts';
export type { DocumentWrite, InsertOutcome, SearchFilter, SearchPage } from './repos/documents.ts';
export type { TokenRow } from './repos/credentials.ts';
export type { LedgerKey, LedgerValue } from './repos/sync.ts';
export type { ClaimedRow, OutboxRepo, OutboxResult, OutboxSummaryRow, NewOutboxEvent } from './repos/outbox.ts';
export type { CursorAdvance, MailIntent, NotifiableDocument, NotificationsRepo, SubscriptionListRow } from './repos/notifications.ts';
export type * from './schema.ts';
