import { stat } from 'node:fs/promises';
import path from 'node:path';
import { isAppError } from '../../errors/index.ts';
import { ioError } from './errors.ts';
import { listDir, looksLikeMessage, readHead, readMessageFile } from './files.ts';
import { countMaildir, isMaildir, readMaildir } from './maildir.ts';
import { looksLikeMbox, readMbox } from './mbox.ts';
import { DEFAULT_IN_MEMORY_LIMIT, type ReaderOptions, type SourceEntry } from './types.ts';

/** What a directory walk found at a path. */
export type WalkItem =
  | { kind: 'eml' | 'mbox'; path: string; size: number }
  | { kind: 'maildir'; path: string }
  | { kind: 'skip'; path: string; reason: string }
  | { kind: 'error'; path: string; error: unknown };

/** Extensions of files that hold one message each, or an mbox. */
const EML = new Set(['.eml']);
const MBOX = new Set(['.mbox', '.mbx']);
/** Files that commonly sit beside mail and are not mail, with the reason shown when skipped. */
const KNOWN_OTHER: Record<string, string> = {
  '.msg': 'an Outlook .msg file, not MIME; export it as .eml',
  '.pst': 'an Outlook data file, not MIME; export its messages as .eml or mbox',
  '.ost': 'an Outlook data file, not MIME; export its messages as .eml or mbox',
  '.msf': 'a Thunderbird index file',
};

/**
 * Walks a directory depth-first in natural name order and classifies what it finds:
 * `.eml` files are messages; `.mbox` files and extensionless files starting with "From " are
 * mboxes; other extensionless files that start with a header field are messages (MH folders,
 * exports without extensions); a subdirectory with cur/ and new/ is a Maildir. Hidden entries
 * are passed over silently; anything else is passed over with a reason. Symbolic links to files
 * are followed, links to directories are not (they could loop).
 */
export async function* walkDirectory(dir: string): AsyncGenerator<WalkItem> {
  let entries;
  try {
    entries = await listDir(dir);
  } catch (err) {
    yield { kind: 'error', path: dir, error: err };
    return;
  }
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const p = path.join(dir, e.name);
    let isDir = e.isDir;
    let isFile = e.isFile;
    let size = -1;
    if (e.isLink || (!isDir && !isFile)) {
      try {
        const st = await stat(p);
        if (e.isLink && st.isDirectory()) {
          yield { kind: 'skip', path: p, reason: 'a symbolic link to a directory (not followed)' };
          continue;
        }
        isDir = st.isDirectory();
        isFile = st.isFile();
        size = st.size;
      } catch (err) {
        yield { kind: 'error', path: p, error: err };
        continue;
      }
    }
    if (isDir) {
      if (await isMaildir(p)) yield { kind: 'maildir', path: p };
      else yield* walkDirectory(p);
      continue;
    }
    if (!isFile) {
      yield { kind: 'skip', path: p, reason: 'not a regular file' };
      continue;
    }
    yield await classifyFile(p, size);
  }
}

async function classifyFile(p: string, knownSize: number): Promise<WalkItem> {
  const ext = path.extname(p).toLowerCase();
  const other = KNOWN_OTHER[ext];
  if (other !== undefined) return { kind: 'skip', path: p, reason: other };
  if (!EML.has(ext) && !MBOX.has(ext) && ext !== '') return { kind: 'skip', path: p, reason: `not a mail file (only .eml, .mbox and extensionless message files are imported)` };
  let size = knownSize;
  let head: Buffer;
  try {
    if (size < 0) size = (await stat(p)).size;
    head = await readHead(p, 256);
  } catch (err) {
    return { kind: 'error', path: p, error: err };
  }
  if (size === 0) return { kind: 'skip', path: p, reason: 'the file is empty' };
  if (EML.has(ext)) return { kind: 'eml', path: p, size };
  if (looksLikeMbox(head)) return { kind: 'mbox', path: p, size };
  if (MBOX.has(ext)) return { kind: 'skip', path: p, reason: 'named .mbox but it does not start with a "From " line' };
  if (looksLikeMessage(head)) return { kind: 'eml', path: p, size };
  return { kind: 'skip', path: p, reason: 'not a mail message (it does not start with a header field)' };
}

/** Totals of a directory: messages (null when an mbox makes the count unknown) and bytes. */
export async function countDirectory(dir: string): Promise<{ messages: number | null; bytes: number | null }> {
  let messages: number | null = 0;
  let bytes: number | null = 0;
  for await (const item of walkDirectory(dir)) {
    if (item.kind === 'eml') {
      if (messages !== null) messages++;
      if (bytes !== null) bytes += item.size;
    } else if (item.kind === 'mbox') {
      messages = null;
      if (bytes !== null) bytes += item.size;
    } else if (item.kind === 'maildir') {
      if (messages !== null) messages += await countMaildir(item.path).catch(() => 0);
      bytes = null;
    }
  }
  return { messages, bytes };
}

/**
 * Reads every message under a directory (see walkDirectory for what counts as one). A file that
 * cannot be read is reported as a failure and the walk goes on.
 */
export async function* readDirectory(dir: string, options: ReaderOptions = {}): AsyncGenerator<SourceEntry> {
  const limit = options.inMemoryLimit ?? DEFAULT_IN_MEMORY_LIMIT;
  let consumed = 0;
  for await (const item of walkDirectory(dir)) {
    switch (item.kind) {
      case 'skip':
        options.onSkip?.(item.path, item.reason);
        break;
      case 'error':
        yield { file: item.path, error: isAppError(item.error) ? item.error : ioError(item.path, item.error), sourceBytes: consumed };
        break;
      case 'eml': {
        let entry: SourceEntry;
        try {
          entry = await readMessageFile(item.path, limit, consumed);
          consumed = entry.sourceBytes;
        } catch (err) {
          entry = { file: item.path, error: isAppError(err) ? err : ioError(item.path, err), sourceBytes: consumed };
        }
        yield entry;
        break;
      }
      case 'mbox': {
        const base = consumed;
        const messages = readMbox(item.path, options);
        try {
          for (;;) {
            let next: IteratorResult<SourceEntry>;
            try {
              next = await messages.next();
            } catch (err) {
              // The rest of this mbox is lost to a read error; say so and go on with the walk.
              yield { file: item.path, error: isAppError(err) ? err : ioError(item.path, err), sourceBytes: consumed };
              break;
            }
            if (next.done) break;
            consumed = base + next.value.sourceBytes;
            yield { ...next.value, sourceBytes: consumed };
          }
        } finally {
          await messages.return(undefined);
        }
        consumed = base + item.size;
        break;
      }
      case 'maildir':
        for await (const entry of readMaildir(item.path, options, consumed)) {
          consumed = entry.sourceBytes;
          yield entry;
        }
        break;
    }
  }
}
