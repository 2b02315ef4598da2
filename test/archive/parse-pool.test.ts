/**
 * Parsing in the worker thread (parse-pool.ts) gives exactly what parsing in-process gives, and
 * the staged ingest path (archive.prefetch, ingest with a staged batch) archives exactly what the
 * plain path archives, leaves no temp file when given up, and commits no document before its
 * blobs are durable.
 */
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import SQLite from 'better-sqlite3';
import { importMessages } from '../../src/archive/import/index.ts';
import type { SourceEntry } from '../../src/archive/import/index.ts';
import { hashContent, parseMessage, type AttachmentSink } from '../../src/archive/parse/index.ts';
import { ParsePool } from '../../src/archive/parse-pool.ts';
import { prepared } from '../../src/archive/prepare.ts';
import { createArchive, type Archive } from '../../src/archive/service.ts';
import type { IngestItem } from '../../src/archive/ingest.ts';
import { FsBlobStore, openStore, type BlobBatch, type BlobStore, type Store } from '../../src/store/index.ts';

const FIXTURES = new URL('../fixtures/mime/', import.meta.url);
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function fixtures(): Promise<Array<{ name: string; raw: Buffer }>> {
  const names = (await readdir(FIXTURES)).filter((n) => n.endsWith('.eml')).sort();
  return Promise.all(names.map(async (name) => ({ name, raw: await readFile(new URL(name, FIXTURES)) })));
}

/** The default sink, passed explicitly: what the worker's parse does with attachments. */
const hashingSink: AttachmentSink = hashContent;

/** A message whose attached messages nest `levels` deep around `payload` bytes of text. */
function nested(levels: number, payload: number): Buffer {
  let inner = `From: a@example.test\r\nSubject: innermost\r\nContent-Type: text/plain\r\n\r\n${'x'.repeat(payload)}\r\n`;
  for (let i = 0; i < levels; i++) {
    const b = `b${i}`;
    inner = `From: a@example.test\r\nSubject: level ${i}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="${b}"\r\n\r\n--${b}\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--${b}\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: 8bit\r\n\r\n${inner}\r\n--${b}--\r\n`;
  }
  return Buffer.from(inner);
}

describe('parse worker', () => {
  const pool = new ParsePool();

  test('gives the same parse, terms and attachment digests as parsing in-process', async () => {
    const all = await fixtures();
    assert.ok(all.length >= 20);
    const results = await Promise.all(all.map((f) => pool.prepare(f.raw)));
    for (const [i, f] of all.entries()) {
      const remote = results[i];
      assert.ok(remote, `${f.name} parsed in the worker`);
      const local = prepared(await parseMessage(f.raw, hashingSink));
      assert.deepEqual(remote.parsed, local.parsed, f.name);
      assert.equal(remote.terms, local.terms, f.name);
    }
  });

  test('digests a message whose nested attachments add up to far more than the message itself', async () => {
    const raw = nested(7, 2_600_000); // under 4 MiB raw, about 18 MB of nested attachments
    assert.ok(raw.length < 4 * 1024 * 1024);
    const remote = await pool.prepare(raw);
    assert.ok(remote, 'parsed in the worker');
    const local = prepared(await parseMessage(raw, hashingSink));
    assert.deepEqual(remote.parsed, local.parsed);
    assert.equal(remote.parsed.attachments.length, 7);
    const small = await pool.prepare(nested(2, 100));
    assert.ok(small && small.parsed.subject === 'level 1', 'the worker goes on');
  });
});

