import { createReadStream } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { isAppError } from '../../errors/index.ts';
import { ioError, sourceError } from './errors.ts';
import { DEFAULT_IN_MEMORY_LIMIT, type SourceMessage } from './types.ts';

/**
 * One message file (.eml, a Maildir entry): a Buffer up to the in-memory limit, else a stream
 * of the file. `sourceBytesBefore` is what the source had consumed before this file.
 */
export async function readMessageFile(file: string, limit = DEFAULT_IN_MEMORY_LIMIT, sourceBytesBefore = 0): Promise<SourceMessage> {
  let fh;
  try {
    fh = await open(file, 'r');
  } catch (err) {
    throw ioError(file, err);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw sourceError(file, 'it is not a regular file');
    if (st.size > limit) {
      // Opened by path again so the stream owns its descriptor; this one is closed below.
      return { file, raw: createReadStream(file), size: st.size, sourceBytes: sourceBytesBefore + st.size };
    }
    const raw = await fh.readFile();
    return { file, raw, size: raw.length, sourceBytes: sourceBytesBefore + raw.length };
  } catch (err) {
    throw isAppError(err) ? err : ioError(file, err);
  } finally {
    await fh.close();
  }
}

/** The first bytes of a file, for sniffing its kind. */
export async function readHead(file: string, length = 512): Promise<Buffer> {
  let fh;
  try {
    fh = await open(file, 'r');
  } catch (err) {
    throw ioError(file, err);
  }
  try {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await fh.read(buf, 0, length, 0);
    return buf.subarray(0, bytesRead);
  } catch (err) {
    throw ioError(file, err);
  } finally {
    await fh.close();
  }
}

/** Does a file start like an RFC 5322 message (a header field, or a "From " envelope)? */
export function looksLikeMessage(head: Buffer): boolean {
  // A header field name is printable US-ASCII except ":" (RFC 5322 §2.2), then ":".
  let i = 0;
  while (i < head.length && head[i]! >= 0x21 && head[i]! <= 0x7e && head[i] !== 0x3a) i++;
  return i > 0 && i < head.length && head[i] === 0x3a;
}

const collator = new Intl.Collator('en', { numeric: true, sensitivity: 'variant' });

/** Natural order ("2.eml" before "10.eml"), ties broken by code unit so the order is total. */
export function compareNames(a: string, b: string): number {
  return collator.compare(a, b) || (a < b ? -1 : a > b ? 1 : 0);
}

/** A directory's entries in natural order. */
export async function listDir(dir: string): Promise<Array<{ name: string; isDir: boolean; isFile: boolean; isLink: boolean }>> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    throw ioError(dir, err);
  }
  return entries
    .map((e) => ({ name: e.name, isDir: e.isDirectory(), isFile: e.isFile(), isLink: e.isSymbolicLink() }))
    .sort((a, b) => compareNames(a.name, b.name));
}

/** stat that answers null for a missing path instead of throwing. */
export async function statOrNull(p: string): Promise<Awaited<ReturnType<typeof stat>> | null> {
  try {
    return await stat(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
    throw ioError(p, err);
  }
}

export function isDirectory(p: string): Promise<boolean> {
  return statOrNull(p).then((s) => s !== null && s.isDirectory());
}
