import { randomBytes } from 'node:crypto';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { ioError, sourceError } from './errors.ts';
import { DEFAULT_IN_MEMORY_LIMIT, type ReaderOptions, type SourceMessage } from './types.ts';

const NL = 0x0a;
const CR = 0x0d;
const GT = 0x3e;
/** A separator candidate: a line starting with "From " (checked for a blank line before it). */
const FROM_LINE = Buffer.from('\nFrom ');
/** A quoting candidate: a line starting with ">" (checked for ">*From " after it). */
const QUOTE_LINE = Buffer.from('\n>');
const FROM = Buffer.from('From ');
const EMPTY = Buffer.alloc(0);

/** Bytes read per system call. */
const CHUNK = 1024 * 1024;
/** A line longer than this is scanned in pieces instead of being carried whole to the next read. */
const MAX_CARRY = 1024 * 1024;

/** An mbox starts with a "From " envelope line (RFC 4155). */
export function looksLikeMbox(head: Buffer): boolean {
  return head.length >= 5 && head.compare(FROM, 0, 5, 0, 5) === 0;
}

export interface MboxOptions extends ReaderOptions {
  /** Bytes per read (tests use small ones to exercise boundaries). */
  chunkSize?: number;
  /** Longest partial line carried from one read to the next. */
  maxCarry?: number;
}

/** A message too large for memory, written to an already-unlinked temporary file. */
interface Spill {
  fh: FileHandle;
  file: string;
  size: number;
}

/**
 * Reads an mbox (mboxo or mboxrd, LF or CRLF) message by message without loading the file.
 *
 * A message starts after a "From " line that is at the start of the file or follows a blank line;
 * that envelope line is dropped, and so is the blank line that separates a message from the next
 * "From " line (or ends the file). Lines quoted as ">From ", ">>From ", ... lose one ">" (mboxrd;
 * for mboxo files this undoes the quoting of "From " lines too).
 *
 * The scan is done with Buffer.indexOf over 1 MiB reads into two buffers used in turn, carrying
 * only the last partial line (and a trailing blank line) from one read to the next. A message
 * smaller than the in-memory limit is handed on as a Buffer of its own (copied out of the read
 * buffer, so that no message keeps a whole read buffer alive); a larger one is written to a
 * temporary file as it is scanned and handed on as a stream of that file.
 */
