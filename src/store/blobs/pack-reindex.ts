/**
 * Rebuilds the pack index from the packs themselves (`mailroom blobs reindex`): each record
 * names its content (pack-writer.ts), so a lost or damaged `index.sqlite` costs no message. A
 * record is indexed only when its bytes hash to the SHA-256 its header gives, and only after the
 * pack is fdatasynced here: a record a live writer has written but not yet synced must not be
 * indexed ahead of its durability (a later put of the same content would then skip writing it).
 * A record that does not check out is reported and skipped; a pack whose next record is
 * incomplete (cut short by a crash, or being written right now) is read up to it.
 *
 * A blob can sit in two packs (two processes packed it at once, or a run after the index was
 * lost): when the copy the index points at turns out damaged and another copy checks out, the
 * index is moved to that copy, so nothing is lost that a pack still holds intact. A damaged
 * record is reported with where its blob's index row points when that copy checks out.
 */
import { createHash } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { closeFd, openFd, readAt, syncFd } from './fd.ts';
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
  /** A damaged record: the blob its header names (absent when no record header was found). */
  sha256?: string;
  /**
   * A damaged record with a readable header: where an intact copy of its blob is, which the
   * index now points at (the record's start in its pack), or null when no pack holds one: the
   * blob is lost until the damaged pack is restored from a backup.
   */
  intactCopy?: { pack: string; at: number } | null;
}

export interface ReindexResult {
  packs: number;
  records: number;
  /** Index rows that were missing and are now written. */
  added: number;
  /** Index rows that pointed at a damaged record and now point at an intact copy of its blob. */
  repointed: number;
  bytes: number;
  problems: ReindexProblem[];
}

const READ_SIZE = 1024 * 1024;

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

type PackRecord = { sha256: string } & PackedLocation;

function sameLocation(a: PackedLocation, b: PackedLocation): boolean {
  return a.pack === b.pack && a.pos === b.pos;
}

/** The SHA-256 of what a location holds (null when its pack is gone). */
async function hashRangeOf(dir: string, at: PackedLocation): Promise<string | null> {
  let fd: number;
  try {
    fd = await openFd(path.join(dir, at.pack), 'r');
  } catch {
    return null;
  }
  try {
    return await hashRange(fd, at.pos, at.size);
  } finally {
    await closeFd(fd);
  }
}

/** A record whose bytes do not hash to the SHA-256 its header gives. */
interface DamagedRecord extends PackRecord {
  actual: string;
}

interface ScannedPack {
  found: PackRecord[];
  damaged: DamagedRecord[];
  problems: ReindexProblem[];
  bytes: number;
}

/** The records of one pack that check out, those that do not, and what else is wrong. */
async function scanPack(dir: string, name: string, length: number, onRecord: (bytes: number) => void): Promise<ScannedPack> {
  const found: PackRecord[] = [];
  const damaged: DamagedRecord[] = [];
  const problems: ReindexProblem[] = [];
  const fd = await openFd(path.join(dir, name), 'r');
  try {
    const head = await readAt(fd, PACK_FILE_HEADER.length, 0);
    if (head.length < PACK_FILE_HEADER.length && PACK_FILE_HEADER.subarray(0, head.length).equals(head)) {
      // Just created by a writer that has not written its first line yet (or a crash then).
      problems.push({ pack: name, at: 0, kind: 'incomplete', reason: 'the pack has no complete first line yet (just created, or a crash right then)' });
      return { found, damaged, problems, bytes: 0 };
    }
    if (!head.equals(PACK_FILE_HEADER)) {
      problems.push({ pack: name, at: 0, kind: 'damaged', reason: 'not a Mailroom pack (its first line is not "MAILROOM-PACK 1")' });
      return { found, damaged, problems, bytes: 0 };
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
      else damaged.push({ sha256, pack: name, pos: start, size, actual });
      onRecord(RECORD_HEADER_SIZE + size);
      at = start + size;
    }
    // What gets indexed must be durable first (see the file comment).
    if (found.length > 0) await syncFd(fd, false);
    return { found, damaged, problems, bytes: at };
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
  const sizes = await Promise.all(names.map(async (n) => (await stat(path.join(dir, n))).size));
  const totalBytes = sizes.reduce((a, b) => a + b, 0);
  const result: ReindexResult = { packs: names.length, records: 0, added: 0, repointed: 0, bytes: 0, problems: [] };
  let bytes = 0;
  let records = 0;
  /**
   * An intact copy of each blob whose index row points elsewhere: only blobs packed twice or
   * more get here, so this stays small however large the archive (no map of every blob).
   */
  const spare = new Map<string, PackedLocation>();
  const damaged: DamagedRecord[] = [];
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
    damaged.push(...scanned.damaged);
    if (scanned.found.length === 0) continue;
    result.added += index.add(scanned.found);
    for (const r of scanned.found) {
      const row = index.find(r.sha256);
      if (row && !sameLocation(row, r) && !spare.has(r.sha256)) spare.set(r.sha256, r);
    }
  }
  // Rows on a damaged record move to a spare copy (compare-and-set: a row a writer changed
  // meanwhile stays); then each damaged record's blob is looked up where its row now points.
  const moves = damaged.flatMap((d) => {
    const to = spare.get(d.sha256);
    return to ? [{ sha256: d.sha256, from: d, to }] : [];
  });
  if (moves.length > 0) result.repointed = index.repoint(moves);
  for (const d of damaged) {
    const row = index.find(d.sha256);
    const intact = row !== null && !sameLocation(row, d) && (await hashRangeOf(dir, row)) === d.sha256;
    result.problems.push({
      pack: d.pack,
      at: d.pos - RECORD_HEADER_SIZE,
      kind: 'damaged',
      reason: intact
        ? `the content of ${d.sha256} hashes to ${d.actual}; the index points at an intact copy in ${row.pack} at byte ${row.pos - RECORD_HEADER_SIZE}`
        : `the content of ${d.sha256} hashes to ${d.actual}; no pack holds an intact copy: restore this pack from a backup`,
      sha256: d.sha256,
      intactCopy: intact ? { pack: row.pack, at: row.pos - RECORD_HEADER_SIZE } : null,
    });
  }
  result.problems.sort((a, b) => (a.pack === b.pack ? a.at - b.at : a.pack < b.pack ? -1 : 1));
  return result;
}
