/**
 * Shared pieces of the IMAP gateway tests: connection settings for the Dovecot peer, an
 * independent imapflow client to observe the server with, and raw messages built by hand.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { ImapFlow } from 'imapflow';
import type { Change, ConnectionSettings, Cursor, MailSource } from '../../../src/gateways/ports.ts';
import { run } from '../../support/peers/apt.ts';
import type { DovecotPeer } from '../../support/peers/dovecot.ts';
import { encodeWord } from '../../support/mime.ts';

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

export function passwordOf(peer: DovecotPeer, user: string): string {
  const u = peer.users.find((x) => x.user === user);
  if (!u) throw new Error(`no such peer user ${user}`);
  return u.password;
}

/** A second, independent client to look at the server with (never the code under test). */
export async function observer(peer: DovecotPeer, user: string): Promise<ImapFlow> {
  const client = new ImapFlow({
    host: peer.host,
    port: peer.imapPort,
    secure: false,
    doSTARTTLS: false,
    auth: { user, pass: passwordOf(peer, user) },
    logger: false,
    disableAutoIdle: true,
  });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

export async function withObserver<T>(peer: DovecotPeer, user: string, fn: (c: ImapFlow) => Promise<T>): Promise<T> {
  const c = await observer(peer, user);
  try {
    return await fn(c);
  } finally {
    await c.logout().catch(() => c.close());
  }
}


let counter = 0;

export interface MessageSpec {
  subject: string;
  from?: string;
  to?: string;
  body?: string;
  date?: Date;
  /** A base64 attachment of this many random bytes. */
  attachmentBytes?: number;
}

/** A raw RFC 5322 message with CRLF line ends, unique Message-ID. */
export function message(spec: MessageSpec): Buffer {
  counter++;
  const id = `<t${counter}.${randomBytes(6).toString('hex')}@mailroom.test>`;
  const head = [
    `From: ${spec.from ?? 'Alice Sender <alice.sender@example.test>'}`,
    `To: ${spec.to ?? 'Bob Receiver <bob.receiver@example.test>'}`,
    `Subject: ${encodeWord(spec.subject)}`,
    `Date: ${(spec.date ?? new Date('2026-03-14T10:00:00Z')).toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: ${id}`,
    'MIME-Version: 1.0',
  ];
  const text = spec.body ?? `Body of ${spec.subject}\r\n`;
  if (!spec.attachmentBytes) {
    head.push('Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 8bit');
    return Buffer.from(`${head.join('\r\n')}\r\n\r\n${text}`, 'utf8');
  }
  const boundary = `b-${randomBytes(8).toString('hex')}`;
  const b64 = randomBytes(spec.attachmentBytes).toString('base64').replace(/.{76}/g, '$&\r\n');
  head.push(`Content-Type: multipart/mixed; boundary="${boundary}"`);
  const parts = [
    `--${boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${text}`,
    `--${boundary}\r\nContent-Type: application/octet-stream; name="data.bin"\r\nContent-Disposition: attachment; filename="data.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64}\r\n`,
    `--${boundary}--\r\n`,
  ];
  return Buffer.from(`${head.join('\r\n')}\r\n\r\n${parts.join('')}`, 'utf8');
}

export const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export async function collect(source: MailSource, folder: string, cursor: Cursor | null): Promise<Change[]> {
  const out: Change[] = [];
  for await (const c of source.changes(folder, cursor)) out.push(c);
  return out;
}

export function lastCursor(changes: Change[]): Cursor {
  const last = changes[changes.length - 1];
  if (!last || last.type !== 'cursor') throw new Error(`changes did not end with a cursor: ${JSON.stringify(last)}`);
  return last.cursor;
}

/** Ends every IMAP session of `user` on the server (Dovecot's anvil knows them). */
export async function kick(peer: DovecotPeer, user: string): Promise<void> {
  const r = await run('doveadm', ['-c', peer.configFile, 'kick', user]);
  if (r.code !== 0) throw new Error(`doveadm kick ${user} failed (${r.code}): ${r.stderr}`);
}

/** Resolves when `check()` is true, polling; rejects after `ms`. */
export async function eventually(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
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
