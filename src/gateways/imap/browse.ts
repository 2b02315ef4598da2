import { AppError } from '../../errors/index.ts';
import type { MessageRef, MessageSummary } from '../ports.ts';
import { packUids, parseUid, type ImapSession } from './session.ts';
import { SUMMARY_QUERY, toSummary } from './summary.ts';

/** The largest page one call may ask for; a page is held in memory whole. */
export const MAX_PAGE = 500;

/**
 * The sequence range of a page, newest first. Sequence numbers run 1..EXISTS in arrival order
 * (RFC 3501 §2.3.1.2), so page `offset/limit` from the newest end is `hi-limit+1 : hi` with
 * hi = EXISTS - offset. Null when the page lies beyond the oldest message.
 */
export function pageRange(total: number, offset: number, limit: number): { from: number; to: number } | null {
  const to = total - offset;
  if (to < 1 || limit < 1) return null;
  return { from: Math.max(1, to - limit + 1), to };
}

export async function listPage(
  session: ImapSession,
  folder: string,
  page: { offset: number; limit: number },
): Promise<{ total: number; messages: MessageSummary[] }> {
  const { offset, limit } = page;
  if (!Number.isInteger(offset) || offset < 0 || !Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) {
    throw new AppError('VALIDATION_FAILED', `A page needs an offset >= 0 and a limit from 1 to ${MAX_PAGE}.`);
  }
  return session.exclusive(async () => {
    // A NOOP on an already selected folder brings its EXISTS up to date (RFC 3501 §6.1.2).
    const mb = await session.select(folder, { refresh: 'noop' });
    const total = mb.exists;
    const epoch = String(mb.uidValidity);
    const range = pageRange(total, offset, limit);
    if (range === null) return { total, messages: [] };
    const rows: Array<{ seq: number; summary: MessageSummary }> = [];
    try {
      for await (const msg of session.client.fetch(`${range.from}:${range.to}`, SUMMARY_QUERY)) {
        rows.push({ seq: msg.seq, summary: toSummary(msg, folder, epoch) });
      }
    } catch (err) {
      throw session.fail(err, { operation: 'list messages', folder });
    }
    rows.sort((a, b) => b.seq - a.seq);
    return { total, messages: rows.map((r) => r.summary) };
  });
}

/**
 * Summaries of given messages: one `UID FETCH <set>` of the summary items. Refs of another
 * UIDVALIDITY epoch are left out (their UIDs name other messages now), and so are expunged ones
 * (the server simply does not answer for them).
 */
export async function summariesOf(session: ImapSession, folder: string, refs: readonly MessageRef[]): Promise<MessageSummary[]> {
  if (refs.length === 0) return [];
  return session.exclusive(async () => {
    const mb = await session.select(folder);
    const epoch = String(mb.uidValidity);
    const uids = refs.filter((r) => r.epoch === epoch).map((r) => parseUid(r.key)).filter((u): u is number => u !== null);
    if (uids.length === 0) return [];
    const out: MessageSummary[] = [];
    try {
      for await (const msg of session.client.fetch(packUids(uids), SUMMARY_QUERY, { uid: true })) out.push(toSummary(msg, folder, epoch));
    } catch (err) {
      throw session.fail(err, { operation: 'fetch message summaries', folder });
    }
    return out.sort((a, b) => Number(a.ref.key) - Number(b.ref.key));
  });
}
