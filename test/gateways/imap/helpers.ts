/**
 * Shared pieces of the IMAP gateway tests: connection settings for the Dovecot peer, changes
 * collected, timeouts; the observer client, messages and the rest come from test/support/imap.ts.
 */
import type { Change, ConnectionSettings, Cursor, MailSource, SummaryDetail } from '../../../src/gateways/ports.ts';
import type { DovecotPeer } from '../../support/peers/dovecot.ts';
import { message as buildMessage, type MessageSpec } from '../../support/imap.ts';

export { eventually, kick, observer, passwordOf, readAll, sha256, withObserver } from '../../support/imap.ts';

export function plainSettings(peer: DovecotPeer, user: string, password: string, extra: Partial<ConnectionSettings> = {}): ConnectionSettings {
  return {
    host: peer.host,
    port: peer.imapPort,
    security: 'none',
    tls: { mode: 'verify' },
    auth: { type: 'basic', user, password },
    timeoutMs: 10_000,
    ...extra,
  };
}

/** The gateway tests' message: `attachmentBytes` random bytes as one base64 attachment. */
export function message(spec: Omit<MessageSpec, 'attachments'> & { attachmentBytes?: number }): Buffer {
  const { attachmentBytes, ...rest } = spec;
  return buildMessage({ ...rest, attachments: attachmentBytes ? [{ filename: 'data.bin', contentType: 'application/octet-stream', size: attachmentBytes }] : undefined });
}

export async function collect(source: MailSource, folder: string, cursor: Cursor | null, detail?: SummaryDetail): Promise<Change[]> {
  const out: Change[] = [];
  for await (const c of source.changes(folder, cursor, detail)) out.push(c);
  return out;
}

export function lastCursor(changes: Change[]): Cursor {
  const last = changes[changes.length - 1];
  if (!last || last.type !== 'cursor') throw new Error(`changes did not end with a cursor: ${JSON.stringify(last)}`);
  return last.cursor;
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]);
}
