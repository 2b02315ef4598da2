/**
 * Spooled messages (src/archive/spool.ts): a message consumed into a temp file of the blob store
 * and ingested later. Archived from the spool, in the worker thread or in-process, it gives the
 * same document and parse as the same bytes handed over as a Buffer; a batch that fails is
 * retried one message at a time from the spooled files; whatever happens, no temp file stays.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, afterEach, before, describe, test } from 'node:test';
import type { IngestItem } from '../../src/archive/ingest.ts';
import { ParsePool, parsePool } from '../../src/archive/parse-pool.ts';
import type { PreparedMessage } from '../../src/archive/prepare.ts';
import { queryTerms } from '../../src/archive/search/terms.ts';
import { createArchive, type Archive, type IngestOutcome } from '../../src/archive/service.ts';
import { SpooledRaw } from '../../src/archive/spool.ts';
import { FsBlobStore, openStore, type BlobBatch, type BlobStore, type Store } from '../../src/store/index.ts';

const FIXTURES = new URL('../fixtures/mime/', import.meta.url);
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const MB = 1024 * 1024;

/** A stream of `raw` in 64 KiB chunks, as a download delivers it. */
function streamOf(raw: Buffer): Readable {
  const chunks: Buffer[] = [];
  for (let at = 0; at < raw.length; at += 64 * 1024) chunks.push(raw.subarray(at, at + 64 * 1024));
  return Readable.from(chunks);
}

/** A message above the sync engine's 1 MiB buffer limit: text, a text attachment and a binary one. */
function large(n: number): Buffer {
  const b = `b-${n}`;
  const binary = randomBytes(3 * MB).toString('base64').replace(/.{76}/g, '$&\r\n');
  const text = Buffer.from(`Lieferschein ${n}: Grüße aus Köln, Rechnungsnummer R-${n}.\n`.repeat(2000)).toString('base64').replace(/.{76}/g, '$&\r\n');
  return Buffer.from(
    [
      `From: Large Sender <large@example.test>`,
      `To: archive@example.test`,
      `Subject: large ${n} ${randomUUID()}`,
      `Message-ID: <large-${n}-${randomUUID()}@example.test>`,
      'MIME-Version: 1.0',
      `Content-Type: multipart/mixed; boundary="${b}"`,
      '',
      `--${b}`,
      'Content-Type: text/plain; charset=utf-8',
      '',
      `Body of large message ${n}, Rechnung attached.`,
      `--${b}`,
      'Content-Type: text/plain; charset=utf-8; name="lieferschein.txt"',
      'Content-Disposition: attachment; filename="lieferschein.txt"',
      'Content-Transfer-Encoding: base64',
      '',
      text,
      `--${b}`,
      'Content-Type: application/octet-stream; name="scan.bin"',
      'Content-Disposition: attachment; filename="scan.bin"',
      'Content-Transfer-Encoding: base64',
      '',
      binary,
      `--${b}--`,
      '',
    ].join('\r\n'),
  );
}

async function messages(): Promise<Buffer[]> {
  const names = (await readdir(FIXTURES)).filter((n) => n.endsWith('.eml')).sort();
  const fixtures = await Promise.all(names.map((name) => readFile(new URL(name, FIXTURES))));
  return [...fixtures, large(1), large(2)];
}

type Seen = { sha256: string; size: number; parsed: unknown; duplicate: boolean } | string;
const seen = (outcomes: IngestOutcome[]): Seen[] => outcomes.map((o) => (o.ok ? { sha256: o.sha256, size: o.size, parsed: o.parsed, duplicate: o.duplicate } : o.error.message));

