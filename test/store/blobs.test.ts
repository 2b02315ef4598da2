import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, beforeEach, describe, test } from 'node:test';
import { AppError } from '../../src/errors/index.ts';
import { FsBlobStore } from '../../src/store/index.ts';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Every file below root, relative, excluding nothing. */
async function filesUnder(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(root, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(join(e.parentPath, e.name).slice(root.length + 1));
  }
  return out.sort();
}

describe('FsBlobStore', () => {
  const dirs: string[] = [];
  let store: FsBlobStore;
  let root = '';

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'mr-blobs-'));
    dirs.push(root);
    store = new FsBlobStore(root);
  });
  after(async () => {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  test('put of a Buffer returns its sha256 and size and stores it at its address', async () => {
    const content = Buffer.from('From: a@example.test\r\nSubject: Grüße 🎉\r\n\r\nbody\r\n');
    const ref = await store.put(content);
    assert.deepEqual(ref, { sha256: sha(content), size: content.length });
    assert.equal(store.pathOf(ref.sha256), join(root, ref.sha256.slice(0, 2), ref.sha256));
    assert.deepEqual(await readFile(store.pathOf(ref.sha256)), content);
    assert.deepEqual(await readAll(store.get(ref.sha256)), content);
    assert.equal(await store.has(ref.sha256), true);
    assert.deepEqual(await readdir(join(root, 'tmp')), []);
  });

  test('a blob stored by an earlier version under ab/cd/ is still found, read and verified', async () => {
    const content = Buffer.from('archived before the one-level layout');
    const hash = sha(content);
    const legacy = join(root, hash.slice(0, 2), hash.slice(2, 4));
    await mkdir(legacy, { recursive: true });
    await writeFile(join(legacy, hash), content);
    assert.equal(await store.has(hash), true);
    assert.deepEqual(await readAll(store.get(hash)), content);
    assert.deepEqual(await store.verify(hash), { ok: true, actual: hash, size: content.length });
  });

  test('put of a stream returns its sha256 and size', async () => {
    const parts = Array.from({ length: 40 }, () => randomBytes(50_000));
    const all = Buffer.concat(parts);
    const ref = await store.put(Readable.from(parts));
    assert.deepEqual(ref, { sha256: sha(all), size: all.length });
    assert.deepEqual(await readAll(store.get(ref.sha256)), all);
    const empty = await store.put(Readable.from([]));
    assert.deepEqual(empty, { sha256: sha(Buffer.alloc(0)), size: 0 });
  });

  test('identical content is stored once', async () => {
    const content = randomBytes(1000);
    const a = await store.put(content);
    const b = await store.put(Readable.from([content.subarray(0, 10), content.subarray(10)]));
    assert.deepEqual(a, b);
    const batch = store.batch();
    const c = await batch.put(content);
    const d = await batch.put(Buffer.from(content));
    await batch.commit();
    assert.deepEqual(c, a);
    assert.deepEqual(d, a);
    assert.deepEqual(await filesUnder(root), [join(a.sha256.slice(0, 2), a.sha256)]);
  });

  test('a batch is not visible before commit and visible after', async () => {
    const one = Buffer.from('one');
    const two = randomBytes(300_000);
    const batch = store.batch();
    const r1 = await batch.put(one);
    const r2 = await batch.put(Readable.from([two]));
    assert.equal(await store.has(r1.sha256), false);
    assert.equal(await store.has(r2.sha256), false);
    assert.throws(() => store.get(r1.sha256), (e: unknown) => e instanceof AppError && e.code === 'BLOB_MISSING');
    assert.deepEqual(await readAll(batch.read(r1.sha256)), one, 'readable through the batch before commit');
    assert.deepEqual(await readAll(batch.read(r2.sha256)), two);
    await batch.commit();
    assert.equal(await store.has(r1.sha256), true);
    assert.equal(await store.has(r2.sha256), true);
    assert.deepEqual(await readAll(store.get(r2.sha256)), two);
    assert.deepEqual(await readAll(batch.read(r1.sha256)), one, 'batch.read falls back to the store after commit');
    assert.deepEqual(await readdir(join(root, 'tmp')), []);
  });

  test('abort removes the temp files', async () => {
    const existing = await store.put(Buffer.from('already there'));
    const batch = store.batch();
    const r1 = await batch.put(Buffer.from('never committed'));
    await batch.put(Readable.from([Buffer.from('never committed either')]));
    await batch.put(Buffer.from('already there'));
    assert.equal((await readdir(join(root, 'tmp'))).length, 3);
    await batch.abort();
    assert.deepEqual(await readdir(join(root, 'tmp')), []);
    assert.equal(await store.has(r1.sha256), false);
    assert.equal(await store.has(existing.sha256), true, 'abort never touches committed blobs');
  });

  test('a failing stream leaves no temp file', async () => {
    async function* failing(): AsyncGenerator<Buffer> {
      yield Buffer.from('partial');
      throw new Error('source broke');
    }
    await assert.rejects(store.put(Readable.from(failing())), /source broke/);
    assert.deepEqual(await readdir(join(root, 'tmp')), []);
  });

  test('verify detects a corrupted blob', async () => {
    const content = randomBytes(4096);
    const ref = await store.put(content);
    assert.deepEqual(await store.verify(ref.sha256), { ok: true, actual: ref.sha256, size: 4096 });
    const fh = await open(store.pathOf(ref.sha256), 'r+');
    try {
      await fh.write(Buffer.from([content[100]! ^ 0xff]), 0, 1, 100);
    } finally {
      await fh.close();
    }
    const result = await store.verify(ref.sha256);
    assert.equal(result.ok, false);
    assert.equal(result.size, 4096);
    assert.notEqual(result.actual, ref.sha256);
    assert.equal(result.actual, sha(await readFile(store.pathOf(ref.sha256))));
    const missing = sha(Buffer.from('missing'));
    assert.deepEqual(await store.verify(missing), { ok: false, actual: null, size: 0 });
  });

  test('get of a missing blob throws BLOB_MISSING', async () => {
    const missing = sha(Buffer.from('not stored'));
    assert.equal(await store.has(missing), false);
    assert.throws(
      () => store.get(missing),
      (err: unknown) => err instanceof AppError && err.code === 'BLOB_MISSING' && err.message.includes(missing),
    );
    assert.throws(() => store.get('../../etc/passwd'), (err: unknown) => err instanceof AppError && err.code === 'BLOB_MISSING');
  });
});
