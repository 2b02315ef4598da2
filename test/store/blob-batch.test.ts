/**
 * FsBlobStore batches as the import and the sync engine use them: many blobs per batch, streams
 * written in pieces or kept whole, duplicates, content already stored, fresh directories, abort
 * while writes are in flight; packs shared by concurrent commits, rotated, shared by two stores
 * (two processes), and a writer killed with SIGKILL in the middle of its commits.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Readable } from 'node:stream';
import { after, beforeEach, describe, test } from 'node:test';
import { FsBlobStore } from '../../src/store/index.ts';
import { packRecords } from '../support/packs.ts';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/**
 * The files under `dir` this process has open (Linux: /proc/self/fd), to see that a batch or a
 * store closes what it opened. Only this store's files count: other stores of the file's tests
 * may close theirs at any moment (their SQLite handles when collected).
 */
async function openFilesUnder(dir: string): Promise<string[] | null> {
  let fds: string[];
  try {
    fds = await readdir('/proc/self/fd');
  } catch {
    return null;
  }
  const open: string[] = [];
  for (const fd of fds) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    if (target.startsWith(dir + '/')) open.push(target);
  }
  return open;
}

const MiB = 1024 * 1024;
const packFiles = async (root: string): Promise<string[]> => (await readdir(join(root, 'packs'))).filter((f) => f.endsWith('.pack')).sort();

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

  test('a batch of hundreds of blobs commits them all into one pack, and closing the store closes every file', async () => {
    const own = new FsBlobStore(await mkdtemp(join(tmpdir(), 'mr-blob-batch-fds-')));
    dirs.push(own.root);
    const contents = Array.from({ length: 300 }, (_, i) => Buffer.from(`blob ${i} ${randomBytes(8).toString('hex')}`));
    const batch = own.batch();
    const refs = await Promise.all(contents.map((c, i) => (i % 3 === 0 ? batch.put(Readable.from([c.subarray(0, 5), c.subarray(5)])) : batch.put(c))));
    assert.deepEqual(refs, contents.map((c) => ({ sha256: sha(c), size: c.length })));
    await batch.commit();
    for (const c of contents) assert.deepEqual(await readAll(own.get(sha(c))), c);
    assert.equal((await packFiles(own.root)).length, 1);
    assert.deepEqual(await readdir(join(own.root, 'tmp')), []);
    await own.close();
    const open = await openFilesUnder(own.root);
    if (open !== null) assert.deepEqual(open, [], 'nothing of the store is open any more');
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

  test('a large blob already stored is written again and replaces the stored copy atomically', async () => {
    const content = randomBytes(MiB + 5000);
    const ref = await store.put(content);
    const first = await stat(store.pathOf(ref.sha256));
    const batch = store.batch();
    assert.deepEqual(await batch.put(Buffer.from(content)), ref);
    await batch.commit();
    assert.deepEqual(await readFile(store.pathOf(ref.sha256)), content);
    assert.equal((await stat(store.pathOf(ref.sha256))).size, first.size);
    assert.deepEqual(await readdir(join(root, 'tmp')), []);
  });

  test('commit creates the directories of large blobs as needed', async () => {
    const contents = Array.from({ length: 3 }, () => randomBytes(MiB + 64));
    const batch = store.batch();
    for (const c of contents) await batch.put(c);
    await batch.commit();
    const levels = new Set(contents.map((c) => sha(c).slice(0, 2)));
    assert.deepEqual((await readdir(root)).filter((d) => d !== 'tmp' && d !== 'packs').sort(), [...levels].sort());
    for (const c of contents) assert.deepEqual(await readFile(store.pathOf(sha(c))), c);
  });

  test('abort while writes are in flight removes every temp file and closes them', async () => {
    const batch = store.batch();
    const puts = Array.from({ length: 50 }, (_, i) => batch.put(randomBytes(i % 10 === 0 ? MiB + 10 : 10_000)));
    await batch.abort().then(() => Promise.allSettled(puts));
    await Promise.allSettled(puts);
    await batch.abort();
    assert.deepEqual(await readdir(join(root, 'tmp')), []);
    assert.deepEqual((await readdir(root)).filter((d) => d !== 'tmp' && d !== 'packs'), []);
    assert.deepEqual(await packFiles(root), [], 'nothing was packed');
    const open = await openFilesUnder(join(root, 'tmp'));
    if (open !== null) assert.deepEqual(open, [], 'no temp file is open any more');
  });

  test('batches committed at the same time share a pack without overlapping', async () => {
    const batches = Array.from({ length: 10 }, (_, b) => Array.from({ length: 30 }, (_, i) => randomBytes(100 + ((b * 31 + i) % 7) * 500)));
    await Promise.all(
      batches.map(async (contents) => {
        const batch = store.batch();
        for (const c of contents) await batch.put(c);
        await batch.commit();
      }),
    );
    const [pack, ...more] = await packFiles(root);
    assert.deepEqual(more, []);
    const records = packRecords(await readFile(join(root, 'packs', pack!)));
    assert.equal(records.length, 300);
    for (const c of batches.flat()) {
      assert.deepEqual(await readAll(store.get(sha(c))), c);
      assert.equal((await store.verify(sha(c))).ok, true);
    }
  });

  test('a full pack takes no more appends: the next batch starts a new one', async () => {
    const small = new FsBlobStore(await mkdtemp(join(tmpdir(), 'mr-blob-batch-rotate-')), { packFileLimit: 10_000 });
    dirs.push(small.root);
    const contents = Array.from({ length: 12 }, () => randomBytes(2_000));
    for (let i = 0; i < contents.length; i += 2) {
      const batch = small.batch();
      await batch.put(contents[i]!);
      await batch.put(contents[i + 1]!);
      await batch.commit();
    }
    const packs = await packFiles(small.root);
    assert.ok(packs.length >= 3, `several packs: ${packs.join(', ')}`);
    for (const p of packs) assert.ok((await stat(join(small.root, 'packs', p))).size <= 10_000);
    for (const c of contents) assert.deepEqual(await readAll(small.get(sha(c))), c);
    await small.close();
  });

  test('two stores on one directory (two processes) write packs of their own and read each other', async () => {
    const other = new FsBlobStore(root);
    const mine = randomBytes(3000);
    const theirs = randomBytes(3000);
    const both = randomBytes(3000);
    await store.put(mine);
    await other.put(theirs);
    await Promise.all([store.put(both), other.put(both)]);
    assert.equal((await packFiles(root)).length, 2);
    for (const c of [mine, theirs, both]) {
      assert.deepEqual(await readAll(store.get(sha(c))), c);
      assert.deepEqual(await readAll(other.get(sha(c))), c);
    }
    await other.close();
  });

  test('a writer killed with SIGKILL in the middle of its commits loses no committed blob', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(dirname(fileURLToPath(import.meta.url)), 'blob-writer-child.ts'), root], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    const committed: string[] = [];
    for await (const line of createInterface({ input: child.stdout! })) {
      committed.push(...(JSON.parse(line) as string[]));
      if (committed.length >= 600) {
        child.kill('SIGKILL');
        break;
      }
    }
    assert.equal(await exited, 'SIGKILL');
    const reopened = new FsBlobStore(root);
    try {
      for (const hash of committed) assert.equal((await reopened.verify(hash)).ok, true, hash);
      // The killed writer's pack takes no more records; a new one does.
      const after = randomBytes(500);
      await reopened.put(after);
      assert.deepEqual(await readAll(reopened.get(sha(after))), after);
    } finally {
      await reopened.close();
    }
  });
});
