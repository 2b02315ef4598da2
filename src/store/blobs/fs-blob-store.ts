import { createHash, randomBytes } from 'node:crypto';
import fs, { createReadStream, existsSync, mkdirSync } from 'node:fs';
import { rename, rm, mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { AppError } from '../../errors/index.ts';
import type { BlobBatch, BlobRef, BlobStore } from './types.ts';

const SHA256 = /^[0-9a-f]{64}$/;

/**
 * Blobs under `<root>/ab/<sha256>`: 256 directories, as git does, rather than the 65,536 of a
 * two-level fan-out, whose directory creations (an inode and a parent fsync each) cost an
 * import as much as the blobs themselves (docs/decisions/0007). Blobs written by earlier
 * versions under `<root>/ab/cd/<sha256>` are still found there. Writes go to `<root>/tmp`, are
 * fsynced, then renamed: a reader never sees a half-written blob, and a crash leaves at worst a
 * stray temp file. Batching lets an import fsync a few hundred files in parallel.
 */
export class FsBlobStore implements BlobStore {
  readonly root: string;
  readonly #tmp: string;

  constructor(root: string) {
    this.root = root;
    this.#tmp = path.join(root, 'tmp');
    mkdirSync(this.#tmp, { recursive: true });
  }

  pathOf(sha256: string): string {
    if (!SHA256.test(sha256)) throw new AppError('BLOB_MISSING', `Not a blob address: ${sha256}`);
    return path.join(this.root, sha256.slice(0, 2), sha256);
  }

  /** The blob's file, where this version writes it or where earlier ones did; null when absent. */
  #find(sha256: string): string | null {
    const file = this.pathOf(sha256);
    if (existsSync(file)) return file;
    const legacy = path.join(this.root, sha256.slice(0, 2), sha256.slice(2, 4), sha256);
    return existsSync(legacy) ? legacy : null;
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
    const file = this.#find(sha256);
    if (file === null) {
      throw new AppError('BLOB_MISSING', `The stored content ${sha256} is missing from the blob store at ${this.root}; restore it from a backup.`);
    }
    return createReadStream(file);
  }

  async has(sha256: string): Promise<boolean> {
    return this.#find(sha256) !== null;
  }

  async verify(sha256: string): Promise<{ ok: boolean; actual: string | null; size: number }> {
    const file = this.#find(sha256);
    if (file === null) return { ok: false, actual: null, size: 0 };
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of createReadStream(file)) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
    const actual = hash.digest('hex');
    return { ok: actual === sha256, actual, size };
  }
}

/** A blob of this batch in its temp file. */
interface Pending {
  tmp: string;
  sha256: string;
  /** Settles when the temp file is complete and fdatasynced; a buffered put() resolves after it, a streamed one once the bytes are written. */
  written: Promise<void>;
}

/** Stream content up to this size is collected in memory and written with one system call. */
const STREAM_BUFFER_LIMIT = 1024 * 1024;
/** Once a stream is written as it arrives, chunks are gathered up to this size per write. */
const STREAM_WRITE_SIZE = 256 * 1024;

function errorCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

/*
 * The callback forms of fs with plain descriptors: each fs/promises FileHandle call costs the
 * event loop about a third more, and a batch makes a dozen such calls per blob.
 */
function openFd(file: string, flags: string): Promise<number> {
  return new Promise((resolve, reject) => fs.open(file, flags, 0o666, (err, fd) => (err ? reject(err) : resolve(fd))));
}

/**
 * Temp files are created one at a time, in the process, not as many at once as the thread pool
 * runs. A creation takes the directory's lock while ext4 looks for a free inode, and without a
 * journal it passes over inodes freed in the last seconds to minutes, looking each one up
 * (`recently_deleted`): after other files were deleted nearby, one creation costs up to a
 * millisecond, and the pool's other threads spin on the lock meanwhile (`rwsem_spin_on_owner`,
 * a tenth of all CPU samples of a sync in `perf`). One at a time, the writes and fsyncs of other
 * blobs still run in parallel; the sync used 2 s less CPU (docs/benchmarks.md, "Third round").
 */
