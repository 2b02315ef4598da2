import type { MailboxObject } from 'imapflow';
import { AppError } from '../../errors/index.ts';
import type { MailboxAction, MessageRef } from '../ports.ts';
import { packUids, parseUid, type ImapSession } from './session.ts';

/**
 * Mailbox actions after archiving, on exactly the given messages:
 * - seen / flag / keyword: UID STORE +FLAGS (RFC 3501 §6.4.6).
 * - move: UID MOVE (RFC 6851). Without MOVE, imapflow's messageMove() falls back to UID COPY +
 *   UID STORE +FLAGS (\Deleted) + UID EXPUNGE (RFC 4315 UIDPLUS), or plain EXPUNGE when the
 *   server lacks UIDPLUS, the fallback RFC 6851 §3.3 describes. The target is never created.
 * - delete: UID STORE +FLAGS (\Deleted), then UID EXPUNGE of exactly those UIDs (UIDPLUS), so
 *   other messages someone flagged \Deleted stay. Only a server without UIDPLUS gets a plain
 *   EXPUNGE (RFC 3501 offers nothing narrower there).
 * Refs whose epoch is not the folder's current UIDVALIDITY are skipped: after a UIDVALIDITY
 * change their UIDs may name other messages (RFC 3501 §2.3.1.1).
 */
export async function applyAction(session: ImapSession, refs: readonly MessageRef[], action: MailboxAction): Promise<void> {
  if (action.type === 'none' || refs.length === 0) return;
  if (action.type === 'keyword') checkKeyword(action.keyword);
  const byFolder = new Map<string, MessageRef[]>();
  for (const ref of refs) {
    const list = byFolder.get(ref.folder);
    if (list) list.push(ref);
    else byFolder.set(ref.folder, [ref]);
  }
  for (const [folder, list] of byFolder) {
    await session.exclusive(() => applyInFolder(session, folder, list, action));
  }
}

async function applyInFolder(session: ImapSession, folder: string, refs: MessageRef[], action: Exclude<MailboxAction, { type: 'none' }>): Promise<void> {
  if (action.type === 'move' && action.folder === folder) return;
  const mb = await session.select(folder, { write: true });
  if (mb.readOnly) {
    throw new AppError('MAIL_ACTION_UNSUPPORTED', `Folder "${folder}" on ${session.ctx.host} is read-only for this account, so "${action.type}" cannot be applied; grant write access or choose the action "none".`, {
      details: { folder, action: action.type, transient: false },
    });
  }
  const epoch = String(mb.uidValidity);
  const uids: number[] = [];
  let skipped = 0;
  for (const ref of refs) {
    const uid = parseUid(ref.key);
    if (ref.epoch === epoch && uid !== null) uids.push(uid);
    else skipped++;
  }
  if (skipped > 0) {
    session.log?.warn({ component: 'imap', folder, skipped, epoch, action: action.type }, 'skipped messages of another UIDVALIDITY epoch');
  }
  if (uids.length === 0) return;
  const set = packUids(uids);
  const client = session.client;
  const operation = action.type === 'move' ? `move messages to "${action.folder}"` : `mark messages (${action.type})`;
  const refused = (): AppError => {
    session.ensureUsable();
    return session.fail(Object.assign(new Error(`the server did not complete the ${action.type} action`), { responseStatus: 'NO' }), { operation, folder });
  };
  switch (action.type) {
    case 'seen':
      if (!(await store(session, set, '\\Seen', operation, folder))) throw refused();
      return;
    case 'flag':
      if (!(await store(session, set, '\\Flagged', operation, folder))) throw refused();
      return;
    case 'keyword':
      checkPermanent(session, mb, folder, action.keyword);
      if (!(await store(session, set, action.keyword, operation, folder))) throw refused();
      return;
    case 'delete': {
      const ok = await client.messageDelete(set, { uid: true }).catch((err: unknown) => {
        throw session.fail(err, { operation: 'delete messages', folder });
      });
      if (!ok) throw refused();
      return;
    }
    case 'move': {
      await requireFolder(session, action.folder);
      const moved = await client.messageMove(set, session.libraryPath(action.folder), { uid: true }).catch((err: unknown) => {
        throw session.fail(err, { operation, folder: action.folder });
      });
      if (!moved) {
        session.ensureUsable();
        await requireFolder(session, action.folder); // deleted meanwhile: say so, not "refused"
        throw refused();
      }
      return;
    }
  }
}

async function store(session: ImapSession, set: string, flag: string, operation: string, folder: string): Promise<boolean> {
  return session.client.messageFlagsAdd(set, [flag], { uid: true, silent: true }).catch((err: unknown) => {
    throw session.fail(err, { operation, folder });
  });
}

/** STATUS the target (RFC 3501 §6.3.10): a missing folder is an error, never created. */
async function requireFolder(session: ImapSession, folder: string): Promise<void> {
  let status;
  try {
    status = await session.client.status(session.libraryPath(folder), { uidValidity: true });
  } catch (err) {
    throw session.fail(err, { operation: 'find the target folder', folder });
  }
  if (status === false) {
    session.ensureUsable();
    throw new AppError('MAIL_FOLDER_NOT_FOUND', `The target folder "${folder}" does not exist on ${session.ctx.host} or cannot hold messages; create it or choose another folder (nothing was moved).`, {
      details: { folder, transient: false },
    });
  }
}

/** RFC 3501 §9 flag-keyword = atom: no atom-specials, no CTL, 7-bit, not a \system flag. */
export function checkKeyword(keyword: string): void {
  if (!/^[\x21-\x7e]+$/.test(keyword) || /[(){%*"\\\]]/.test(keyword)) {
    throw new AppError(
      'VALIDATION_FAILED',
      `"${keyword}" cannot be an IMAP keyword: use ASCII letters, digits and "$-_.+:" only (no spaces, brackets, quotes, %, * or backslash).`,
    );
  }
}

/**
 * PERMANENTFLAGS (RFC 3501 §7.1) lists what the folder keeps; "\*" means new keywords may be
 * created. imapflow would silently drop a flag outside it, and the action would look done.
 */
function checkPermanent(session: ImapSession, mb: MailboxObject, folder: string, keyword: string): void {
  const allowed = mb.permanentFlags ?? mb.flags;
  const k = keyword.toLowerCase();
  if (allowed.has('\\*') || [...allowed].some((f) => f.toLowerCase() === k)) return;
  throw new AppError(
    'MAIL_ACTION_UNSUPPORTED',
    `Folder "${folder}" on ${session.ctx.host} does not accept the keyword "${keyword}" (its PERMANENTFLAGS allow no new keywords); choose another action or a keyword the server already knows.`,
    { details: { folder, keyword, transient: false } },
  );
}
