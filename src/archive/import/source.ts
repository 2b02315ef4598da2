import { stat } from 'node:fs/promises';
import { countDirectory, readDirectory } from './directory.ts';
import { ioError, sourceError } from './errors.ts';
import { listDir, readHead, readMessageFile } from './files.ts';
import { countMaildir, isMaildir, readMaildir } from './maildir.ts';
import { looksLikeMbox, readMbox } from './mbox.ts';
import { DEFAULT_IN_MEMORY_LIMIT, type ReaderOptions, type SourceEntry, type SourceKind } from './types.ts';

/** What is known about a source's size before reading it; null where finding out costs a read. */
export interface SourceTotals {
  messages: number | null;
  bytes: number | null;
}

/** A path to import from, its kind detected. */
export interface ImportSource {
  readonly kind: SourceKind;
  readonly path: string;
  /** Counts what is cheap to count (a directory listing, a file size). */
  totals(): Promise<SourceTotals>;
  /** The messages in order; each call reads the source again from the start. */
  messages(): AsyncGenerator<SourceEntry>;
}

/**
 * Opens a path for import and detects its kind: a directory with cur/ and new/ is a Maildir
 * (with its Maildir++ subfolders), any other directory is walked for .eml and mbox files, a file
 * starting with "From " is an mbox, and any other file is one message (.eml).
 * A path that cannot be read fails with IMPORT_SOURCE_INVALID, naming the path and the cause.
 */
export async function openSource(path: string, options: ReaderOptions = {}): Promise<ImportSource> {
  let st;
  try {
    st = await stat(path);
  } catch (err) {
    throw ioError(path, err);
  }
  if (st.isDirectory()) {
    await listDir(path); // fails early, with the cause, when the directory cannot be listed
    if (await isMaildir(path)) {
      return {
        kind: 'maildir',
        path,
        totals: async () => ({ messages: await countMaildir(path), bytes: null }),
        messages: () => readMaildir(path, options),
      };
    }
    return { kind: 'directory', path, totals: () => countDirectory(path), messages: () => readDirectory(path, options) };
  }
  if (!st.isFile()) throw sourceError(path, 'it is neither a file nor a directory');
  const head = await readHead(path, 5);
  if (head.length === 0) throw sourceError(path, 'the file is empty');
  const size = st.size;
  if (looksLikeMbox(head)) {
    return { kind: 'mbox', path, totals: async () => ({ messages: null, bytes: size }), messages: () => readMbox(path, options) };
  }
  return {
    kind: 'eml',
    path,
    totals: async () => ({ messages: 1, bytes: size }),
    messages: async function* () {
      yield await readMessageFile(path, options.inMemoryLimit ?? DEFAULT_IN_MEMORY_LIMIT);
    },
  };
}

/** Reads whatever the path holds: openSource(path).messages(). */
export async function* readSource(path: string, options: ReaderOptions = {}): AsyncGenerator<SourceEntry> {
  yield* (await openSource(path, options)).messages();
}
