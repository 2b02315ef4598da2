import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, open, readdir, readFile, rename, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, beforeEach, describe, test } from 'node:test';
import { AppError } from '../../src/errors/index.ts';
import { FsBlobStore } from '../../src/store/index.ts';
import { packRecords } from '../support/packs.ts';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const MiB = 1024 * 1024;

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

const isMissing = (sha256: string) => (err: unknown) => err instanceof AppError && err.code === 'BLOB_MISSING' && err.message.includes(sha256);

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

  test('a small blob is a record of a pack: found, read, verified, and described by its record', async () => {
    const content = Buffer.from('From: a@example.test\r\nSubject: Grüße 🎉\r\n\r\nbody\r\n');
    const ref = await store.put(content);
    assert.deepEqual(ref, { sha256: sha(content), size: content.length });
    assert.deepEqual(await readAll(store.get(ref.sha256)), content);
    assert.equal(await store.has(ref.sha256), true);
    assert.deepEqual(await store.verify(ref.sha256), { ok: true, actual: ref.sha256, size: content.length });

    const at = store.locate(ref.sha256);
    assert.ok(at?.packed);
    const packs = (await readdir(join(root, 'packs'))).filter((f) => f.endsWith('.pack'));
    assert.deepEqual(packs.map((p) => join(root, 'packs', p)), [at.file]);
    const pack = await readFile(at.file);
    assert.deepEqual(packRecords(pack), [{ sha256: ref.sha256, size: content.length, start: at.start }]);
    assert.deepEqual(pack.subarray(at.start, at.start + at.size), content);
    assert.deepEqual(await readdir(join(root, 'tmp')), []);
    assert.equal((await filesUnder(root)).some((f) => f.endsWith(ref.sha256)), false, 'no file of its own');
  });

  test('a blob above 1 MiB is a file of its own at its address', async () => {
    const content = randomBytes(MiB + 1);
    const ref = await store.put(content);
    assert.equal(store.pathOf(ref.sha256), join(root, ref.sha256.slice(0, 2), ref.sha256));
    assert.deepEqual(store.locate(ref.sha256), { file: store.pathOf(ref.sha256), start: 0, size: content.length, packed: false });
    assert.deepEqual(await readFile(store.pathOf(ref.sha256)), content);
    assert.deepEqual(await readAll(store.get(ref.sha256)), content);
    assert.deepEqual(await readdir(join(root, 'tmp')), []);
  });

  test('blobs stored by earlier versions as files, under ab/ and ab/cd/, are still found, read and verified', async () => {
    for (const [content, dir] of [
      [Buffer.from('archived before the packs'), (h: string) => join(root, h.slice(0, 2))],
      [Buffer.from('archived before the one-level layout'), (h: string) => join(root, h.slice(0, 2), h.slice(2, 4))],
    ] as const) {
      const hash = sha(content);
      await mkdir(dir(hash), { recursive: true });
      await writeFile(join(dir(hash), hash), content);
      assert.equal(await store.has(hash), true);
      assert.deepEqual(await readAll(store.get(hash)), content);
      assert.deepEqual(await store.verify(hash), { ok: true, actual: hash, size: content.length });
    }
  });

  test('put of a stream returns its sha256 and size, small and large', async () => {
    const parts = Array.from({ length: 40 }, () => randomBytes(50_000));
    const all = Buffer.concat(parts);
    const ref = await store.put(Readable.from(parts));
    assert.deepEqual(ref, { sha256: sha(all), size: all.length });
    assert.deepEqual(await readAll(store.get(ref.sha256)), all);
    const small = await store.put(Readable.from([Buffer.from('in '), Buffer.from('pieces')]));
    assert.deepEqual(await readAll(store.get(small.sha256)), Buffer.from('in pieces'));
    assert.equal(store.locate(small.sha256)?.packed, true);
    const empty = await store.put(Readable.from([]));
    assert.deepEqual(empty, { sha256: sha(Buffer.alloc(0)), size: 0 });
    assert.deepEqual(await readAll(store.get(empty.sha256)), Buffer.alloc(0));
    assert.deepEqual(await store.verify(empty.sha256), { ok: true, actual: empty.sha256, size: 0 });
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
    const records = packRecords(await readFile(store.locate(a.sha256)!.file));
    assert.deepEqual(records.map((r) => r.sha256), [a.sha256]);
  });

  test('a batch is not visible before commit and visible after', async () => {
    const one = Buffer.from('one');
    const two = randomBytes(MiB + 300_000);
    const batch = store.batch();
    const r1 = await batch.put(one);
    const r2 = await batch.put(Readable.from([two]));
    assert.equal(await store.has(r1.sha256), false);
    assert.equal(await store.has(r2.sha256), false);
    assert.throws(() => store.get(r1.sha256), isMissing(r1.sha256));
    assert.deepEqual(await readAll(batch.read(r1.sha256)), one, 'readable through the batch before commit');
    assert.deepEqual(await readAll(batch.read(r2.sha256)), two);
    assert.equal(batch.fileOf(r1.sha256), null, 'a small blob has no file before commit');
    assert.ok(batch.fileOf(r2.sha256)?.startsWith(join(root, 'tmp')));
    await batch.commit();
    assert.equal(await store.has(r1.sha256), true);
    assert.equal(await store.has(r2.sha256), true);
    assert.deepEqual(await readAll(store.get(r2.sha256)), two);
    assert.deepEqual(await readAll(batch.read(r1.sha256)), one, 'batch.read falls back to the store after commit');
    assert.deepEqual(await readdir(join(root, 'tmp')), []);
  });

  test('abort removes the temp files and packs nothing', async () => {
    const existing = await store.put(Buffer.from('already there'));
    const packBefore = await readFile(store.locate(existing.sha256)!.file);
    const batch = store.batch();
    const r1 = await batch.put(Buffer.from('never committed'));
    const r2 = await batch.put(Readable.from([randomBytes(MiB + 1)]));
    await batch.put(Buffer.from('already there'));
    assert.equal((await readdir(join(root, 'tmp'))).length, 1);
    await batch.abort();
    assert.deepEqual(await readdir(join(root, 'tmp')), []);
    assert.equal(await store.has(r1.sha256), false);
    assert.equal(await store.has(r2.sha256), false);
    assert.equal(await store.has(existing.sha256), true, 'abort never touches committed blobs');
    assert.deepEqual(await readFile(store.locate(existing.sha256)!.file), packBefore);
  });

  test('a failing stream leaves no temp file', async () => {
    async function* failing(): AsyncGenerator<Buffer> {
      yield Buffer.from('partial');
      throw new Error('source broke');
    }
    await assert.rejects(store.put(Readable.from(failing())), /source broke/);
    assert.deepEqual(await readdir(join(root, 'tmp')), []);
  });

  test('verify detects a corrupted blob, packed or in its own file', async () => {
    for (const content of [randomBytes(4096), randomBytes(MiB + 4096)]) {
      const ref = await store.put(content);
      assert.deepEqual(await store.verify(ref.sha256), { ok: true, actual: ref.sha256, size: content.length });
      const at = store.locate(ref.sha256)!;
      const fh = await open(at.file, 'r+');
      try {
        await fh.write(Buffer.from([content[100]! ^ 0xff]), 0, 1, at.start + 100);
      } finally {
        await fh.close();
      }
      const result = await store.verify(ref.sha256);
      assert.equal(result.ok, false);
      assert.equal(result.size, content.length);
      const damaged = Buffer.from(content);
      damaged[100] = damaged[100]! ^ 0xff;
      assert.equal(result.actual, sha(damaged));
    }
    const missing = sha(Buffer.from('missing'));
    assert.deepEqual(await store.verify(missing), { ok: false, actual: null, size: 0 });
  });

  test('get of a missing blob throws BLOB_MISSING: not stored, its pack gone, its pack cut short', async () => {
    const missing = sha(Buffer.from('not stored'));
    assert.equal(await store.has(missing), false);
    assert.throws(() => store.get(missing), isMissing(missing));
    assert.throws(() => store.get('../../etc/passwd'), (err: unknown) => err instanceof AppError && err.code === 'BLOB_MISSING');

    const ref = await store.put(Buffer.from('in a pack that goes away'));
    const at = store.locate(ref.sha256)!;
    await rename(at.file, `${at.file}.away`);
    assert.throws(() => store.get(ref.sha256), isMissing(ref.sha256));
    assert.deepEqual(await store.verify(ref.sha256), { ok: false, actual: null, size: 0 });
    await rename(`${at.file}.away`, at.file);
    await truncate(at.file, at.start + at.size - 1);
    assert.throws(() => store.get(ref.sha256), isMissing(ref.sha256), 'never a truncated message');
    assert.equal((await store.verify(ref.sha256)).ok, false);
  });

  test('storing a blob again whose pack was lost or cut short packs it again, and the index follows', async () => {
    const first = Buffer.from('in a pack that a restore left out');
    const ref = await store.put(first);
    const lostAt = store.locate(ref.sha256)!;
    // A restore that left the pack out: the store starts over without it.
    await store.close();
    await rename(lostAt.file, `${lostAt.file}.away`);
    store = new FsBlobStore(root);
    assert.equal(await store.has(ref.sha256), false, 'has() does not trust the index alone');
    assert.deepEqual(await store.put(first), ref);
    const again = store.locate(ref.sha256)!;
    assert.notEqual(again.file, lostAt.file, 'a new pack (the old one is gone)');
    assert.deepEqual(await readAll(store.get(ref.sha256)), first);
    assert.deepEqual(await store.verify(ref.sha256), { ok: true, actual: ref.sha256, size: first.length });

    const second = Buffer.from('in a pack cut short');
    const ref2 = await store.put(second);
    const cutAt = store.locate(ref2.sha256)!;
    await store.close();
    await truncate(cutAt.file, cutAt.start + cutAt.size - 1);
    store = new FsBlobStore(root);
    assert.equal(await store.has(ref2.sha256), false);
    await store.put(second);
    const moved = store.locate(ref2.sha256)!;
    assert.ok(moved.file !== cutAt.file || moved.start >= cutAt.start + cutAt.size - 1, 'packed again, not into the cut');
    assert.deepEqual(await readAll(store.get(ref2.sha256)), second);
    assert.equal((await store.reindex()).repointed, 0, 'the index points at the new copy already');

    // An intact pack is not written to again.
    const before = await filesUnder(root);
    const sizes = await Promise.all(before.filter((f) => f.endsWith('.pack')).map(async (f) => (await readFile(join(root, f))).length));
    await store.put(second);
    assert.deepEqual(await Promise.all(before.filter((f) => f.endsWith('.pack')).map(async (f) => (await readFile(join(root, f))).length)), sizes);
  });

  test('reindex rebuilds a lost index from the packs, reports damaged and incomplete records, and adds nothing twice', async () => {
    const small = new FsBlobStore(root, { packFileLimit: 20_000 });
    const contents = Array.from({ length: 30 }, (_, i) => randomBytes(500 + i * 97));
    for (let i = 0; i < contents.length; i += 5) {
      const batch = small.batch();
      for (const c of contents.slice(i, i + 5)) await batch.put(c);
      await batch.commit();
    }
    await small.put(Buffer.alloc(0));
    const where = new Map(contents.map((c) => [sha(c), small.locate(sha(c))!]));
    const packs = [...new Set([...where.values()].map((at) => at.file))].sort();
    assert.ok(packs.length >= 2, 'several packs');
    await small.close();
    const loseIndex = () => Promise.all(['index.sqlite', 'index.sqlite-wal', 'index.sqlite-shm'].map((f) => rm(join(root, 'packs', f), { force: true })));
    await loseIndex();

    const again = new FsBlobStore(root);
    try {
      assert.equal(await again.has(sha(contents[0]!)), false, 'the index is gone');
      const seen: number[] = [];
      const first = await again.reindex((p) => seen.push(p.records));
      assert.deepEqual({ packs: first.packs, records: first.records, added: first.added, problems: first.problems }, { packs: packs.length, records: 31, added: 31, problems: [] });
      assert.deepEqual(seen, Array.from({ length: 32 }, (_, i) => i), 'progress from 0, one step per record');
      for (const c of [...contents, Buffer.alloc(0)]) assert.deepEqual(await again.verify(sha(c)), { ok: true, actual: sha(c), size: c.length });
      assert.equal((await again.reindex()).added, 0, 'a second run adds nothing');
    } finally {
      await again.close();
    }

    // One record damaged in the first pack; the last pack cut inside its last record.
    const victim = contents.find((c) => where.get(sha(c))!.file === packs[0])!;
    const at = where.get(sha(victim))!;
    const fh = await open(at.file, 'r+');
    try {
      await fh.write(Buffer.from([victim[7]! ^ 0xff]), 0, 1, at.start + 7);
    } finally {
      await fh.close();
    }
    const lastPack = packs[packs.length - 1]!;
    await truncate(lastPack, (await readFile(lastPack)).length - 10);
    // A pack a writer has just created, its first line not written yet.
    await writeFile(join(root, 'packs', 'zz-just-created.pack'), 'MAILROOM-PA');
    await loseIndex();

    const third = new FsBlobStore(root);
    try {
      const result = await third.reindex();
      assert.deepEqual(result.problems.map((p) => [p.pack === 'zz-just-created.pack', p.kind]).sort(), [[false, 'damaged'], [false, 'incomplete'], [true, 'incomplete']]);
      const damaged = result.problems.find((p) => p.kind === 'damaged')!;
      assert.match(damaged.reason, new RegExp(`the content of ${sha(victim)} hashes to [0-9a-f]{64}; no pack holds an intact copy`));
      assert.deepEqual([damaged.sha256, damaged.intactCopy, damaged.at], [sha(victim), null, at.start - 44], 'the blob is named, no copy, the record start');
      assert.equal(result.repointed, 0);
      // The last record written was the empty blob: the cut went into its header.
      assert.equal(result.records, 29, 'every record but the damaged one and the cut one');
      assert.equal(await third.has(sha(Buffer.alloc(0))), false, 'the cut record is not indexed');
      assert.equal(await third.has(sha(victim)), false, 'the damaged record is not indexed');
      for (const c of contents) if (c !== victim) assert.equal((await third.verify(sha(c))).ok, true);
    } finally {
      await third.close();
    }
  });

  test('reindex moves the index off a damaged record to an intact copy of the blob in another pack', async () => {
    const content = randomBytes(3000);
    const other = randomBytes(2000);
    const loseIndex = () => Promise.all(['index.sqlite', 'index.sqlite-wal', 'index.sqlite-shm'].map((f) => rm(join(root, 'packs', f), { force: true })));
    // The same content packed by two stores, the second after the index was lost (as two
    // processes packing it at once would also leave it).
    const packOf = async (contents: Buffer[]): Promise<string> => {
      const s = new FsBlobStore(root);
      const batch = s.batch();
      for (const c of contents) await batch.put(c);
      await batch.commit();
      const file = s.locate(sha(contents[0]!))!.file;
      await s.close();
      await loseIndex();
      return file;
    };
    await store.close();
    const firstPack = await packOf([content]);
    const secondPack = await packOf([content, other]);
    assert.notEqual(firstPack, secondPack);

    const s = new FsBlobStore(root);
    try {
      const rebuilt = await s.reindex();
      assert.deepEqual([rebuilt.records, rebuilt.added, rebuilt.repointed, rebuilt.problems], [3, 2, 0, []]);
      const indexed = s.locate(sha(content))!;
      const spare = indexed.file === firstPack ? secondPack : firstPack;
      // The copy the index points at rots.
      const fh = await open(indexed.file, 'r+');
      try {
        await fh.write(Buffer.from([content[11]! ^ 0x01]), 0, 1, indexed.start + 11);
      } finally {
        await fh.close();
      }
      assert.equal((await s.verify(sha(content))).ok, false, 'the index points at the damaged copy');

      const repaired = await s.reindex();
      assert.equal(repaired.repointed, 1);
      assert.equal(repaired.added, 0);
      assert.equal(repaired.problems.length, 1);
      const [problem] = repaired.problems;
      const spareAt = packRecords(await readFile(spare)).find((r) => r.sha256 === sha(content))!.start - 44;
      assert.deepEqual(
        { kind: problem!.kind, pack: problem!.pack, sha256: problem!.sha256, intactCopy: problem!.intactCopy },
        { kind: 'damaged', pack: indexed.file.split('/').pop(), sha256: sha(content), intactCopy: { pack: spare.split('/').pop(), at: spareAt } },
      );
      assert.match(problem!.reason, new RegExp(`the index points at an intact copy in ${spare.split('/').pop()} at byte ${spareAt}$`));
      assert.equal(s.locate(sha(content))!.file, spare, 'the index points at the intact copy');
      assert.deepEqual(await s.verify(sha(content)), { ok: true, actual: sha(content), size: content.length });
      assert.deepEqual(await readAll(s.get(sha(content))), content);
      assert.deepEqual(await readAll(s.get(sha(other))), other, 'the other blob of the spare pack is untouched');

      const again = await s.reindex();
      assert.equal(again.repointed, 0, 'a second run has nothing to move');
      assert.deepEqual(again.problems[0]!.intactCopy, problem!.intactCopy, 'the damage is still reported, with its copy');
    } finally {
      await s.close();
    }
  });

  test('an index that cannot be read is refused with the way out', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mr-blobs-badindex-'));
    dirs.push(dir);
    await mkdir(join(dir, 'packs'), { recursive: true });
    await writeFile(join(dir, 'packs', 'index.sqlite'), 'this is not a database, it is garbage '.repeat(200));
    assert.throws(
      () => new FsBlobStore(dir),
      (e: unknown) => e instanceof AppError && e.code === 'BLOB_CORRUPT' && /Move it aside.*mailroom blobs reindex/.test(e.message),
    );
  });

  test('a store opened again on the same directory finds what the first one packed', async () => {
    const contents = Array.from({ length: 20 }, (_, i) => Buffer.from(`message ${i} ${randomBytes(16).toString('hex')}`));
    const batch = store.batch();
    for (const c of contents) await batch.put(c);
    await batch.commit();
    await store.close();
    const again = new FsBlobStore(root);
    try {
      for (const c of contents) assert.deepEqual(await readAll(again.get(sha(c))), c);
    } finally {
      await again.close();
    }
  });
});
