import type { SearchObject } from 'imapflow';
import { AppError } from '../../errors/index.ts';
import type { SearchCriteria } from '../ports.ts';
import type { ImapSession } from './session.ts';

/**
 * SearchCriteria as an imapflow query: UNSEEN, SINCE/BEFORE (RFC 3501 §6.4.4: INTERNALDATE,
 * date only, in the server's time zone), FROM/TO/SUBJECT (substring, case-insensitive).
 * imapflow sends non-ASCII text as literals and then prefixes `CHARSET UTF-8`.
 */
export function toSearchQuery(criteria: SearchCriteria): SearchObject {
  const q: SearchObject = {};
  if (criteria.unseen) q.seen = false;
  if (criteria.since !== undefined) q.since = isoDate(criteria.since, 'since');
  if (criteria.before !== undefined) q.before = isoDate(criteria.before, 'before');
  if (criteria.from) q.from = criteria.from;
  if (criteria.to) q.to = criteria.to;
  if (criteria.subject) q.subject = criteria.subject;
  return q;
}

function isoDate(value: string, field: string): Date {
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw new AppError('VALIDATION_FAILED', `The search date "${field}" is not an ISO date: ${value}`);
  return d;
}

export function hasNonAscii(criteria: SearchCriteria): boolean {
  return [criteria.from, criteria.to, criteria.subject].some((s) => s !== undefined && /[^\x00-\x7f]/.test(s));
}

/**
 * UID SEARCH on the server; null when the server refuses it (NO [BADCHARSET] for UTF-8 text,
 * RFC 3501 §6.4.4, or any other NO/BAD), so the caller filters the summaries itself. A lost
 * connection still throws: local filtering would need the same connection.
 */
export async function searchFolder(
  session: ImapSession,
  folder: string,
  criteria: SearchCriteria,
  onUtf8Result: (supported: boolean) => void,
): Promise<Set<string> | null> {
  const query = toSearchQuery(criteria);
  const utf8 = hasNonAscii(criteria);
  return session.exclusive(async () => {
    await session.select(folder);
    let found: number[] | false | undefined;
    try {
      found = Object.keys(query).length === 0 ? await session.client.search({ all: true }, { uid: true }) : await session.client.search(query, { uid: true });
    } catch (err) {
      const e = session.fail(err, { operation: 'search', folder });
      if (e.code === 'MAIL_PROTOCOL_ERROR') return null; // refused while compiling or by the server
      throw e;
    }
    if (!Array.isArray(found)) {
      if (utf8) onUtf8Result(false);
      session.log?.info({ component: 'imap', folder, utf8 }, 'the server refused the search; filtering locally');
      return null;
    }
    if (utf8) onUtf8Result(true);
    return new Set(found.map(String));
  });
}
