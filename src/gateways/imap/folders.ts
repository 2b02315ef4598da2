import type { ListResponse } from 'imapflow';
import type { Folder } from '../ports.ts';
import { samePath, type ImapSession } from './session.ts';
import { decodeModifiedUtf7 } from './utf7.ts';

/**
 * LIST "" "*" (RFC 3501 §6.3.8) with SPECIAL-USE attributes (RFC 6154), as imapflow returns
 * it. `Folder.path` keeps the name exactly as listed (what SELECT needs on the wire);
 * `displayPath`/`name` are decoded from modified UTF-7 (RFC 3501 §5.1.3) with "/" between
 * levels, whatever the server's hierarchy delimiter.
 */
export async function listFolders(session: ImapSession): Promise<Folder[]> {
  return session.exclusive(async () => {
    let entries: ListResponse[];
    try {
      entries = await session.client.list();
    } catch (err) {
      throw session.fail(err, { operation: 'list the folders' });
    }
    const utf8 = session.utf8Names();
    const out: Folder[] = [];
    for (const entry of entries) {
      // An LSUB-only entry is a subscription to a folder that no longer exists.
      if (!entry.listed) continue;
      out.push(toFolder(entry, utf8));
    }
    return out;
  });
}

export function toFolder(entry: ListResponse, utf8Names: boolean): Folder {
  const raw = entry.pathAsListed;
  const delimiter = entry.delimiter ?? '';
  // Some servers prefix names with the delimiter; the parent is computed without it.
  const bare = delimiter && raw.startsWith(delimiter) ? raw.slice(delimiter.length) : raw;
  const cut = delimiter ? bare.lastIndexOf(delimiter) : -1;
  const decode = (s: string): string => (utf8Names ? s : (decodeModifiedUtf7(s) ?? s));
  const segments = delimiter ? bare.split(delimiter) : [bare];
  const displaySegments = segments.map(decode);
  const flags = entry.flags;
  return {
    path: raw,
    displayPath: displaySegments.join('/'),
    name: displaySegments[displaySegments.length - 1] ?? '',
    delimiter,
    specialUse: entry.specialUse ?? null,
    parent: cut >= 0 ? (raw.startsWith(delimiter) && delimiter ? delimiter : '') + bare.slice(0, cut) : null,
    // RFC 3501 \Noselect; RFC 5258 \NonExistent (a phantom parent) implies it.
    selectable: !hasFlag(flags, '\\Noselect') && !hasFlag(flags, '\\NonExistent'),
  };
}

function hasFlag(flags: Set<string>, flag: string): boolean {
  const f = flag.toLowerCase();
  for (const x of flags) if (x.toLowerCase() === f) return true;
  return false;
}

/**
 * UIDVALIDITY and message count without listing the folder: STATUS (RFC 3501 §6.3.10), or, for
 * the selected folder (where RFC 3501 says not to use STATUS), a NOOP and the SELECT state.
 */
export async function folderStatus(session: ImapSession, folder: string): Promise<{ epoch: string; messages: number }> {
  return session.exclusive(async () => {
    const path = session.libraryPath(folder);
    const current = session.client.mailbox;
    if (current !== false && samePath(current.path, path)) {
      const mb = await session.select(folder, { refresh: 'noop' });
      return { epoch: String(mb.uidValidity), messages: mb.exists };
    }
    let status;
    try {
      status = await session.client.status(path, { uidValidity: true, messages: true });
    } catch (err) {
      throw session.fail(err, { operation: 'read the folder status', folder });
    }
    if (status === false || status.uidValidity === undefined) {
      session.ensureUsable();
      // Some servers refuse STATUS on odd folders; SELECT tells the same.
      const mb = await session.select(folder);
      return { epoch: String(mb.uidValidity), messages: mb.exists };
    }
    return { epoch: String(status.uidValidity), messages: status.messages ?? 0 };
  });
}
