/**
 * Small blobs are appended to pack files instead of each getting a file of its own: on ext4 a
 * file creation (inode, directory entry, a rename, the directory's fsync) costs more than
 * writing a 20 KB message, and an archive of mail is mostly such messages (docs/decisions/0009).
 *
 * A pack is `<blobs>/packs/<name>.pack`, written by one process only (the name carries its pid
 * and random bytes), append-only, never rewritten:
 *
 *   file   = "MAILROOM-PACK 1\n" record*
 *   record = "BLOB" sha256 (32 bytes) length (uint64, big-endian) bytes
 *
 * The records describe themselves so that the index could be rebuilt from the packs alone. A
 * batch's records are written with one writev at positions reserved in order, then fdatasynced;
 * only then are they indexed, so the index never points at bytes a crash could lose. A crash
 * before that leaves records no index row points at: wasted bytes, never a wrong blob.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { closeFd, createFd, syncDir, syncFd, writeAll } from './fd.ts';

export const PACK_FILE_HEADER = Buffer.from('MAILROOM-PACK 1\n', 'latin1');
export const RECORD_MAGIC = Buffer.from('BLOB', 'latin1');
export const RECORD_HEADER_SIZE = RECORD_MAGIC.length + 32 + 8;
/** A pack is closed for appends once it is this large; the next append starts a new one. */
export const PACK_FILE_LIMIT = 256 * 1024 * 1024;

export interface PackedBlob {
  sha256: string;
  size: number;
  content: readonly Buffer[];
}

interface OpenPack {
  readonly name: string;
  /** The descriptor once the file exists with its header and its directory entry is durable. */
  readonly ready: Promise<number>;
  /** Bytes reserved so far: the position of the next record. */
  size: number;
  /** Appends in flight. */
  writing: number;
  /** No more appends; closed when the last one in flight ends. */
  retired: boolean;
  /** Settles once the descriptor is closed (after retirement). */
  readonly closed: Promise<void>;
  close: () => void;
}

export class PackWriter {
  readonly dir: string;
  readonly #limit: number;
  #current: OpenPack | null = null;

  constructor(dir: string, limit = PACK_FILE_LIMIT) {
    this.dir = dir;
    this.#limit = limit;
  }

  /**
   * Appends the blobs as records of one pack and makes them durable; returns where each one's
   * bytes start. Appends may run at the same time (each writes at its own reserved position).
   */
  async append(blobs: readonly PackedBlob[]): Promise<Array<{ pack: string; pos: number }>> {
    const buffers: Buffer[] = [];
    const offsets: number[] = [];
    let total = 0;
    for (const blob of blobs) {
      const header = Buffer.allocUnsafe(RECORD_HEADER_SIZE);
      RECORD_MAGIC.copy(header, 0);
      header.write(blob.sha256, RECORD_MAGIC.length, 'hex');
      header.writeBigUInt64BE(BigInt(blob.size), RECORD_MAGIC.length + 32);
      buffers.push(header, ...blob.content);
      offsets.push(total + RECORD_HEADER_SIZE);
      total += RECORD_HEADER_SIZE + blob.size;
    }
    const pack = this.#reserve(total);
    const at = pack.size;
    pack.size += total;
    pack.writing++;
    try {
      const fd = await pack.ready;
      await writeAll(fd, buffers, at);
      await syncFd(fd, false);
    } catch (err) {
      // A pack that failed a write (a full disk, an I/O error) takes no more records.
      this.#retire(pack);
      throw err;
    } finally {
      pack.writing--;
      this.#closeIfDone(pack);
    }
    return offsets.map((offset) => ({ pack: pack.name, pos: at + offset }));
  }

  /** Stops appending; resolves once the pack in use is closed, after its appends in flight. */
  async close(): Promise<void> {
    const current = this.#current;
    if (current === null) return;
    this.#retire(current);
    await current.closed;
  }

  #reserve(bytes: number): OpenPack {
    const current = this.#current;
    if (current && !current.retired && (current.size === PACK_FILE_HEADER.length || current.size + bytes <= this.#limit)) return current;
    if (current) this.#retire(current);
    const name = `${Date.now().toString(36)}-${process.pid}-${randomBytes(4).toString('hex')}.pack`;
    const file = path.join(this.dir, name);
    const ready = (async () => {
      const fd = await createFd(file, 'wx');
      try {
        await writeAll(fd, [PACK_FILE_HEADER], 0);
        // The new file's directory entry must be durable before any index row names it.
        await syncDir(this.dir);
        return fd;
      } catch (err) {
        await closeFd(fd).catch(() => undefined);
        throw err;
      }
    })();
    // Awaited by every append to this pack; a failure must not count as unhandled meanwhile.
    ready.catch(() => undefined);
    let close = (): void => undefined;
    const closed = new Promise<void>((resolve) => {
      close = () => void ready.then(closeFd).catch(() => undefined).finally(resolve);
    });
    const pack: OpenPack = { name, ready, size: PACK_FILE_HEADER.length, writing: 0, retired: false, closed, close };
    this.#current = pack;
    return pack;
  }

  #retire(pack: OpenPack): void {
    pack.retired = true;
    if (this.#current === pack) this.#current = null;
    this.#closeIfDone(pack);
  }

  #closeIfDone(pack: OpenPack): void {
    if (!pack.retired || pack.writing > 0) return;
    pack.close();
  }
}
