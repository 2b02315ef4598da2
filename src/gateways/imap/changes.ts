import type { ExpungeEvent, FetchMessageObject, MailboxObject } from 'imapflow';
import { AppError } from '../../errors/index.ts';
import { FULL_DETAIL, type Change, type Cursor, type MessageSummary, type SummaryDetail } from '../ports.ts';
import type { ReadAhead } from './prefetch.ts';
import { packUids, type ImapSession } from './session.ts';
import { summaryQuery, toSummary } from './summary.ts';

type ImapCursor = Extract<Cursor, { kind: 'imap' }>;

/**
 * Summaries are fetched in UID batches of this size, and the connection is released between
 * batches: the sync engine fetches raw messages while it iterates, which needs the same
 * connection, so holding one FETCH open across yields would deadlock it. A batch is the most
 * ever held in memory.
 */
export const SUMMARY_BATCH = 250;
/** VANISHED (EARLIER) may name huge ranges (RFC 7162 §3.2.10); beyond this, removals are not reported. */
const MAX_VANISHED = 100_000;

/**
 * New (and, with QRESYNC, removed) messages of a folder since `cursor`, then the new cursor.
 *
 * 1. SELECT/EXAMINE the folder afresh (with QRESYNC, RFC 7162 §3.2.5, when the cursor has a
 *    modseq: the server then reports expunged UIDs as VANISHED (EARLIER)).
 * 2. UIDVALIDITY differs from the cursor's (RFC 3501 §2.3.1.1): every UID we knew is void,
 *    yield a reset and list the whole folder again.
 * 3. Unchanged HIGHESTMODSEQ (RFC 7162 §3.1.2) and UIDNEXT not past lastUid: nothing happened,
 *    yield the cursor alone; no FETCH at all, whatever the folder's size.
 * 4. Otherwise UID SEARCH for the UIDs above lastUid, then UID FETCH their summaries in batches,
 *    ascending. Both drop UIDs <= lastUid: RFC 3501 §6.4.8 makes "n:*" include the highest UID
 *    even when it is below n.
 */
export async function* listChanges(
  session: ImapSession,
  folder: string,
  cursor: Cursor | null,
  readAhead?: ReadAhead,
  detail: Readonly<SummaryDetail> = FULL_DETAIL,
): AsyncGenerator<Change> {
  if (cursor !== null && cursor.kind !== 'imap') {
    throw new AppError('VALIDATION_FAILED', `An IMAP folder cannot continue from a ${cursor.kind} cursor; start over with no cursor.`);
  }
  readAhead?.reset();
  const start = await openForChanges(session, folder, cursor);
  const { mailbox, vanished } = start;
  const uidValidity = Number(mailbox.uidValidity);
  const epoch = String(mailbox.uidValidity);
  let known = cursor;
  if (known !== null && known.uidValidity !== uidValidity) {
    yield { type: 'reset', reason: `UIDVALIDITY of folder "${folder}" changed from ${known.uidValidity} to ${uidValidity}; every message is listed again` };
    known = null;
  }
  const lastUid = known?.lastUid ?? 0;
  const modseq = mailbox.highestModseq !== undefined && !mailbox.noModseq ? mailbox.highestModseq.toString() : undefined;
  const nothingNewByUidNext = mailbox.uidNext > 0 && mailbox.uidNext <= lastUid + 1;

  if (known !== null && known.modseq !== undefined && modseq === known.modseq && nothingNewByUidNext) {
    yield { type: 'cursor', cursor: known };
    return;
  }

  if (known !== null && vanished.length > 0) {
    for (const uid of [...new Set(vanished)].sort((a, b) => a - b)) {
      yield { type: 'removed', ref: { folder, epoch, key: String(uid) } };
    }
  }

  let highest = lastUid;
  if (mailbox.exists > 0 && !nothingNewByUidNext) {
    const uids = await session.exclusive(async () => {
      const mb = await session.select(folder);
      if (String(mb.uidValidity) !== epoch) return null;
      try {
        const found = await session.client.search({ uid: `${lastUid + 1}:*` }, { uid: true });
        if (!Array.isArray(found)) throw new Error('UID SEARCH was refused');
        return found.filter((uid) => uid > lastUid).sort((a, b) => a - b);
      } catch (err) {
        throw session.fail(err, { operation: 'list new messages', folder });
      }
    });
    if (uids === null) {
      yield stale(session, folder, uidValidity, highest);
      return;
    }
    for (let i = 0; i < uids.length; i += SUMMARY_BATCH) {
      const batch = await fetchBatch(session, folder, epoch, uids.slice(i, i + SUMMARY_BATCH), detail);
      if (batch === null) {
        yield stale(session, folder, uidValidity, highest);
        return;
      }
      // What a sync will most likely fetchRaw() next, in this order (see prefetch.ts).
      readAhead?.listed(folder, epoch, batch);
      for (const summary of batch) {
        const uid = Number(summary.ref.key);
        if (uid <= highest) continue;
        highest = uid;
        yield { type: 'new', message: summary };
      }
    }
  }

  // UIDs are assigned ascending and never below UIDNEXT (RFC 3501 §2.3.1.1), so everything below
  // the UIDNEXT seen at SELECT is accounted for even if the folder held none of those UIDs.
  const next: ImapCursor = { kind: 'imap', uidValidity, lastUid: Math.max(highest, mailbox.uidNext > 0 ? mailbox.uidNext - 1 : 0) };
  if (modseq !== undefined) next.modseq = modseq;
  yield { type: 'cursor', cursor: next };
}