describe('staged ingest (prefetch, worker, blob commit before the database commit)', () => {
  let dataDir = '';
  let store: Store;
  let blobs: FsBlobStore;
  let archive: Archive;
  let orgId = '';
  const now = new Date().toISOString();

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'mr-staged-'));
    store = await openStore({ dataDir });
    blobs = new FsBlobStore(join(dataDir, 'blobs'));
    archive = createArchive(store, blobs);
    orgId = randomUUID();
    await store.orgs.insert({ id: orgId, name: `org-${orgId}`, created_at: now });
  });
  after(async () => {
    await store.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  async function cabinet(): Promise<string> {
    return (await archive.createCabinet(orgId, `cab-${randomUUID()}`)).id;
  }
  const tmpFiles = async (): Promise<string[]> => readdir(join(dataDir, 'blobs', 'tmp'));
  const items = (raws: Buffer[]): IngestItem[] => raws.map((raw, i) => ({ raw, source: `test#${i}` }));

  test('a prefetched batch archives exactly what an in-process one does', async () => {
    const raws = (await fixtures()).map((f) => f.raw);
    const plain = await cabinet();
    const staged = await cabinet();
    // One at a time: parsed in-process.
    const one: Array<{ sha256: string; parsed: unknown; duplicate: boolean }> = [];
    for (const raw of raws) {
      const [o] = await archive.ingest(orgId, plain, items([raw]));
      assert.ok(o?.ok);
      one.push({ sha256: o.sha256, parsed: o.parsed, duplicate: o.duplicate });
    }
    const batch = items(raws);
    archive.prefetch(batch);
    const outcomes = await archive.ingest(orgId, staged, batch);
    assert.deepEqual(outcomes.map((o) => (o.ok ? { sha256: o.sha256, parsed: o.parsed, duplicate: o.duplicate } : o.error.message)), one);
    const docs = async (cab: string) => (await Promise.all((await store.documents.search({ orgId, cabinetId: cab, terms: [], limit: 1000, offset: 0 })).rows.map(async (d) => ({
      sha256: d.sha256, subject: d.subject, preview: d.preview, to: d.to_json, warnings: d.warnings_json, attachments: (await store.documents.attachments(d.id)).map((a) => [a.idx, a.filename, a.sha256, a.size, a.part_path]),
    })))).sort((a, b) => a.sha256.localeCompare(b.sha256));
    assert.deepEqual(await docs(staged), await docs(plain));
    for (const q of ['rechnung', '東京', 'привет', 'grüße']) {
      const terms = (await import('../../src/archive/search/terms.ts')).queryTerms(q);
      const count = async (cab: string) => (await store.documents.search({ orgId, cabinetId: cab, terms, limit: 1000, offset: 0 })).total;
      assert.equal(await count(staged), await count(plain), q);
    }
    assert.deepEqual(await tmpFiles(), []);
  });

  test('a prefetched batch given up leaves no temp file and no blob', async () => {
    const raws = Array.from({ length: 6 }, (_, i) => Buffer.from(`From: a@example.test\r\nSubject: never ${i} ${randomUUID()}\r\n\r\nbody\r\n`));
    const cancel = archive.prefetch(items(raws));
    await cancel();
    assert.deepEqual(await tmpFiles(), []);
    for (const raw of raws) assert.equal(await blobs.has(sha(raw)), false);
  });

  test('a prefetched batch for a cabinet of another organisation is refused and cleaned up', async () => {
    const raws = Array.from({ length: 3 }, (_, i) => Buffer.from(`Subject: other ${i} ${randomUUID()}\r\n\r\nbody\r\n`));
    const batch = items(raws);
    archive.prefetch(batch);
    const outcomes = await archive.ingest(randomUUID(), await cabinet(), batch);
    assert.ok(outcomes.every((o) => !o.ok && o.error.code === 'CABINET_NOT_FOUND'));
    assert.deepEqual(await tmpFiles(), []);
  });

  test('an import stopped early gives up the batches it read ahead', async () => {
    const cab = await cabinet();
    async function* source(): AsyncGenerator<SourceEntry> {
      for (let i = 0; i < 40; i++) {
        const raw = Buffer.from(`From: a@example.test\r\nSubject: early stop ${i} ${randomUUID()}\r\n\r\nbody ${i}\r\n`);
        yield { file: `m${i}`, raw, size: raw.length, sourceBytes: i };
      }
    }
    let seen = 0;
    for await (const r of importMessages(archive, source(), { orgId, cabinetId: cab, batchMessages: 5 })) {
      assert.ok(r.ok);
      if (++seen === 3) break;
    }
    assert.deepEqual(await tmpFiles(), []);
    const stored = await store.documents.count(orgId, cab);
    assert.ok(stored >= 5 && stored < 40, `only batches started were archived (${stored})`);
  });

  test('no document is committed before its blobs are durable', async () => {
    const cab = await cabinet();
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let committing = false;
    const slow: BlobStore = {
      batch(): BlobBatch {
        const inner = blobs.batch();
        return {
          put: (content: Readable | Buffer) => inner.put(content),
          read: (s: string) => inner.read(s),
          fileOf: (s: string) => inner.fileOf(s),
          async commit() {
            committing = true;
            await gate;
            await inner.commit();
          },
          abort: () => inner.abort(),
        };
      },
      put: (c) => blobs.put(c),
      get: (s) => blobs.get(s),
      has: (s) => blobs.has(s),
      verify: (s) => blobs.verify(s),
    };
    const gated = createArchive(store, slow);
    const raws = Array.from({ length: 4 }, (_, i) => Buffer.from(`From: a@example.test\r\nSubject: gated ${i} ${randomUUID()}\r\n\r\nbody\r\n`));
    const ingesting = gated.ingest(orgId, cab, items(raws));
    while (!committing) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 30));
    // Another connection (this process's one is held by the transaction waiting for the blobs).
    const reader = new SQLite(join(dataDir, 'mailroom.sqlite'), { readonly: true });
    try {
      const row = reader.prepare('SELECT count(*) AS n FROM documents WHERE cabinet_id = ?').get(cab) as { n: number };
      assert.equal(row.n, 0, 'nothing committed while the blobs are being committed');
    } finally {
      reader.close();
    }
    release();
    const outcomes = await ingesting;
    assert.ok(outcomes.every((o) => o.ok && !o.duplicate));
    assert.equal(await store.documents.count(orgId, cab), 4);
    for (const raw of raws) assert.equal(await blobs.has(sha(raw)), true);
  });
});
