/**
 * What the IMAP gateway tests and the Connect-to-Mail tests share: an independent imapflow
 * client to look at (and seed) the Dovecot peer with, never the code under test; ending a
 * user's sessions on the server; raw messages built by hand; small stream and polling helpers.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { ImapFlow } from 'imapflow';
import { encodeWord } from './mime.ts';
import { run } from './peers/apt.ts';
import type { DovecotPeer } from './peers/dovecot.ts';

export function passwordOf(peer: DovecotPeer, user: string): string {
  const u = peer.users.find((x) => x.user === user);
  if (!u) throw new Error(`no such peer user ${user}`);
  return u.password;
}

/** A second, independent client to look at the server with. */
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

/** Ends every IMAP session of `user` on the server (Dovecot's anvil knows them). */
export async function kick(peer: DovecotPeer, user: string): Promise<void> {
  const r = await run('doveadm', ['-c', peer.configFile, 'kick', user]);
  if (r.code !== 0) throw new Error(`doveadm kick ${user} failed (${r.code}): ${r.stderr}`);
}

let counter = 0;

export interface MessageSpec {
  subject: string;
  from?: string;
  to?: string;
  body?: string;
  date?: Date;
  messageId?: string;
  /** Attachments: file name, MIME type, content (random bytes of `size` when no content). */
  attachments?: Array<{ filename: string; contentType: string; content?: Buffer; size?: number }>;
}

/** A raw RFC 5322 message with CRLF line ends and a unique Message-ID (unless one is given). */
export function message(spec: MessageSpec): Buffer {
  counter++;
  const id = spec.messageId ?? `t${counter}.${randomBytes(6).toString('hex')}@mailroom.test`;
  const head = [
    `From: ${spec.from ?? 'Alice Sender <alice.sender@example.test>'}`,
    `To: ${spec.to ?? 'Bob Receiver <bob.receiver@example.test>'}`,
    `Subject: ${encodeWord(spec.subject)}`,
    `Date: ${(spec.date ?? new Date('2026-03-14T10:00:00Z')).toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: <${id}>`,
    'MIME-Version: 1.0',
  ];
  const text = (spec.body ?? `Body of ${spec.subject}`).replace(/\r?\n/g, '\r\n') + '\r\n';
  if (!spec.attachments || spec.attachments.length === 0) {
    head.push('Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 8bit');
    return Buffer.from(`${head.join('\r\n')}\r\n\r\n${text}`, 'utf8');
  }
  const boundary = `b-${randomBytes(8).toString('hex')}`;
  head.push(`Content-Type: multipart/mixed; boundary="${boundary}"`);
  const parts = [`--${boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n${text}`];
  for (const a of spec.attachments) {
    const content = a.content ?? randomBytes(a.size ?? 1000);
    const b64 = content.toString('base64').replace(/.{76}/g, '$&\r\n');
    // Non-ASCII file names as RFC 2231 parameters (filename*=UTF-8''...), as real mailers send them.
    const ascii = /^[\x20-\x7e]*$/.test(a.filename);
    const param = (key: string) => (ascii ? `${key}="${a.filename}"` : `${key}*=UTF-8''${encodeURIComponent(a.filename)}`);
    parts.push(
      `--${boundary}\r\nContent-Type: ${a.contentType}; ${param('name')}\r\nContent-Disposition: attachment; ${param('filename')}\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64}\r\n`,
    );
  }
  parts.push(`--${boundary}--\r\n`);
  return Buffer.from(`${head.join('\r\n')}\r\n\r\n${parts.join('')}`, 'utf8');
}

export const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Resolves when `check()` is true, polling; rejects after `ms` (a generous upper bound, not a timing claim). */
export async function eventually(check: () => boolean | Promise<boolean>, ms: number, what: string, every = 100): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}