async function openForChanges(
  session: ImapSession,
  folder: string,
  cursor: ImapCursor | null,
): Promise<{ mailbox: MailboxObject; vanished: number[] }> {
  return session.exclusive(async () => {
    const vanished: number[] = [];
    const qresync =
      cursor !== null && cursor.modseq !== undefined && hasEnabled(session, 'QRESYNC') ? { uidValidity: cursor.uidValidity, modseq: cursor.modseq } : undefined;
    let overflow = false;
    const onExpunge = (ev: ExpungeEvent): void => {
      if (!ev.vanished || !ev.earlier || ev.uid === undefined || cursor === null || ev.uid > cursor.lastUid) return;
      if (vanished.length < MAX_VANISHED) vanished.push(ev.uid);
      else overflow = true;
    };
    session.client.on('expunge', onExpunge);
    let mailbox: MailboxObject;
    try {
      mailbox = await session.select(folder, { refresh: 'reselect', ...(qresync ? { qresync } : {}) });
    } finally {
      session.client.off('expunge', onExpunge);
    }
    if (overflow) {
      session.log?.warn({ component: 'imap', folder, count: vanished.length }, 'too many VANISHED UIDs; removals are not reported this time');
      vanished.length = 0;
    }
    return { mailbox, vanished };
  });
}

async function fetchBatch(session: ImapSession, folder: string, epoch: string, uids: number[], detail: Readonly<SummaryDetail>): Promise<MessageSummary[] | null> {
  return session.exclusive(async () => {
    const mb = await session.select(folder);
    if (String(mb.uidValidity) !== epoch) return null;
    const out: MessageSummary[] = [];
    try {
      const rows: AsyncGenerator<FetchMessageObject, false | void> = session.client.fetch(packUids(uids), summaryQuery(detail), { uid: true });
      for await (const msg of rows) out.push(toSummary(msg, folder, epoch, detail));
    } catch (err) {
      throw session.fail(err, { operation: 'fetch message summaries', folder });
    }
    // Servers answer in sequence order, which is UID order (RFC 3501 §2.3.1.1); sort anyway.
    return out.sort((a, b) => Number(a.ref.key) - Number(b.ref.key));
  });
}

/**
 * The folder got a new UIDVALIDITY while we were listing it: end with a cursor of the old epoch
 * up to what was yielded, so the next pass sees the change and starts over with a reset.
 */
function stale(session: ImapSession, folder: string, uidValidity: number, lastUid: number): Change {
  session.log?.warn({ component: 'imap', folder }, 'UIDVALIDITY changed while listing; the next pass starts over');
  return { type: 'cursor', cursor: { kind: 'imap', uidValidity, lastUid } };
}

function hasEnabled(session: ImapSession, ext: string): boolean {
  for (const e of session.client.enabled) if (e.toUpperCase() === ext) return true;
  return false;
}
