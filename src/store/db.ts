import { mkdirSync } from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import { AppError } from '../errors/index.ts';
import type { Database } from './schema.ts';

export type DialectName = 'sqlite' | 'postgres';

export interface Db {
  readonly kysely: Kysely<Database>;
  readonly dialect: DialectName;
  /** A human description without credentials, for logs and `/api/health`. */
  readonly description: string;
  close(): Promise<void>;
}

// pg returns timestamptz as Date and int8 as string; our rows use ISO text and numbers.
pg.types.setTypeParser(1184, (v: string) => new Date(v).toISOString());
pg.types.setTypeParser(20, (v: string) => Number(v));

/**
 * The better-sqlite3 handle behind a SQLite Kysely instance. Only the archive's insert path
 * (documents.insertMany) uses it, to run cached prepared statements instead of compiling every
 * query; everything else goes through Kysely.
 */
const sqliteHandles = new WeakMap<Kysely<Database>, SQLite.Database>();

export function sqliteHandle(kysely: Kysely<Database>): SQLite.Database | undefined {
  return sqliteHandles.get(kysely);
}

export function openSqlite(file: string): Db {
  if (file !== ':memory:') mkdirSync(path.dirname(file), { recursive: true });
  const sqlite = new SQLite(file);
  // WAL lets readers run beside the single writer; FULL makes every commit durable before the
  // mailbox action that depends on it (design §2.1). busy_timeout covers other processes.
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = FULL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 15000');
  const kysely = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  sqliteHandles.set(kysely, sqlite);
  return { kysely, dialect: 'sqlite', description: `sqlite:${file}`, close: () => kysely.destroy() };
}

export function openPostgres(url: string): Db {
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  // An idle client whose server connection ends (a PostgreSQL restart, a terminated backend)
  // is dropped from the pool and replaced on next use; without a listener pg would throw the
  // event at the process. Errors of queries in flight still reach their callers.
  pool.on('error', () => undefined);
  const kysely = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  const safe = new URL(url);
  safe.password = '';
  safe.username = '';
  return { kysely, dialect: 'postgres', description: `postgres:${safe.host}${safe.pathname}`, close: () => kysely.destroy() };
}

export function openDatabase(opts: { databaseUrl?: string | undefined; dataDir: string }): Db {
  if (opts.databaseUrl) return openPostgres(opts.databaseUrl);
  return openSqlite(path.join(opts.dataDir, 'mailroom.sqlite'));
}

export function describeDbError(err: unknown, db: Db): AppError {
  return new AppError('DATABASE_UNAVAILABLE', `The database (${db.description}) is unavailable: ${(err as Error).message}. Check that it is running and MAILROOM_DATABASE_URL is right.`, { cause: err });
}
