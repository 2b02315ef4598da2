/**
 * Test stores on both database dialects. scripts/test.ts starts a private PostgreSQL and sets
 * MAILROOM_TEST_PG_URL; without it only SQLite runs (but never silently on CI).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openStore, type Store } from '../../src/store/index.ts';

export type TestDialect = 'sqlite' | 'postgres';

export interface TestStore {
  store: Store;
  dataDir: string;
  cleanup(): Promise<void>;
}

export function dialects(): TestDialect[] {
  if (process.env.MAILROOM_TEST_PG_URL) return ['sqlite', 'postgres'];
  if (process.env.CI) {
    throw new Error('MAILROOM_TEST_PG_URL is not set on CI: run the tests through `npm test` so PostgreSQL is tested too.');
  }
  return ['sqlite'];
}

async function adminQuery(text: string): Promise<void> {
  const url = process.env.MAILROOM_TEST_PG_URL;
  if (!url) throw new Error('MAILROOM_TEST_PG_URL is not set');
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

export async function openTestStore(dialect: TestDialect): Promise<TestStore> {
  const dataDir = await mkdtemp(join(tmpdir(), 'mr-test-'));
  let dbName: string | undefined;
  let store: Store;
  try {
    if (dialect === 'postgres') {
      const admin = process.env.MAILROOM_TEST_PG_URL;
      if (!admin) throw new Error('MAILROOM_TEST_PG_URL is not set');
      dbName = `mr_${randomBytes(6).toString('hex')}`;
      await adminQuery(`CREATE DATABASE ${dbName}`);
      const url = new URL(admin);
      url.pathname = `/${dbName}`;
      store = await openStore({ databaseUrl: url.toString(), dataDir });
    } else {
      store = await openStore({ dataDir });
    }
  } catch (err) {
    if (dbName) await adminQuery(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => undefined);
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
  let done: Promise<void> | undefined;
  return {
    store,
    dataDir,
    cleanup: () =>
      (done ??= (async () => {
        try {
          await store.close();
        } finally {
          if (dbName) await adminQuery(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
          await rm(dataDir, { recursive: true, force: true });
        }
      })()),
  };
}