export async function* readMbox(file: string, options: MboxOptions = {}): AsyncGenerator<SourceMessage> {
  const chunkSize = options.chunkSize ?? CHUNK;
  const maxCarry = options.maxCarry ?? MAX_CARRY;
  const limit = options.inMemoryLimit ?? DEFAULT_IN_MEMORY_LIMIT;
  const spillDir = options.spillDir ?? tmpdir();
  let fh: FileHandle;
  try {
    fh = await open(file, 'r');
  } catch (err) {
    throw ioError(file, err);
  }

  // State carried across reads.
  let n = 1; // number of the message being read
  let skippingEnvelope = true; // inside a "From " envelope line
  let parts: Buffer[] = [];
  let partsSize = 0;
  /** parts is one buffer of its own (not a view of a read buffer). */
  let partsOwned = false;
  let spill: Spill | null = null;
  let pending: Array<SourceMessage> = [];

  async function append(buf: Buffer): Promise<void> {
    if (buf.length === 0) return;
    if (spill === null && partsSize + buf.length > limit) {
      const tmp = path.join(spillDir, `mailroom-mbox-${process.pid}-${randomBytes(8).toString('hex')}`);
      let handle: FileHandle;
      try {
        handle = await open(tmp, 'w+', 0o600);
      } catch (err) {
        throw sourceError(file, `message ${n} is larger than ${limit} bytes and cannot be spilled to ${spillDir} (${(err as Error).message})`, err);
      }
      spill = { fh: handle, file: tmp, size: 0 };
      // Unlinked at once: the open handle keeps the bytes, and nothing is left behind on a crash.
      try {
        await unlink(tmp);
      } catch {
        // Platforms that cannot unlink an open file remove it when the stream closes.
      }
      for (const p of parts) await writeSpill(spill, p);
      parts = [];
      partsSize = 0;
      partsOwned = false;
    }
    if (spill !== null) await writeSpill(spill, buf);
    else {
      parts.push(buf);
      partsSize += buf.length;
      partsOwned = false;
    }
  }

  function finish(sourceBytes: number): void {
    const number = n++;
    if (spill !== null) {
      const s: Spill = spill;
      spill = null;
      const stream: Readable = s.fh.createReadStream({ start: 0, autoClose: true });
      stream.once('close', () => {
        unlink(s.file).catch(() => undefined);
      });
      pending.push({ file: `${file}#${number}`, raw: stream, size: s.size, sourceBytes });
      return;
    }
    if (partsSize === 0) {
      parts = [];
      return; // an empty message: nothing to archive
    }
    // A copy of its own: the read buffers are reused, and a message does not keep one alive.
    const raw = partsOwned ? parts[0]! : Buffer.concat(parts, partsSize);
    pending.push({ file: `${file}#${number}`, raw, size: partsSize, sourceBytes });
    parts = [];
    partsSize = 0;
    partsOwned = false;
  }

  /** Copies what the current message holds of the read buffer, before the buffer is reused. */
  function ownParts(): void {
    if (partsOwned || parts.length === 0) return;
    parts = [Buffer.concat(parts, partsSize)];
    partsOwned = true;
  }

  /** Appends r[a, b) to the current message, removing one ">" from each ">*From " line. */
  async function appendUnquoted(r: Buffer, a: number, b: number, aAtLineStart: boolean): Promise<void> {
    const view = b === r.length ? r : r.subarray(0, b);
    let start = a;
    let lineStart = aAtLineStart && view[a] === GT ? a : -1;
    let from = a;
    for (;;) {
      if (lineStart === -1) {
        const q = view.indexOf(QUOTE_LINE, from);
        if (q === -1) break;
        lineStart = q + 1;
      }
      let k = lineStart;
      while (k < b && view[k] === GT) k++;
      if (k + 5 <= b && view.compare(FROM, 0, 5, k, k + 5) === 0) {
        await append(view.subarray(start, lineStart));
        start = lineStart + 1;
      }
      from = k;
      lineStart = -1;
    }
    await append(view.subarray(start, b));
  }

  /**
   * Scans a region of whole lines (or, for an overlong line, a piece of one) that starts at file
   * offset `offset`. `atLineStart` says whether r[0] starts a line.
   */
  async function scan(r: Buffer, offset: number, atLineStart: boolean, eof: boolean): Promise<void> {
    let seg = 0;
    let segAtLineStart = atLineStart;
    if (skippingEnvelope) {
      const nl = r.indexOf(NL);
      if (nl === -1) return; // the envelope line goes on in the next region
      skippingEnvelope = false;
      seg = nl + 1;
      segAtLineStart = true;
    }
    let from = seg === 0 ? 0 : seg - 1;
    for (;;) {
      const i = r.indexOf(FROM_LINE, from);
      if (i === -1) break;
      from = i + 1;
      // The line ending at r[i] must be blank: "\n" or "\r\n" on its own.
      let msgEnd: number;
      if (i >= 1 && r[i - 1] === NL) msgEnd = i;
      else if (i === 0 && atLineStart) msgEnd = 0;
      else if (i >= 1 && r[i - 1] === CR && (i >= 2 ? r[i - 2] === NL : atLineStart)) msgEnd = i - 1;
      else continue; // a "From " line inside a paragraph: part of the message (mboxo)
      if (msgEnd < seg) msgEnd = seg; // the blank line was the envelope's own line end
      await appendUnquoted(r, seg, msgEnd, segAtLineStart);
      finish(offset + i + 1);
      const nl = r.indexOf(NL, i + 1);
      if (nl === -1) {
        skippingEnvelope = true;
        return;
      }
      seg = nl + 1;
      segAtLineStart = true;
      from = nl;
    }
    let end = r.length;
    if (eof) end = Math.max(seg, withoutTrailingBlankLine(r, atLineStart));
    await appendUnquoted(r, seg, end, segAtLineStart);
    if (eof) finish(offset + r.length);
  }

  try {
    let position = 0;
    let carry: Buffer = EMPTY;
    let carryAtLineStart = true;
    const head = await readChunk(fh, file, 0, 5);
    if (!looksLikeMbox(head)) {
      throw sourceError(file, head.length === 0 ? 'the file is empty' : 'it is not an mbox file (it does not start with a "From " line)');
    }
    // Two read buffers, used in turn: one is scanned while the next read fills the other. A
    // read lands at `reserve`, and the partial line carried over from the previous region is
    // copied right before it (a carry is at most maxCarry plus a blank line's two bytes).
    const reserve = maxCarry + 2;
    const buffers = [Buffer.allocUnsafeSlow(reserve + chunkSize), Buffer.allocUnsafeSlow(reserve + chunkSize)];
    let current = 0;
    let next: Promise<number> | null = readInto(fh, file, buffers[current]!, reserve, chunkSize, position);
    while (next !== null) {
      const bytes: number = await next;
      const buf = buffers[current]!;
      const offset = position - carry.length;
      position += bytes;
      const eof: boolean = bytes === 0;
      carry.copy(buf, reserve - carry.length);
      const win = buf.subarray(reserve - carry.length, reserve + bytes);
      carry = EMPTY;
      // The other buffer is free now (what was needed of it is copied): read ahead into it.
      current = 1 - current;
      next = eof ? null : readInto(fh, file, buffers[current]!, reserve, chunkSize, position);
      if (eof) {
        await scan(win, offset, carryAtLineStart, true);
      } else {
        const lastNl = win.lastIndexOf(NL);
        let end = 0;
        let nextAtLineStart = true;
        if (win.length - (lastNl + 1) > maxCarry) {
          // An overlong line: scan what we have; the next region starts inside that line.
          end = win.length;
          nextAtLineStart = false;
        } else if (lastNl !== -1) {
          // Keep a trailing blank line for the next region: it decides whether a "From " line
          // at the start of the next read is a separator.
          end = lastNl + 1;
          end -= trailingBlankLine(win, end, carryAtLineStart);
        }
        if (end > 0) {
          await scan(end === win.length ? win : win.subarray(0, end), offset, carryAtLineStart, false);
          carryAtLineStart = nextAtLineStart;
        }
        carry = end === win.length ? EMPTY : win.subarray(end);
        ownParts();
      }
      if (pending.length > 0) {
        const out = pending;
        pending = [];
        for (const m of out) yield m;
      }
    }
  } finally {
    const left = spill as Spill | null;
    if (left !== null) {
      await left.fh.close().catch(() => undefined);
      await unlink(left.file).catch(() => undefined);
    }
    for (const m of pending) if (!Buffer.isBuffer(m.raw)) m.raw.destroy();
    await fh.close().catch(() => undefined);
  }
}