describe('spooled messages', () => {
  let dataDir = '';
  let store: Store;
  let blobs: FsBlobStore;
  let archive: Archive;
  let orgId = '';
  const pool = parsePool();
  const { prepare, prepareFile } = ParsePool.prototype;
  /** What the worker answered for each spooled file it was given: true when it parsed it. */
  let workerParsed: boolean[] = [];
  /**
   * The same for bytes it was given: the blob store holds a spooled message of at most 1 MiB in
   * memory until commit (it is packed, src/store/blobs), so the worker gets its bytes.
   */
  let workerParsedFromMemory: boolean[] = [];
  const recording = async function (this: ParsePool, file: string): Promise<PreparedMessage | null> {
    const r = await prepareFile.call(this, file);
    workerParsed.push(r !== null);
    return r;
  };
  const recordingBuffers = async function (this: ParsePool, raw: Buffer): Promise<PreparedMessage | null> {
    const r = await prepare.call(this, raw);
    workerParsedFromMemory.push(r !== null);
    return r;
  };
  /** Documents per database transaction (documents.insertMany call). */
  let transactions: number[] = [];

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'mr-spool-'));
    store = await openStore({ dataDir });
    blobs = new FsBlobStore(join(dataDir, 'blobs'));
    archive = createArchive(store, blobs);
    orgId = randomUUID();
    await store.orgs.insert({ id: orgId, name: `org-${orgId}`, created_at: new Date().toISOString() });
    const insertMany = store.documents.insertMany;
    store.documents.insertMany = async (writes, options) => {
      transactions.push(writes.length);
      return insertMany.call(store.documents, writes, options);
    };
    ParsePool.prototype.prepareFile = recording;
    ParsePool.prototype.prepare = recordingBuffers;
  });
  afterEach(() => {
    workerParsed = [];
    workerParsedFromMemory = [];
    transactions = [];
  });
  after(async () => {
    ParsePool.prototype.prepareFile = prepareFile;
    ParsePool.prototype.prepare = prepare;
    await store.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  const cabinet = async (): Promise<string> => (await archive.createCabinet(orgId, `cab-${randomUUID()}`)).id;
  const tmpFiles = (): Promise<string[]> => readdir(join(dataDir, 'blobs', 'tmp'));
  const buffered = (raws: Buffer[]): IngestItem[] => raws.map((raw, i) => ({ raw, source: `test#${i}` }));
  const spooled = async (raws: Buffer[], a: Archive = archive): Promise<IngestItem[]> =>
    Promise.all(raws.map(async (raw, i) => ({ raw: await a.spool(streamOf(raw)), source: `test#${i}` })));

  /** The cabinet's documents as stored, with their attachments, in SHA-256 order. */
  async function stored(cab: string): Promise<unknown[]> {
    const rows = (await store.documents.search({ orgId, cabinetId: cab, terms: [], limit: 1000, offset: 0 })).rows;
    const out = await Promise.all(rows.map(async (d) => ({
      sha256: d.sha256, size: Number(d.size), subject: d.subject, preview: d.preview, to: d.to_json, warnings: d.warnings_json, source: d.source,
      attachments: (await store.documents.attachments(d.id)).map((a) => [a.idx, a.filename, a.sha256, Number(a.size), a.part_path]),
    })));
    return out.sort((a, b) => a.sha256.localeCompare(b.sha256));
  }

  async function hits(cab: string, q: string): Promise<number> {
    return (await store.documents.search({ orgId, cabinetId: cab, terms: queryTerms(q), limit: 1000, offset: 0 })).total;
  }

  async function assertSameAsBuffers(spooledCab: string, spooledOutcomes: IngestOutcome[], raws: Buffer[]): Promise<void> {
    const plain = await cabinet();
    const expected = await archive.ingest(orgId, plain, buffered(raws));
    assert.deepEqual(seen(spooledOutcomes), seen(expected), 'same outcomes and parse as the same bytes as Buffers');
    assert.deepEqual(await stored(spooledCab), await stored(plain), 'same documents and attachments');
    for (const q of ['rechnung', 'lieferschein', 'köln', '東京', 'привет']) assert.equal(await hits(spooledCab, q), await hits(plain, q), `search "${q}"`);
    assert.ok((await hits(spooledCab, 'lieferschein')) >= 2, 'the text attachments of the large messages are indexed');
    for (const raw of raws) assert.equal(await blobs.has(sha(raw)), true, 'every original committed');
    assert.deepEqual(await tmpFiles(), []);
  }

  test('spooling writes the temp file at once: hash and size of the bytes, readable again', async () => {
    const raw = large(3);
    const s = await archive.spool(streamOf(raw));
    try {
      assert.equal(s.sha256, sha(raw));
      assert.equal(s.size, raw.length);
      assert.ok(s.file !== null, 'a local temp file');
      assert.deepEqual(await tmpFiles(), [s.file.split('/').at(-1)]);
      assert.ok(Buffer.concat(await s.read().toArray()).equals(raw));
      assert.ok(Buffer.concat(await s.read().toArray()).equals(raw), 'and again');
    } finally {
      await s.discard();
    }
    assert.deepEqual(await tmpFiles(), [], 'discard removes it');
    assert.equal(await blobs.has(sha(raw)), false);
  });

  test('a prefetched batch of spooled messages is parsed in the worker (from the temp files, small ones from memory) and archived as the same bytes as Buffers are', async () => {
    assert.ok(pool !== null, 'this machine has a worker thread for parsing (two cores or more)');
    const raws = await messages();
    const items = await spooled(raws);
    const cab = await cabinet();
    archive.prefetch(items);
    const outcomes = await archive.ingest(orgId, cab, items);
    const inFile = raws.filter((r) => r.length > MB);
    assert.equal(inFile.length, 2);
    assert.deepEqual(workerParsed, inFile.map(() => true), 'every spooled message in a temp file parsed there in the worker');
    assert.deepEqual(workerParsedFromMemory, raws.filter((r) => r.length <= MB).map(() => true), 'every small one parsed in the worker from its bytes');
    assert.deepEqual(transactions, [raws.length], 'archived in one transaction (no one-by-one fallback)');
    await assertSameAsBuffers(cab, outcomes, raws);
  });

  test('without the worker, spooled messages are parsed in-process from the temp files, with the same result', async () => {
    const raws = await messages();
    const items = await spooled(raws);
    const cab = await cabinet();
    // The worker declines (as one that cannot start does): ingest parses in-process.
    ParsePool.prototype.prepareFile = async () => null;
    let outcomes: IngestOutcome[];
    try {
      outcomes = await archive.ingest(orgId, cab, items);
    } finally {
      ParsePool.prototype.prepareFile = recording;
    }
    assert.deepEqual(transactions, [raws.length], 'archived in one transaction (no one-by-one fallback)');
    await assertSameAsBuffers(cab, outcomes, raws);
  });

  test('a batch that fails before its blobs are committed is retried one by one from the spooled files', async () => {
    // Writes of in-memory messages containing FAIL-PUT fail; spooling is not affected.
    const failing: BlobStore = {
      batch(): BlobBatch {
        const inner = blobs.batch();
        return {
          put: async (content) => {
            if (Buffer.isBuffer(content) && content.includes('FAIL-PUT')) throw new Error('disk full');
            return inner.put(content);
          },
          read: (s) => inner.read(s),
          fileOf: (s) => inner.fileOf(s),
          commit: () => inner.commit(),
          abort: () => inner.abort(),
        };
      },
      put: (c) => blobs.put(c),
      get: (s) => blobs.get(s),
      has: (s) => blobs.has(s),
      verify: (s) => blobs.verify(s),
    };
    const a = createArchive(store, failing);
    const big = [large(4), large(5)];
    const bad = Buffer.from(`From: a@example.test\r\nSubject: FAIL-PUT ${randomUUID()}\r\n\r\nbody\r\n`);
    const good = Buffer.from(`From: a@example.test\r\nSubject: good ${randomUUID()}\r\n\r\nbody\r\n`);
    const [s1, s2] = await spooled(big, a);
    const items: IngestItem[] = [s1!, { raw: bad, source: 'bad' }, s2!, { raw: good, source: 'good' }];
    const cab = (await a.createCabinet(orgId, `cab-${randomUUID()}`)).id;
    a.prefetch(items);
    const outcomes = await a.ingest(orgId, cab, items);
    assert.deepEqual(outcomes.map((o) => (o.ok ? o.sha256 : 'failed')), [sha(big[0]!), 'failed', sha(big[1]!), sha(good)]);
    assert.deepEqual(workerParsed, [true, true], 'the staged batch parsed the spooled ones in the worker first');
    assert.equal(await store.documents.count(orgId, cab), 3);
    for (const raw of [...big, good]) assert.equal(await blobs.has(sha(raw)), true);
    assert.deepEqual(await tmpFiles(), []);
  });

  test('a batch that fails at its database commit, after its blobs were committed, is retried one by one: spooled ones from their blobs', async () => {
    const big = [large(6), large(7)];
    const bad = Buffer.from(`From: a@example.test\r\nSubject: FAIL-ROW ${randomUUID()}\r\n\r\nbody\r\n`);
    const items: IngestItem[] = [...(await spooled(big)), { raw: bad, source: 'bad' }];
    const cab = await cabinet();
    const insertMany = store.documents.insertMany;
    let batchFailed = false;
    store.documents.insertMany = async (writes, options = {}) => {
      if (!writes.some((w) => w.doc.subject.startsWith('FAIL-ROW'))) return insertMany.call(store.documents, writes, options);
      // The blobs are committed, then the transaction fails.
      await options.beforeCommit?.();
      if (writes.length > 1) batchFailed = true;
      throw new Error('database is locked');
    };
    let outcomes: IngestOutcome[];
    try {
      archive.prefetch(items);
      outcomes = await archive.ingest(orgId, cab, items);
    } finally {
      store.documents.insertMany = insertMany;
    }
    assert.ok(batchFailed, `the batch failed with its blobs committed: ${JSON.stringify(outcomes.map((o) => (o.ok ? o.sha256 : o.error.code)))}`);
    assert.deepEqual(outcomes.map((o) => (o.ok ? o.sha256 : 'failed')), [sha(big[0]!), sha(big[1]!), 'failed']);
    assert.equal(await store.documents.count(orgId, cab), 2);
    for (const raw of big) assert.equal(await blobs.has(sha(raw)), true);
    assert.deepEqual(await tmpFiles(), []);
  });

  test('spooled messages of a prefetched batch that is given up, or filed into a cabinet of another organisation, leave nothing', async () => {
    const raws = [large(8), large(9)];
    const cancel = archive.prefetch(await spooled(raws));
    await cancel();
    assert.deepEqual(await tmpFiles(), []);

    const lone = await spooled([large(10)]);
    const outcomes = await archive.ingest(randomUUID(), await cabinet(), lone);
    assert.ok(outcomes.every((o) => !o.ok && o.error.code === 'CABINET_NOT_FOUND'));
    assert.deepEqual(await tmpFiles(), []);
    for (const raw of raws) assert.equal(await blobs.has(sha(raw)), false);
  });

  test('a spooled message is committed once: discarding it afterwards keeps the blob, committing a discarded one is refused', async () => {
    const raw = large(11);
    const s = await archive.spool(streamOf(raw));
    await s.commit();
    await s.commit();
    assert.equal(s.file, null, 'no temp file any more');
    await s.discard();
    assert.equal(await blobs.has(sha(raw)), true);
    assert.ok(Buffer.concat(await s.read().toArray()).equals(raw), 'read from the blob store');

    const gone = await archive.spool(streamOf(large(12)));
    await gone.discard();
    await assert.rejects(gone.commit(), /discarded/);
    assert.ok(gone instanceof SpooledRaw);
    assert.deepEqual(await tmpFiles(), []);
  });

  test('a stream that fails while being spooled leaves no temp file and is destroyed', async () => {
    const raw = large(13);
    const source = new Readable({ read() {} });
    source.push(raw.subarray(0, 2 * MB));
    setImmediate(() => source.destroy(new Error('connection reset')));
    await assert.rejects(archive.spool(source), /connection reset/);
    assert.ok(source.destroyed);
    assert.deepEqual(await tmpFiles(), []);
  });
});
