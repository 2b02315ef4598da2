import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync } from 'node:fs';
import { open, rename, rm, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AppError } from '../../errors/index.ts';
import type { BlobBatch, BlobRef, BlobStore } from './types.ts';

const SHA256 = /^[0-9a-f]{64}$/;

/**
 * Blobs under `<root>/ab/cd/<sha256>`. Writes go to `<root>/tmp`, are fsynced, then renamed:
 * a reader never sees a half-written blob, and a crash leaves at worst a stray temp file.
 * Batching lets an import fsync a few hundred files in parallel instead of one at a time.
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
    return path.join(this.root, sha256.slice(0, 2), sha256.slice(2, 4), sha256);
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
    const file = this.pathOf(sha256);
    if (!existsSync(file)) {
      throw new AppError('BLOB_MISSING', `The stored content ${sha256} is missing from the blob store at ${this.root}; restore it from a backup.`);
    }
    return createReadStream(file);
  }

  async has(sha256: string): Promise<boolean> {
    return existsSync(this.pathOf(sha256));
  }

  async verify(sha256: string): Promise<{ ok: boolean; actual: string | null; size: number }> {
    const file = this.pathOf(sha256);
    if (!existsSync(file)) return { ok: false, actual: null, size: 0 };
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

interface Pending {
  tmp: string;
  sha256: string;
}

class FsBlobBatch implements BlobBatch {
  readonly #store: FsBlobStore;
  readonly #tmpDir: string;
  readonly #pending = new Map<string, Pending>();
  readonly #strays: string[] = [];

  constructor(store: FsBlobStore, tmpDir: string) {
    this.#store = store;
    this.#tmpDir = tmpDir;
  }

  async put(content: Readable | Buffer): Promise<BlobRef> {
    const tmp = path.join(this.#tmpDir, `${process.pid}-${randomBytes(8).toString('hex')}`);
    const hash = createHash('sha256');
    let size = 0;
    if (Buffer.isBuffer(content)) {
      hash.update(content);
      size = content.length;
      const fh = await open(tmp, 'w');
      try {
        await fh.writeFile(content);
      } finally {
        await fh.close();
      }
    } else {
      const counter = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          hash.update(chunk);
          size += chunk.length;
          cb(null, chunk);
        },
      });
      try {
        await pipeline(content, counter, createWriteStream(tmp));
      } catch (err) {
        await rm(tmp, { force: true });
        throw err;
      }
    }
    const sha256 = hash.digest('hex');
    if (this.#pending.has(sha256) || existsSync(this.#store.pathOf(sha256))) {
      // Same content already stored or pending: keep one copy.
      this.#strays.push(tmp);
    } else {
      this.#pending.set(sha256, { tmp, sha256 });
    }
    return { sha256, size };
  }

  read(sha256: string): Readable {
    const pending = this.#pending.get(sha256);
    return pending ? createReadStream(pending.tmp) : this.#store.get(sha256);
  }

  async commit(): Promise<void> {
    const items = [...this.#pending.values()];
    await Promise.all(items.map((p) => fsyncFile(p.tmp)));
    const dirs = new Set<string>();
    for (const p of items) {
      const target = this.#store.pathOf(p.sha256);
      const dir = path.dirname(target);
      if (!dirs.has(dir)) await mkdir(dir, { recursive: true });
      dirs.add(dir);
      await rename(p.tmp, target);
    }
    await Promise.all([...dirs].map((d) => fsyncFile(d)));
    this.#pending.clear();
    await this.#removeStrays();
  }

  async abort(): Promise<void> {
    await Promise.all([...this.#pending.values()].map((p) => rm(p.tmp, { force: true })));
    this.#pending.clear();
    await this.#removeStrays();
  }

  async #removeStrays(): Promise<void> {
    await Promise.all(this.#strays.splice(0).map((f) => rm(f, { force: true })));
  }
}

async function fsyncFile(file: string): Promise<void> {
  const fh = await open(file, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

