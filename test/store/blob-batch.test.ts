/**
 * FsBlobStore batches as the import uses them: many blobs per batch (more than the descriptors a
 * batch keeps open), streams written in pieces or kept whole, duplicates, content already stored,
 * fresh directories, and abort while writes are in flight.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, beforeEach, describe, test } from 'node:test';
import { FsBlobStore } from '../../src/store/index.ts';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Open descriptors of this process (Linux), to see that a batch closes what it opened. */
async function openFds(): Promise<number | null> {
  try {
    return (await readdir('/proc/self/fd')).length;
  } catch {
    return null;
  }
}

describe('FsBlobStore batches', () => {
  const dirs: string[] = [];
  let store: FsBlobStore;
  let root = '';

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'mr-blob-batch-'));
    dirs.push(root);
    store = new FsBlobStore(root);
  });
  after(async () => {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  test('a batch of hundreds of blobs (more than it keeps open) commits them all and closes every file', async () => {
    const fdsBefore = await openFds();
    const contents = Array.from({ length: 300 }, (_, i) => Buffer.from(`blob ${i} ${randomBytes(8).toString('hex')}`));
    const batch = store.batch();
    const refs = await Promise.all(contents.map((c, i) => (i % 3 === 0 ? batch.put(Readable.from([c.subarray(0, 5), c.subarray(5)])) : batch.put(c))));
    assert.deepEqual(refs, contents.map((c) => ({ sha256: sha(c), size: c.length })));
    await batch.commit();
    for (const c of contents) assert.deepEqual(await readFile(store.pathOf(sha(c))), c);
    assert.deepEqual(await readdir(join(root, 'tmp')), []);
    if (fdsBefore !== null) assert.equal(await openFds(), fdsBefore);
  });

  test('a stream larger than what is kept in memory is written in pieces; a duplicate of it leaves no temp file', async () => {
    const parts = Array.from({ length: 12 }, () => randomBytes(200_000)); // 2.4 MB
    const all = Buffer.concat(parts);
    const batch = store.batch();
    const a = await batch.put(Readable.from(parts));
    const b = await batch.put(Readable.from([all]));
    const c = await batch.put(all);
    assert.deepEqual(a, { sha256: sha(all), size: all.length });
    assert.deepEqual(b, a);
    assert.deepEqual(c, a);
    assert.deepEqual(await readAll(batch.read(a.sha256)), all, 'readable through the batch before commit');
    await batch.commit();
    assert.deepEqual(await readFile(store.pathOf(a.sha256)), all);
    assert.deepEqual(await readdir(join(root, 'tmp')), []);
  });

  test('a stream failing after the in-memory limit leaves no temp file', async () => {
    async function* failing(): AsyncGenerator<Buffer> {
      for (let i = 0; i < 8; i++) yield randomBytes(200_000);
      throw new Error('source broke late');
    }
    const batch = store.batch();
    await assert.rejects(batch.put(Readable.from(failing())), /source broke late/);
    await batch.abort();
    assert.deepEqual(await readdir(join(root, 'tmp')), []);
  });

  test('content already stored is written again and replaces the stored copy atomically', async () => {
    const content = randomBytes(5000);
    const ref = await store.put(content);
    const first = await stat(store.pathOf(ref.sha256));
    const batch = store.batch();
    assert.deepEqual(await batch.put(Buffer.from(content)), ref);
    await batch.commit();
    assert.deepEqual(await readFile(store.pathOf(ref.sha256)), content);
    assert.equal((await stat(store.pathOf(ref.sha256))).size, first.size);
    assert.deepEqual(await readdir(join(root, 'tmp')), []);
  });

  test('commit creates the two directory levels as needed', async () => {
    const contents = Array.from({ length: 40 }, () => randomBytes(64));
    const batch = store.batch();
    for (const c of contents) await batch.put(c);
    await batch.commit();
    const levels = (await readdir(root)).filter((d) => d !== 'tmp');
    assert.ok(levels.length > 1);
    for (const c of contents) assert.deepEqual(await readFile(store.pathOf(sha(c))), c);
  });

  test('abort while writes are in flight removes every temp file and closes them', async () => {
    const fdsBefore = await openFds();
    const batch = store.batch();
    const puts = Array.from({ length: 50 }, () => batch.put(randomBytes(10_000)));
    await batch.abort().then(() => Promise.allSettled(puts));
    await Promise.allSettled(puts);
    await batch.abort();
    assert.deepEqual(await readdir(join(root, 'tmp')), []);
    assert.deepEqual((await readdir(root)).filter((d) => d !== 'tmp'), []);
    if (fdsBefore !== null) assert.equal(await openFds(), fdsBefore);
  });
});
