import type { ImapFlow, MailboxObject, MailboxOpenOptions } from 'imapflow';
import type { AppError } from '../../errors/index.ts';
import { connectionLost, translateImapError, type ErrorContext } from './errors.ts';
import type { ImapLogger } from './connection.ts';
import { decodeModifiedUtf7 } from './utf7.ts';

/**
 * One authenticated IMAP connection shared by the operations of a source.
 *
 * IMAP has one selected mailbox per connection (RFC 3501 §6.3.1) and imapflow queues commands,
 * but it does not stop a command of one caller from running between two commands of another:
 * a SELECT of folder B between two chunk FETCHes of a download from folder A would make the
 * second FETCH read the wrong folder. So every operation runs inside `exclusive()`, which holds
 * the connection from its SELECT to its last command (fetchRaw holds it until its stream ends).
 */
export class ImapSession {
  private tail: Promise<void> = Promise.resolve();

  constructor(
    readonly client: ImapFlow,
    readonly ctx: ErrorContext,
    readonly log: ImapLogger | undefined,
  ) {}

  /** Waits for the connection; the returned release is idempotent. */
  async acquire(): Promise<() => void> {
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const previous = this.tail;
    this.tail = previous.then(() => held);
    await previous;
    let done = false;
    return () => {
      if (!done) {
        done = true;
        release();
      }
    };
  }

  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const release = await this.acquire();
    try {
      this.ensureUsable();
      return await fn();
    } finally {
      release();
    }
  }

  /**
   * After a server BYE (RFC 3501 §7.1.5: shutdown, `doveadm kick`) imapflow switches to LOGOUT
   * but keeps `usable` true until the socket closes; commands in that window fail with
   * NoMailboxSelected. Both count as a lost connection, which the sync engine reconnects for.
   */
  private gone(): boolean {
    return !this.client.usable || this.client.state === this.client.states.LOGOUT;
  }

  ensureUsable(): void {
    if (this.gone()) throw connectionLost(this.ctx);
  }

  fail(err: unknown, extra: { operation?: string; folder?: string } = {}): AppError {
    if (this.gone()) return connectionLost(this.ctx);
    return translateImapError(err, { ...this.ctx, ...extra });
  }

  /**
   * Folder.path is the name as the server listed it (modified UTF-7 unless the session is in
   * UTF8=ACCEPT/IMAP4rev2 mode, RFC 6855/9051); imapflow takes Unicode names and encodes them
   * itself, so the raw name is decoded here and re-encoded by imapflow to the same bytes.
   */
  libraryPath(rawPath: string): string {
    return libraryPathFor(this.client, rawPath);
  }

  utf8Names(): boolean {
    return utf8NamesEnabled(this.client);
  }

  /**
   * Makes `folder` the selected mailbox and returns its state.
   * - write: SELECT (read-write) rather than EXAMINE; reads use EXAMINE so that opening a folder
   *   changes nothing in it (no \Recent reset, RFC 3501 §6.3.2), but reuse a read-write selection.
   * - refresh 'reselect': always SELECT again, for fresh UIDNEXT/HIGHESTMODSEQ (and QRESYNC);
   *   'noop': a NOOP when already selected, enough to learn EXISTS/EXPUNGE.
   */
  async select(
    folder: string,
    opts: { write?: boolean; refresh?: 'none' | 'noop' | 'reselect'; qresync?: { uidValidity: number; modseq: string } } = {},
  ): Promise<MailboxObject> {
    const path = this.libraryPath(folder);
    const current = this.client.mailbox;
    const same = current !== false && samePath(current.path, path);
    const sameReadWrite = current !== false && same && !current.readOnly;
    const refresh = opts.refresh ?? 'none';
    try {
      if (same && (!opts.write || sameReadWrite) && refresh !== 'reselect') {
        if (refresh === 'noop') await this.client.noop();
        const now = this.client.mailbox;
        if (now !== false && samePath(now.path, path)) return now;
      }
      const open: MailboxOpenOptions = { readOnly: !(opts.write || sameReadWrite) };
      if (opts.qresync) {
        open.uidValidity = opts.qresync.uidValidity;
        open.changedSince = opts.qresync.modseq;
      }
      return await this.client.mailboxOpen(path, open);
    } catch (err) {
      throw this.fail(err, { operation: 'open the folder', folder });
    }
  }
}

/** True when mailbox names travel as UTF-8 (RFC 6855 UTF8=ACCEPT, or IMAP4rev2 per RFC 9051). */
export function utf8NamesEnabled(client: ImapFlow): boolean {
  for (const ext of client.enabled) {
    const e = ext.toUpperCase();
    if (e === 'UTF8=ACCEPT' || e === 'IMAP4REV2') return true;
  }
  return false;
}

/** The name imapflow wants for a raw (as listed) mailbox name, see ImapSession.libraryPath. */
export function libraryPathFor(client: ImapFlow, rawPath: string): string {
  if (utf8NamesEnabled(client) || !rawPath.includes('&')) return rawPath;
  return decodeModifiedUtf7(rawPath) ?? rawPath;
}

export function samePath(a: string, b: string): boolean {
  // RFC 3501 §5.1: INBOX is case-insensitive, every other name is case-sensitive.
  return a === b || (a.toUpperCase() === 'INBOX' && b.toUpperCase() === 'INBOX');
}

/** "1:3,7,9:10" from UIDs (RFC 3501 §9 sequence-set), for short command lines. */
export function packUids(uids: readonly number[]): string {
  const sorted = [...new Set(uids)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(i === j ? String(sorted[i]) : `${sorted[i]}:${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/** A UID as the key of a MessageRef: a positive 32-bit integer written in decimal. */
export function parseUid(key: string): number | null {
  if (!/^[1-9][0-9]{0,9}$/.test(key)) return null;
  const n = Number(key);
  return n <= 0xffffffff ? n : null;
}