let creating: Promise<unknown> = Promise.resolve();
function createFd(file: string): Promise<number> {
  const next = creating.then(() => openFd(file, 'w'));
  creating = next.catch(() => undefined);
  return next;
}

function closeFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.close(fd, (err) => (err ? reject(err) : resolve())));
}

function syncFd(fd: number, directory: boolean): Promise<void> {
  return new Promise((resolve, reject) => (directory ? fs.fsync : fs.fdatasync)(fd, (err) => (err ? reject(err) : resolve())));
}

async function writeAll(fd: number, buffers: Buffer[], position: number): Promise<number> {
  let written = 0;
  let rest = buffers;
  const total = buffers.reduce((n, b) => n + b.length, 0);
  while (written < total) {
    const n = await new Promise<number>((resolve, reject) => fs.writev(fd, rest, position + written, (err, bytes) => (err ? reject(err) : resolve(bytes))));
    written += n;
    if (written < total) {
      // A short write: go on with what is left.
      let skip = n;
      const left: Buffer[] = [];
      for (const b of rest) {
        if (skip >= b.length) skip -= b.length;
        else {
          left.push(skip > 0 ? b.subarray(skip) : b);
          skip = 0;
        }
      }
      rest = left;
    }
  }
  return total;
}

/**
 * Writes go to temp files under `<root>/tmp`, each fdatasynced as soon as it is written (in the
 * thread pool, while the caller parses: commit() then only waits for what is still going).
 * commit() renames them into place at once, creating directories only when a rename finds
 * none, and fsyncs each directory it touched once (and the parents of those it created), so
 * that a committed blob survives a crash.
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
      await this.#putBuffers(sha256, [content]);
      return { sha256, size: content.length };
    }
    return this.#putStream(content);
  }

  /** Writes the content unless the batch holds it already; resolves once the temp file is written. */
  #putBuffers(sha256: string, content: Buffer[]): Promise<void> {
    const existing = this.#pending.get(sha256);
    if (existing) return existing.written;
    const pending: Pending = { tmp: this.#tmpPath(), sha256, written: Promise.resolve() };
    pending.written = this.#write(pending, content);
    // Awaited by put, commit and abort; a failure must not count as unhandled meanwhile.
    pending.written.catch(() => undefined);
    this.#pending.set(sha256, pending);
    return pending.written;
  }

  async #write(pending: Pending, content: Buffer[]): Promise<void> {
    const fd = await createFd(pending.tmp);
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
      // Small enough to have been kept whole: written in one go.
      await this.#putBuffers(sha256, chunks);
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
      this.#pending.set(sha256, { tmp: tmp!, sha256, written });
    }
    return { sha256, size };
  }

  fileOf(sha256: string): string | null {
    return this.#pending.get(sha256)?.tmp ?? null;
  }

  read(sha256: string): Readable {
    const pending = this.#pending.get(sha256);
    return pending ? createReadStream(pending.tmp) : this.#store.get(sha256);
  }

  async commit(): Promise<void> {
    const items = [...this.#pending.values()];
    await Promise.all(items.map((p) => p.written));
    const dirs = new Set<string>();
    await Promise.all(
      items.map(async (p) => {
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
    await Promise.all(
      [...dirs].map(async (d) => {
        const fd = await openFd(d, 'r');
        try {
          await syncFd(fd, true);
        } finally {
          await closeFd(fd);
        }
      }),
    );
    this.#pending.clear();
    await this.#removeStrays();
  }

  async abort(): Promise<void> {
    const items = [...this.#pending.values()];
    this.#pending.clear();
    await Promise.allSettled(items.map((p) => p.written));
    await Promise.all(items.map((p) => rm(p.tmp, { force: true })));
    await this.#removeStrays();
  }

  async #removeStrays(): Promise<void> {
    await Promise.all(this.#strays.splice(0).map((f) => rm(f, { force: true })));
  }
}