async function readInto(fh: FileHandle, file: string, buf: Buffer, at: number, size: number, position: number): Promise<number> {
  try {
    return (await fh.read(buf, at, size, position)).bytesRead;
  } catch (err) {
    throw ioError(file, err);
  }
}

async function readChunk(fh: FileHandle, file: string, position: number, size: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(size);
  try {
    const { bytesRead } = await fh.read(buf, 0, size, position);
    return bytesRead === size ? buf : buf.subarray(0, bytesRead);
  } catch (err) {
    throw ioError(file, err);
  }
}

async function writeSpill(s: Spill, buf: Buffer): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await s.fh.write(buf, done, buf.length - done, s.size + done);
    done += bytesWritten;
  }
  s.size += buf.length;
}

/** Length (0, 1 or 2) of a blank last line of r[0, end), which ends with "\n". */
function trailingBlankLine(r: Buffer, end: number, atLineStart: boolean): number {
  if (end >= 2 && r[end - 2] === NL) return 1;
  if (end === 1) return atLineStart ? 1 : 0;
  if (r[end - 2] === CR) {
    if (end >= 3) return r[end - 3] === NL ? 2 : 0;
    return atLineStart ? 2 : 0;
  }
  return 0;
}

/** Where the last message of the file ends: before the blank line that closes it, if any. */
function withoutTrailingBlankLine(r: Buffer, atLineStart: boolean): number {
  const end = r.length;
  if (end === 0 || r[end - 1] !== NL) return end;
  return end - trailingBlankLine(r, end, atLineStart);
}
