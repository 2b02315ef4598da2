import { Migrator, type Kysely, type Migration } from 'kysely';
import { AppError } from '../../errors/index.ts';
import type { DialectName } from '../db.ts';
import { coreMigration } from './001-core.ts';
import { connectMigration } from './002-connect.ts';
import { outboxMigration } from './003-outbox.ts';
import { notificationsMigration } from './004-notifications.ts';
import { contentlessFtsMigration } from './005-contentless-fts.ts';
import type { VersionedMigration } from './types.ts';

export interface MigrationDb {
  kysely: Kysely<unknown>;
  dialect: DialectName;
}

/** Append only: a released migration is never edited, a new one is added. */
const ALL: VersionedMigration[] = [coreMigration, connectMigration, outboxMigration, notificationsMigration, contentlessFtsMigration];

/**
 * Brings the schema to the newest version, or to the named one (to test a migration on data
 * written before it). Kysely's Migrator takes a lock (an advisory lock on PostgreSQL) so
 * several processes starting together migrate once.
 */
export async function migrate(db: MigrationDb, options: { to?: string } = {}): Promise<string[]> {
  const migrations: Record<string, Migration> = {};
  for (const m of ALL) migrations[m.name] = { up: (k) => m.up(k as Kysely<unknown>, db.dialect) };
  const migrator = new Migrator({
    db: db.kysely,
    provider: { getMigrations: async () => migrations },
    migrationTableName: 'mailroom_migrations',
    migrationLockTableName: 'mailroom_migrations_lock',
  });
  const { error, results } = options.to === undefined ? await migrator.migrateToLatest() : await migrator.migrateTo(options.to);
  if (error) {
    throw new AppError('DATABASE_UNAVAILABLE', `Database migration failed: ${(error as Error).message}`, { cause: error });
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
