import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, statSync } from 'node:fs';
import { rename, rm, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { AppError } from '../../errors/index.ts';
import { closeFd, createFd, errorCode, syncDir, syncFd, writeAll } from './fd.ts';
import { PackIndex } from './pack-index.ts';
import { reindexPacks, type ReindexProgress, type ReindexResult } from './pack-reindex.ts';
import { PackWriter, type PackedBlob } from './pack-writer.ts';
import type { BlobBatch, BlobRef, BlobStore } from './types.ts';

const SHA256 = /^[0-9a-f]{64}$/;

/** Where a blob's bytes are: a whole file, or a range of a pack file. */
export interface BlobLocation {
  file: string;
  /** Where the bytes start in `file` (0 for a blob in a file of its own). */
  start: number;
  size: number;
  packed: boolean;
}

/**
 * Blobs up to 1 MiB are records in pack files under `<root>/packs/` with an index beside them
 * (pack-writer.ts, pack-index.ts): most mail is small, and a file of its own per message cost
 * more than its bytes (docs/decisions/0009). Larger blobs are files `<root>/ab/<sha256>`: 256
 * directories, as git stores loose objects, rather than the 65,536 of a two-level fan-out,
 * whose directory creations cost an import as much as the blobs themselves
 * (docs/decisions/0007). Blobs written by earlier versions as files, small ones included, and
 * under `<root>/ab/cd/<sha256>`, are still found there; nothing is moved.
 *
 * Files are written to `<root>/tmp`, fsynced, then renamed; pack records are fdatasynced before
 * they are indexed. Either way a reader never sees a half-written blob, and a crash leaves at
 * worst a stray temp file or unindexed pack bytes.
 */
export class FsBlobStore implements BlobStore {
  readonly root: string;
  readonly #tmp: string;
  readonly #packDir: string;
  readonly #index: PackIndex;
  readonly packs: PackWriter;

  /** `packFileLimit`: the size at which a pack takes no more appends (tests use a small one). */
  constructor(root: string, options: { packFileLimit?: number } = {}) {
    this.root = root;
    this.#tmp = path.join(root, 'tmp');
    this.#packDir = path.join(root, 'packs');
    mkdirSync(this.#tmp, { recursive: true });
    mkdirSync(this.#packDir, { recursive: true });
    this.#index = new PackIndex(path.join(this.#packDir, 'index.sqlite'));
    this.packs = new PackWriter(this.#packDir, options.packFileLimit);
  }

  /** The file a blob too large to pack gets (the blob need not exist). */
  pathOf(sha256: string): string {
    if (!SHA256.test(sha256)) throw new AppError('BLOB_MISSING', `Not a blob address: ${sha256}`);
    return path.join(this.root, sha256.slice(0, 2), sha256);
  }

  /** Where the blob is: in a pack, in its own file, or where earlier versions put it; null when absent. */
  locate(sha256: string): BlobLocation | null {
    const file = this.pathOf(sha256);
    const packed = this.#index.find(sha256);
    if (packed) return { file: path.join(this.#packDir, packed.pack), start: packed.pos, size: packed.size, packed: true };
    for (const candidate of [file, path.join(this.root, sha256.slice(0, 2), sha256.slice(2, 4), sha256)]) {
      const stat = statSync(candidate, { throwIfNoEntry: false });
      if (stat) return { file: candidate, start: 0, size: stat.size, packed: false };
    }
    return null;
  }

  /** Where the index puts the blob in a pack (whether the pack still holds it or not). */
  packedAt(sha256: string): BlobLocation | null {
    const packed = this.#index.find(sha256);
    return packed ? { file: path.join(this.#packDir, packed.pack), start: packed.pos, size: packed.size, packed: true } : null;
  }

  /** Indexed blobs of this batch, once their pack records are durable. */
  recordPacked(entries: ReadonlyArray<{ sha256: string; pack: string; pos: number; size: number }>): void {
    this.#index.add(entries);
  }

  /** Blobs packed again because the pack the index named was lost or cut short: the rows follow. */
  repointPacked(moves: ReadonlyArray<{ sha256: string; from: BlobLocation; to: { pack: string; pos: number; size: number } }>): void {
    this.#index.repoint(moves.map((m) => ({ sha256: m.sha256, from: { pack: path.basename(m.from.file), pos: m.from.start, size: m.from.size }, to: m.to })));
  }

  batch(): BlobBatch {
    return new FsBlobBatch(this, this.#tmp);
  }

  async put(content: Readable | Buffer): Promise<BlobRef> {
    const batch = this.batch();
    try {
      const ref = await batch.put(content);
      await batch.commit();
      return ref;
    } catch (err) {
      await batch.abort();
      throw err;
    }
  }

  get(sha256: string): Readable {
    const at = this.locate(sha256);
    // A pack cut short (a restore that lost its tail) must not give a truncated message.
    if (at === null || (at.packed && !packHolds(at))) {
      throw new AppError('BLOB_MISSING', `The stored content ${sha256} is missing from the blob store at ${this.root}; restore it from a backup.`);
    }
    return rangeStream(at);
  }

  async has(sha256: string): Promise<boolean> {
    const at = this.locate(sha256);
    return at !== null && (!at.packed || packHolds(at));
  }

  async verify(sha256: string): Promise<{ ok: boolean; actual: string | null; size: number }> {
    const at = this.locate(sha256);
    if (at === null || (at.packed && !existsSync(at.file))) return { ok: false, actual: null, size: 0 };
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of rangeStream(at)) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
    const actual = hash.digest('hex');
    return { ok: actual === sha256 && size === at.size, actual, size };
  }

  /**
   * Rebuilds the pack index from the packs (each record names its content): after the index was
   * lost or damaged, or to check the packs. Adds what is missing; what is there stays.
   */
  reindex(onProgress?: (p: ReindexProgress) => void): Promise<ReindexResult> {
    return reindexPacks(this.#packDir, this.#index, onProgress);
  }

  /** Closes the pack in use (after its appends in flight) and the index. */
  async close(): Promise<void> {
    await this.packs.close();
    this.#index.close();
  }
}

/** Whether the pack file is there and long enough for the record; `sizes` caches its length. */
function packHolds(at: BlobLocation, sizes?: Map<string, number>): boolean {
  let size = sizes?.get(at.file);
  if (size === undefined) {
    size = statSync(at.file, { throwIfNoEntry: false })?.size ?? -1;
    sizes?.set(at.file, size);
  }
  return size >= at.start + at.size;
}

function rangeStream(at: BlobLocation): Readable {
  // createReadStream's `end` is inclusive, so an empty range needs no file at all.
  if (at.size === 0) return Readable.from([], { objectMode: false });
  return at.packed ? createReadStream(at.file, { start: at.start, end: at.start + at.size - 1 }) : createReadStream(at.file);
}

/** A blob of this batch: in a temp file of its own, or held in memory until commit() packs it. */
type Pending =
  | {
      kind: 'file';
      tmp: string;
      sha256: string;
      /** Settles when the temp file is complete and fdatasynced; a buffered put() resolves after it, a streamed one once the bytes are written. */
      written: Promise<void>;
    }
  | ({ kind: 'packed'; written: Promise<void> } & PackedBlob);

/** Stream content up to this size is collected in memory and written with one system call. */
const STREAM_BUFFER_LIMIT = 1024 * 1024;
/**
 * Blobs up to this size go into pack files, larger ones into files of their own: what a put
 * holds in memory is packed, what it spooled to a temp file stays a file.
 */
const PACKED_MAX = STREAM_BUFFER_LIMIT;
/** Once a stream is written as it arrives, chunks are gathered up to this size per write. */
const STREAM_WRITE_SIZE = 256 * 1024;

/**
 * Small blobs wait in memory (the caller holds their bytes anyway) and commit() appends them to
 * a pack with one write and one fdatasync. Larger ones go to temp files under `<root>/tmp`,
 * each fdatasynced as soon as it is written (in the thread pool, while the caller parses:
 * commit() then only waits for what is still going); commit() renames them into place at once,
 * creating directories only when a rename finds none, and fsyncs each directory it touched once
 * (and the parents of those it created), so that a committed blob survives a crash.
 */
class FsBlobBatch implements BlobBatch {
  readonly #store: FsBlobStore;
  readonly #tmpDir: string;
  readonly #prefix = `${process.pid}-${randomBytes(6).toString('hex')}-`;
  #counter = 0;
  readonly #pending = new Map<string, Pending>();
  /** Temp files whose content turned out to be pending already; removed at the end. */
  readonly #strays: string[] = [];

  constructor(store: FsBlobStore, tmpDir: string) {
    this.#store = store;
    this.#tmpDir = tmpDir;
  }

  #tmpPath(): string {
    return path.join(this.#tmpDir, `${this.#prefix}${this.#counter++}`);
  }

  async put(content: Readable | Buffer): Promise<BlobRef> {
    if (Buffer.isBuffer(content)) {
      const sha256 = createHash('sha256').update(content).digest('hex');
      await this.#putBuffers(sha256, [content], content.length);
      return { sha256, size: content.length };
    }
    return this.#putStream(content);
  }

  /** Keeps the content for the pack, or writes it to a temp file, unless the batch holds it already. */
  #putBuffers(sha256: string, content: Buffer[], size: number): Promise<void> {
    const existing = this.#pending.get(sha256);
    if (existing) return existing.written;
    if (size <= PACKED_MAX) {
      this.#pending.set(sha256, { kind: 'packed', sha256, size, content, written: Promise.resolve() });
      return Promise.resolve();
    }
    const pending: Pending = { kind: 'file', tmp: this.#tmpPath(), sha256, written: Promise.resolve() };
    pending.written = this.#write(pending.tmp, content);
    // Awaited by put, commit and abort; a failure must not count as unhandled meanwhile.
    pending.written.catch(() => undefined);
    this.#pending.set(sha256, pending);
    return pending.written;
  }

  async #write(tmp: string, content: Buffer[]): Promise<void> {
    const fd = await createFd(tmp);
    try {
      await writeAll(fd, content, 0);
      await syncFd(fd, false);
    } finally {
      await closeFd(fd);
    }
  }

  async #putStream(content: Readable): Promise<BlobRef> {
    const hash = createHash('sha256');
    let size = 0;
    let chunks: Buffer[] = [];
    let chunksSize = 0;
    let tmp: string | null = null;
    let fd: number | null = null;
    try {
      for await (const chunk of content) {
        const buf = chunk as Buffer;
        hash.update(buf);
        size += buf.length;
        chunks.push(buf);
        chunksSize += buf.length;
        if (fd === null && size > STREAM_BUFFER_LIMIT) {
          tmp = this.#tmpPath();
          fd = await createFd(tmp);
        }
        if (fd !== null && chunksSize >= STREAM_WRITE_SIZE) {
          await writeAll(fd, chunks, size - chunksSize);
          chunks = [];
          chunksSize = 0;
        }
      }
      if (fd !== null && chunks.length > 0) await writeAll(fd, chunks, size - chunksSize);
    } catch (err) {
      if (fd !== null) await closeFd(fd);
      if (tmp !== null) await rm(tmp, { force: true });
      throw err;
    }
    const sha256 = hash.digest('hex');
    if (fd === null) {
      // Small enough to have been kept whole: packed at commit.
      await this.#putBuffers(sha256, chunks, size);
      return { sha256, size };
    }
    // fdatasynced in the background, as a buffered put is: commit() waits for it, and a sync
    // engine spooling a large message goes on downloading the next one meanwhile.
    const file = fd;
    const written = syncFd(file, false).finally(() => closeFd(file));
    written.catch(() => undefined);
    const existing = this.#pending.get(sha256);
    if (existing) {
      // Same content already pending: keep one copy.
      this.#strays.push(tmp!);
      await written;
      await existing.written;
    } else {
      this.#pending.set(sha256, { kind: 'file', tmp: tmp!, sha256, written });
    }
    return { sha256, size };
  }

  fileOf(sha256: string): string | null {
    const pending = this.#pending.get(sha256);
    return pending?.kind === 'file' ? pending.tmp : null;
  }

  read(sha256: string): Readable {
    const pending = this.#pending.get(sha256);
    if (pending === undefined) return this.#store.get(sha256);
    return pending.kind === 'file' ? createReadStream(pending.tmp) : Readable.from(pending.content, { objectMode: false });
  }

  async commit(): Promise<void> {
    const items = [...this.#pending.values()];
    const files = items.filter((p) => p.kind === 'file');
    // What a pack holds already (another batch, an earlier run) is not packed twice, unless
    // that pack is gone or cut short (a restore without it): then the bytes at hand are packed
    // again and the index row follows them, so archiving the message again mends the archive.
    // (A small blob an earlier version wrote as a file of its own would be packed again:
    // harmless, rare.)
    const packed: PackedBlob[] = [];
    const lost = new Map<string, BlobLocation>();
    const packSizes = new Map<string, number>();
    for (const p of items) {
      if (p.kind !== 'packed') continue;
      const at = this.#store.packedAt(p.sha256);
      if (at !== null && packHolds(at, packSizes)) continue;
      if (at !== null) lost.set(p.sha256, at);
      packed.push(p);
    }
    // Both settle before commit() does, so that an abort() after a failure finds no rename in flight.
    const outcomes = await Promise.allSettled([this.#pack(packed, lost), this.#moveFiles(files)]);
    for (const o of outcomes) if (o.status === 'rejected') throw o.reason;
    this.#pending.clear();
    await this.#removeStrays();
  }

  async #pack(blobs: PackedBlob[], lost: ReadonlyMap<string, BlobLocation>): Promise<void> {
    if (blobs.length === 0) return;
    const at = await this.#store.packs.append(blobs);
    const written = blobs.map((b, i) => ({ sha256: b.sha256, size: b.size, ...at[i]! }));
    this.#store.recordPacked(written.filter((w) => !lost.has(w.sha256)));
    const moves = written.filter((w) => lost.has(w.sha256)).map((w) => ({ sha256: w.sha256, from: lost.get(w.sha256)!, to: w }));
    if (moves.length > 0) this.#store.repointPacked(moves);
  }

  async #moveFiles(files: Array<Extract<Pending, { kind: 'file' }>>): Promise<void> {
    await Promise.all(files.map((p) => p.written));
    const dirs = new Set<string>();
    await Promise.all(
      files.map(async (p) => {
        const target = this.#store.pathOf(p.sha256);
        const dir = path.dirname(target);
        dirs.add(dir);
        try {
          await rename(p.tmp, target);
          return;
        } catch (err) {
          if (errorCode(err) !== 'ENOENT') throw err;
        }
        const created = await mkdir(dir, { recursive: true });
        if (created !== undefined) {
          // New directory entries are durable once their parents are fsynced.
          for (let d = dir; d.length >= created.length && d !== path.dirname(d); d = path.dirname(d)) dirs.add(path.dirname(d));
        }
        await rename(p.tmp, target);
      }),
    );
    await Promise.all([...dirs].map(syncDir));
  }

  async abort(): Promise<void> {
    const items = [...this.#pending.values()];
    this.#pending.clear();
    await Promise.allSettled(items.map((p) => p.written));
    await Promise.all(items.map((p) => (p.kind === 'file' ? rm(p.tmp, { force: true }) : undefined)));
    await this.#removeStrays();
  }

  async #removeStrays(): Promise<void> {
    await Promise.all(this.#strays.splice(0).map((f) => rm(f, { force: true })));
  }
}
