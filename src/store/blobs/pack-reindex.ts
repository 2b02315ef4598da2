/**
 * Rebuilds the pack index from the packs themselves (`mailroom blobs reindex`): each record
 * names its content (pack-writer.ts), so a lost or damaged `index.sqlite` costs no message. A
 * record is indexed only when its bytes hash to the SHA-256 its header gives, and only after the
 * pack is fdatasynced here: a record a live writer has written but not yet synced must not be
 * indexed ahead of its durability (a later put of the same content would then skip writing it).
 * A record that does not check out is reported and skipped; a pack whose next record is
 * incomplete (cut short by a crash, or being written right now) is read up to it.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { closeFd, openFd, syncFd } from './fd.ts';
import type { PackIndex, PackedLocation } from './pack-index.ts';
import { PACK_FILE_HEADER, RECORD_HEADER_SIZE, RECORD_MAGIC } from './pack-writer.ts';

export interface ReindexProblem {
  pack: string;
  /** Where the record starts in the pack. */
  at: number;
  /**
   * `damaged`: bytes that are not what they claim (restore the pack from a backup);
   * `incomplete`: the pack ends inside a record, as a crash leaves it (wasted bytes, no blob
   * lost: it was never indexed) or as a writer is writing it right now.
   */
  kind: 'damaged' | 'incomplete';
  reason: string;
}

export interface ReindexResult {
  packs: number;
  records: number;
  /** Index rows that were missing and are now written. */
  added: number;
  bytes: number;
  problems: ReindexProblem[];
}

const READ_SIZE = 1024 * 1024;

function readAt(fd: number, length: number, position: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  return new Promise((resolve, reject) =>
    fs.read(fd, buf, 0, length, position, (err, n) => (err ? reject(err) : resolve(buf.subarray(0, n)))),
  );
}

async function hashRange(fd: number, start: number, size: number): Promise<string> {
  const hash = createHash('sha256');
  for (let done = 0; done < size; ) {
    const chunk = await readAt(fd, Math.min(READ_SIZE, size - done), start + done);
    if (chunk.length === 0) break;
    hash.update(chunk);
    done += chunk.length;
  }
  return hash.digest('hex');
}

/** The records of one pack that check out, and what does not. */
async function scanPack(dir: string, name: string, length: number, onRecord: (bytes: number) => void): Promise<{ found: Array<{ sha256: string } & PackedLocation>; problems: ReindexProblem[]; bytes: number }> {
  const found: Array<{ sha256: string } & PackedLocation> = [];
  const problems: ReindexProblem[] = [];
  const fd = await openFd(path.join(dir, name), 'r');
  try {
    const head = await readAt(fd, PACK_FILE_HEADER.length, 0);
    if (head.length < PACK_FILE_HEADER.length && PACK_FILE_HEADER.subarray(0, head.length).equals(head)) {
      // Just created by a writer that has not written its first line yet (or a crash then).
      problems.push({ pack: name, at: 0, kind: 'incomplete', reason: 'the pack has no complete first line yet (just created, or a crash right then)' });
      return { found, problems, bytes: 0 };
    }
    if (!head.equals(PACK_FILE_HEADER)) {
      problems.push({ pack: name, at: 0, kind: 'damaged', reason: 'not a Mailroom pack (its first line is not "MAILROOM-PACK 1")' });
      return { found, problems, bytes: 0 };
    }
    let at = PACK_FILE_HEADER.length;
    while (at < length) {
      const header = await readAt(fd, RECORD_HEADER_SIZE, at);
      if (header.length < RECORD_HEADER_SIZE) {
        problems.push({ pack: name, at, kind: 'incomplete', reason: 'the pack ends inside a record header (cut short by a crash, or being written now); read up to it' });
        break;
      }
      if (!header.subarray(0, RECORD_MAGIC.length).equals(RECORD_MAGIC)) {
        problems.push({ pack: name, at, kind: 'damaged', reason: 'no record starts here; the rest of the pack is not read' });
        break;
      }
      const sha256 = header.subarray(RECORD_MAGIC.length, RECORD_MAGIC.length + 32).toString('hex');
      const size = Number(header.readBigUInt64BE(RECORD_MAGIC.length + 32));
      const start = at + RECORD_HEADER_SIZE;
      if (start + size > length) {
        problems.push({ pack: name, at, kind: 'incomplete', reason: `the pack ends inside a record (${length - start} of its ${size} bytes; cut short by a crash, or being written now); read up to it` });
        break;
      }
      const actual = await hashRange(fd, start, size);
      if (actual === sha256) found.push({ sha256, pack: name, pos: start, size });
      else problems.push({ pack: name, at, kind: 'damaged', reason: `the content of ${sha256} hashes to ${actual}; not indexed` });
      onRecord(RECORD_HEADER_SIZE + size);
      at = start + size;
    }
    // What gets indexed must be durable first (see the file comment).
    if (found.length > 0) await syncFd(fd, false);
    return { found, problems, bytes: at };
  } finally {
    await closeFd(fd);
  }
}

export interface ReindexProgress {
  records: number;
  bytes: number;
  totalBytes: number;
}

export async function reindexPacks(dir: string, index: PackIndex, onProgress?: (p: ReindexProgress) => void): Promise<ReindexResult> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.pack')).sort();
  // Sizes as they are now: a pack a live writer appends to is read up to here.
  const sizes = await Promise.all(names.map(async (n) => (await fs.promises.stat(path.join(dir, n))).size));
  const totalBytes = sizes.reduce((a, b) => a + b, 0);
  const result: ReindexResult = { packs: names.length, records: 0, added: 0, bytes: 0, problems: [] };
  let bytes = 0;
  let records = 0;
  onProgress?.({ records, bytes, totalBytes });
  for (const [i, name] of names.entries()) {
    const scanned = await scanPack(dir, name, sizes[i]!, (n) => {
      bytes += n;
      records++;
      onProgress?.({ records, bytes, totalBytes });
    });
    result.records += scanned.found.length;
    result.bytes += scanned.bytes;
    result.problems.push(...scanned.problems);
    if (scanned.found.length > 0) result.added += index.add(scanned.found);
  }
  return result;
}
