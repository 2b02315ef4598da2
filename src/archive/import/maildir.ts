import path from 'node:path';
import { isAppError } from '../../errors/index.ts';
import { ioError } from './errors.ts';
import { isDirectory, listDir, readMessageFile } from './files.ts';
import { DEFAULT_IN_MEMORY_LIMIT, type ReaderOptions, type SourceEntry } from './types.ts';

/** A Maildir has `cur/` and `new/` (and `tmp/`, which holds deliveries in progress). */
export async function isMaildir(dir: string): Promise<boolean> {
  const [cur, nu] = await Promise.all([isDirectory(path.join(dir, 'cur')), isDirectory(path.join(dir, 'new'))]);
  return cur && nu;
}

/** The root folder, then each Maildir++ subfolder (`.Sent`, `.Archive.2024`) in natural order. */
export async function maildirFolders(root: string): Promise<string[]> {
  const folders = [root];
  for (const e of await listDir(root)) {
    if (e.name.startsWith('.') && e.name !== '.' && e.name !== '..' && (e.isDir || e.isLink) && (await isMaildir(path.join(root, e.name)))) {
      folders.push(path.join(root, e.name));
    }
  }
  return folders;
}

/** Message files of one folder: `cur/` then `new/`, hidden files and subdirectories left out. */
async function folderFiles(folder: string): Promise<string[]> {
  const out: string[] = [];
  for (const sub of ['cur', 'new']) {
    const dir = path.join(folder, sub);
    if (!(await isDirectory(dir))) continue;
    for (const e of await listDir(dir)) {
      if (!e.name.startsWith('.') && (e.isFile || e.isLink)) out.push(path.join(dir, e.name));
    }
  }
  return out;
}

/** How many messages a Maildir holds (its folders listed, no file read). */
export async function countMaildir(root: string): Promise<number> {
  let n = 0;
  for (const folder of await maildirFolders(root)) n += (await folderFiles(folder)).length;
  return n;
}

/**
 * Reads the messages of a Maildir and its Maildir++ subfolders. Files that cannot be read are
 * reported as failures and the walk goes on.
 */
export async function* readMaildir(root: string, options: ReaderOptions = {}, sourceBytesBefore = 0): AsyncGenerator<SourceEntry> {
  const limit = options.inMemoryLimit ?? DEFAULT_IN_MEMORY_LIMIT;
  let consumed = sourceBytesBefore;
  for (const folder of await maildirFolders(root)) {
    let files: string[];
    try {
      files = await folderFiles(folder);
    } catch (err) {
      yield { file: folder, error: isAppError(err) ? err : ioError(folder, err), sourceBytes: consumed };
      continue;
    }
    for (const file of files) {
      let entry: SourceEntry;
      try {
        entry = await readMessageFile(file, limit, consumed);
        consumed = entry.sourceBytes;
      } catch (err) {
        entry = { file, error: isAppError(err) ? err : ioError(file, err), sourceBytes: consumed };
      }
      yield entry;
    }
  }
}
