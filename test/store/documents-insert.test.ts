/**
 * documents.insertMany's import path: terms handed over joined by line feeds, the beforeCommit
 * hook (rows written, commit held until the blobs are durable), and on SQLite the prepared
 * statements run beside Kysely's own queries. Run on both dialects (`npm test -- test/store`).
 */
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { indexTermLines, indexTerms, queryTerms } from '../../src/archive/search/terms.ts';
import type { DocumentWrite, Store } from '../../src/store/index.ts';
import { dialects, openTestStore, type TestStore } from '../support/databases.ts';

const NOW = new Date('2024-05-01T12:00:00Z').toISOString();
const sha = (text: string): string => createHash('sha256').update(text).digest('hex');

function write(orgId: string, cabinetId: string, text: string, terms: 'array' | 'lines', extra: { messageId?: string; bytes?: string; attachments?: number; omitFields?: boolean } = {}): DocumentWrite {
  const id = randomUUID();
  const doc = {
    id,
    org_id: orgId,
    cabinet_id: cabinetId,
    message_id: extra.messageId ?? `${id}@example.test`,
    sha256: sha(extra.bytes ?? id),
    size: 10,
    subject: text.slice(0, 30),
    from_name: 'Alice',
    from_address: 'alice@example.test',
    to_json: '[]',
    cc_json: '[]',
    date: NOW,
    in_reply_to: null,
    references_json: '[]',
    attachment_count: extra.attachments ?? 0,
    attachment_names: '',
    source: 'test',
    archived_at: NOW,
    content_differs: 0,
    warnings_json: '[]',
    preview: text.slice(0, 50),
    ...(extra.omitFields ? {} : { fields_json: '{"k":"v"}' }),
  };
  const attachments = Array.from({ length: extra.attachments ?? 0 }, (_, idx) => ({
    document_id: id,
    idx,
    filename: `f${idx}.pdf`,
    content_type: 'application/pdf',
    size: idx,
    sha256: sha(`${id}/${idx}`),
    part_path: String(idx + 2),
  }));
  return { doc, attachments, terms: terms === 'array' ? indexTerms(text) : indexTermLines(text) };
}

async function ranked(store: Store, orgId: string, cabinetId: string, q: string): Promise<Array<[string, number]>> {
  const page = await store.documents.search({ orgId, cabinetId, terms: queryTerms(q), limit: 100, offset: 0 });
  return page.rows.map((r) => [r.subject, Number(r.rank)]);
}

