/**
 * Migration 005 (SQLite): documents archived with the full-text table of 001 are found after it
 * exactly as before, new ones beside them, also after a VACUUM (the tie is documents.fts_seq,
 * not the implicit rowid a VACUUM may renumber).
 */
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { sql, type Kysely } from 'kysely';
import { indexTerms, queryTerms } from '../../src/archive/search/terms.ts';
import { migrate, openSqlite, openStore, type Database, type NewDocument } from '../../src/store/index.ts';

const NOW = '2024-05-01T12:00:00.000Z';
const sha = (text: string): string => createHash('sha256').update(text).digest('hex');

function row(orgId: string, cabinetId: string, subject: string): NewDocument {
  return {
    id: randomUUID(), org_id: orgId, cabinet_id: cabinetId, message_id: `${randomUUID()}@example.test`, sha256: sha(subject), size: 10,
    subject, from_name: 'Alice', from_address: 'alice@example.test', to_json: '[]', cc_json: '[]', date: NOW, in_reply_to: null,
    references_json: '[]', attachment_count: 0, attachment_names: '', source: 'test', archived_at: NOW, content_differs: 0,
    warnings_json: '[]', preview: subject,
  };
}

const dirs: string[] = [];
after(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

test('005: documents indexed before the contentless full-text table are found after it', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'mr-fts-migration-'));
  dirs.push(dataDir);
  const orgId = randomUUID();
  const cabinetId = randomUUID();
  const otherOrg = randomUUID();
  const otherCabinet = randomUUID();
  const old = ['Rechnung Zebrafink 4711', 'Angebot Kolibri 0815', '請求書 東京 出張'];

  // A data directory as version 004 left it, with its full-text rows in the old shape.
  const before = openSqlite(join(dataDir, 'mailroom.sqlite'));
  const k = before.kysely as unknown as Kysely<Database>;
  assert.deepEqual((await migrate({ kysely: k as unknown as Kysely<unknown>, dialect: 'sqlite' }, { to: '004-notifications' })).at(-1), '004-notifications');
  for (const [org, cab] of [[orgId, cabinetId], [otherOrg, otherCabinet]] as const) {
    await k.insertInto('orgs').values({ id: org, name: `org-${org}`, created_at: NOW }).execute();
    await k.insertInto('cabinets').values({ id: cab, org_id: org, name: 'Inbox', created_at: NOW }).execute();
  }
  const ids: string[] = [];
  for (const subject of old) {
    const doc = row(orgId, cabinetId, subject);
    ids.push(doc.id);
    await k.insertInto('documents').values(doc).execute();
    await sql`INSERT INTO document_fts (doc_id, org_id, terms) VALUES (${doc.id}, ${orgId}, ${indexTerms(subject).join(' ')})`.execute(k);
  }
  const foreign = row(otherOrg, otherCabinet, 'Rechnung Zebrafink fremd');
  await k.insertInto('documents').values(foreign).execute();
  await sql`INSERT INTO document_fts (doc_id, org_id, terms) VALUES (${foreign.id}, ${otherOrg}, ${indexTerms(foreign.subject).join(' ')})`.execute(k);
  await before.close();

  const store = await openStore({ dataDir });
  try {
    const find = async (q: string, org = orgId): Promise<string[]> =>
      (await store.documents.search({ orgId: org, terms: queryTerms(q), limit: 10, offset: 0 })).rows.map((r) => r.id).sort();
    assert.deepEqual(await find('zebrafink'), [ids[0]]);
    assert.deepEqual(await find('kolibri 0815'), [ids[1]]);
    assert.deepEqual(await find('東京'), [ids[2]]);
    assert.deepEqual(await find('zebrafink', otherOrg), [foreign.id], 'each organisation sees its own');

    const fresh = row(orgId, cabinetId, 'Zebrafink Nachtrag');
    const [outcome] = await store.documents.insertMany([{ doc: fresh, attachments: [], terms: indexTerms(fresh.subject) }]);
    assert.ok(outcome?.inserted);
    assert.deepEqual(await find('zebrafink'), [ids[0]!, fresh.id].sort());

    await sql`VACUUM`.execute(store.db.kysely);
    assert.deepEqual(await find('zebrafink'), [ids[0]!, fresh.id].sort());
    assert.deepEqual(await find('nachtrag'), [fresh.id]);
  } finally {
    await store.close();
  }
});