for (const dialect of dialects()) {
  describe(`documents.insertMany import path (${dialect})`, () => {
    let t: TestStore;
    let store: Store;
    let org = '';
    before(async () => {
      t = await openTestStore(dialect);
      store = t.store;
      org = randomUUID();
      await store.orgs.insert({ id: org, name: `org-${org}`, created_at: NOW });
    });
    after(async () => t.cleanup());

    async function cabinet(): Promise<string> {
      const id = randomUUID();
      await store.cabinets.insert({ id, org_id: org, name: `cab-${id}`, created_at: NOW });
      return id;
    }

    test('terms joined by line feeds index and rank exactly like an array of terms', async () => {
      const texts = [
        'Rechnung für März: Grüße aus München, Rechnung Nummer 42',
        'Счёт за март. 請求書を添付いたします。 東京都 Rechnung',
        'ภาษาไทย mixed with English words, invoice invoice invoice',
        'Ζωή και 회의 자료 and ﬁnance ＡＢＣ',
      ];
      const a = await cabinet();
      const b = await cabinet();
      await store.documents.insertMany(texts.map((x) => write(org, a, x, 'array')));
      await store.documents.insertMany(texts.map((x) => write(org, b, x, 'lines')));
      for (const q of ['rechnung', 'grusse', 'счёт', '請求書', '東京', 'invoice', 'ภาษา', 'finance abc', '회의', 'ζωη']) {
        const left = await ranked(store, org, a, q);
        assert.ok(left.length > 0, `"${q}" finds something`);
        assert.deepEqual(await ranked(store, org, b, q), left, `"${q}"`);
      }
      assert.deepEqual(indexTermLines(texts.join(' ')).split('\n'), indexTerms(texts.join(' ')));
    });

    test('an empty terms string is a document without terms', async () => {
      const cab = await cabinet();
      const w = write(org, cab, '', 'lines');
      assert.equal(w.terms, '');
      assert.deepEqual(await store.documents.insertMany([w]), [{ inserted: true, id: w.doc.id, contentDiffers: false }]);
      assert.equal((await store.documents.search({ orgId: org, cabinetId: cab, terms: [], limit: 10, offset: 0 })).total, 1);
    });

    test('beforeCommit runs after the rows are written, and the commit waits for it', async () => {
      const cab = await cabinet();
      const w = write(org, cab, 'held back', 'lines', { attachments: 2 });
      let release: () => void = () => undefined;
      const gate = new Promise<void>((resolve) => (release = resolve));
      let called = false;
      const inserting = store.documents.insertMany([w], {
        beforeCommit: async () => {
          called = true;
          await gate;
        },
      });
      while (!called) await new Promise((r) => setTimeout(r, 5));
      // Another query meanwhile never sees the uncommitted batch: it reads the state before it
      // (PostgreSQL) or waits for the commit (SQLite: the one connection is held).
      let seen: number | null = null;
      const counting = store.documents.count(org, cab).then((n) => (seen = n));
      await new Promise((r) => setTimeout(r, 50));
      const before = seen;
      release();
      assert.deepEqual(await inserting, [{ inserted: true, id: w.doc.id, contentDiffers: false }]);
      await counting;
      if (dialect === 'sqlite') assert.equal(before, null, 'waits for the transaction');
      else assert.equal(before, 0, 'reads the committed state');
      assert.equal(await store.documents.count(org, cab), 1);
      assert.equal((await store.documents.attachments(w.doc.id)).length, 2);
    });

    test('a failing beforeCommit rolls the whole batch back', async () => {
      const cab = await cabinet();
      const writes = [write(org, cab, 'one', 'lines', { attachments: 1 }), write(org, cab, 'two', 'array')];
      await assert.rejects(store.documents.insertMany(writes, { beforeCommit: () => Promise.reject(new Error('blobs not durable')) }), /blobs not durable/);
      assert.equal(await store.documents.count(org, cab), 0);
      assert.deepEqual(await store.documents.attachments(writes[0]!.doc.id), []);
      assert.equal((await store.documents.search({ orgId: org, cabinetId: cab, terms: queryTerms('one'), limit: 10, offset: 0 })).total, 0);
      // The store is usable afterwards (no transaction left open).
      assert.deepEqual(await store.documents.insertMany([writes[1]!]), [{ inserted: true, id: writes[1]!.doc.id, contentDiffers: false }]);
    });

    test('duplicates and Message-ID twins inside one batch, with and without fields_json', async () => {
      const cab = await cabinet();
      const a = write(org, cab, 'first', 'lines', { bytes: 'same-bytes', messageId: 'twin@example.test', omitFields: true });
      const dup = write(org, cab, 'first again', 'lines', { bytes: 'same-bytes', messageId: 'twin@example.test' });
      const twin = write(org, cab, 'altered', 'array', { bytes: 'other-bytes', messageId: 'twin@example.test' });
      assert.deepEqual(await store.documents.insertMany([a, dup, twin]), [
        { inserted: true, id: a.doc.id, contentDiffers: false },
        { inserted: false, existingId: a.doc.id },
        { inserted: true, id: twin.doc.id, contentDiffers: true },
      ]);
      const stored = await store.documents.byId(org, a.doc.id);
      assert.equal(stored?.content_differs, 1);
      assert.equal(stored?.fields_json, '{}', 'an omitted column gets its default');
      assert.equal((await store.documents.byId(org, twin.doc.id))?.fields_json, '{"k":"v"}');
    });

    test('batches inserted concurrently with other queries keep their outcomes', async () => {
      const cab = await cabinet();
      const batches = Array.from({ length: 5 }, (_, i) => Array.from({ length: 20 }, (_, j) => write(org, cab, `batch ${i} doc ${j}`, 'lines', { bytes: `b${(i * 20 + j) % 70}` })));
      const results = await Promise.all([...batches.map((b) => store.documents.insertMany(b)), store.documents.count(org, cab), ranked(store, org, cab, 'batch')]);
      const outcomes = results.slice(0, 5).flat() as Array<{ inserted: boolean }>;
      assert.equal(outcomes.filter((o) => o.inserted).length, 70);
      assert.equal(await store.documents.count(org, cab), 70);
    });
  });
}
