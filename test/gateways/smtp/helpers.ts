/**
 * Test helpers for the SMTP gateway: a recording TCP proxy (what the client really sent), a
 * self-signed certificate made with openssl, an smtp-server fixture that records every hook, and
 * an AppError assertion.
 */
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SMTPServer, type SMTPServerAddress, type SMTPServerAuthentication, type SMTPServerOptions } from 'smtp-server';
import { isAppError, type AppError, type ErrorCode } from '../../../src/errors/index.ts';
import type { ConnectionSettings } from '../../../src/gateways/ports.ts';

const execFileP = promisify(execFile);

export interface RecordingProxy {
  port: number;
  /** Everything clients sent, decoded as UTF-8, across all connections so far. */
  clientText(): string;
  /** The command lines clients sent (message data included), across all connections. */
  clientLines(): string[];
  connections(): number;
  close(): Promise<void>;
}

/** A TCP proxy on 127.0.0.1 that forwards to `targetPort` and records the client's bytes. */
export async function startRecordingProxy(targetPort: number): Promise<RecordingProxy> {
  const chunks: Buffer[] = [];
  const sockets = new Set<Socket>();
  let count = 0;
  const server: Server = createServer((client) => {
    count += 1;
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.on('data', (c: Buffer) => chunks.push(c));
    client.pipe(upstream).pipe(client);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const text = (): string => Buffer.concat(chunks).toString('utf8');
  return {
    port: (server.address() as AddressInfo).port,
    clientText: text,
    clientLines: () => text().split('\r\n'),
    connections: () => count,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface SelfSignedCert {
  key: Buffer;
  cert: Buffer;
  /** Uppercase hex with colons, as Node's `fingerprint256`. */
  fingerprint256: string;
  cleanup(): Promise<void>;
}

/** A fresh self-signed certificate for localhost / 127.0.0.1, made with openssl. */
export async function makeSelfSignedCert(): Promise<SelfSignedCert> {
  const dir = await mkdtemp(join(tmpdir(), 'mailroom-smtp-tls-'));
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  await execFileP('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile,
    '-subj', '/CN=localhost', '-days', '2', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
  ]);
  const key = await readFile(keyFile);
  const cert = await readFile(certFile);
  return {
    key,
    cert,
    fingerprint256: new X509Certificate(cert).fingerprint256.toUpperCase(),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

export interface ServerEvents {
  auth: Array<{ method: string; username: string | null | undefined; password: string | null | undefined; accessToken: string | null | undefined }>;
  mailFrom: Array<{ address: string; args: Record<string, string> }>;
  rcptTo: string[];
  messages: Buffer[];
  /** session.secure at MAIL FROM time, per transaction. */
  secure: boolean[];
}

export interface SmtpServerFixture {
  port: number;
  events: ServerEvents;
  close(): Promise<void>;
}

type RcptHook = (address: SMTPServerAddress) => Error | null;
type AuthHook = (auth: SMTPServerAuthentication) => { ok: true; user: string } | { ok: false; challenge?: object };

/** An error smtp-server turns into an SMTP reply with this code. */
export function smtpReply(code: number, text: string): Error {
  return Object.assign(new Error(text), { responseCode: code });
}

/**
 * An smtp-server on 127.0.0.1 that records what it is asked. Defaults: no TLS, no AUTH required,
 * every recipient accepted.
 */
export async function startSmtpServer(
  options: Partial<SMTPServerOptions> & { rcpt?: RcptHook; authenticate?: AuthHook; mailFromError?: Error } = {},
): Promise<SmtpServerFixture> {
  const events: ServerEvents = { auth: [], mailFrom: [], rcptTo: [], messages: [], secure: [] };
  const { rcpt, authenticate, mailFromError, ...rest } = options;
  const server = new SMTPServer({
    logger: false,
    disabledCommands: rest.key ? [] : ['STARTTLS'],
    authOptional: authenticate === undefined,
    allowInsecureAuth: true,
    ...rest,
    onAuth(auth, _session, callback) {
      events.auth.push({ method: auth.method, username: auth.username, password: auth.password, accessToken: auth.accessToken });
      const verdict = authenticate ? authenticate(auth) : { ok: true as const, user: auth.username ?? 'anonymous' };
      if (verdict.ok) return callback(null, { user: verdict.user });
      if (auth.method === 'XOAUTH2' && 'challenge' in verdict && verdict.challenge) {
        return callback(null, { data: verdict.challenge });
      }
      return callback(smtpReply(535, 'Authentication credentials invalid'));
    },
    onMailFrom(address, session, callback) {
      events.mailFrom.push({ address: address.address, args: (address.args || {}) as Record<string, string> });
      events.secure.push(session.secure);
      callback(mailFromError ?? null);
    },
    onRcptTo(address, _session, callback) {
      events.rcptTo.push(address.address);
      callback(rcpt ? rcpt(address) : null);
    },
    onData(stream, _session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        events.messages.push(Buffer.concat(chunks));
        callback(null, 'Ok: queued as TESTQ1');
      });
    },
  });
  server.on('error', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.server.address() as AddressInfo).port;
  return { port, events, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

export function plainSettings(port: number, extra: Partial<ConnectionSettings> = {}): ConnectionSettings {
  return { host: '127.0.0.1', port, security: 'none', tls: { mode: 'verify' }, auth: { type: 'none' }, timeoutMs: 10_000, ...extra };
}

/** Awaits a rejection with an AppError of `code` and returns it for further checks. */
export async function expectAppError(promise: Promise<unknown>, code: ErrorCode): Promise<AppError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(isAppError(err), `expected an AppError ${code}, got ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
    assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`);
    return err;
  }
  assert.fail(`expected an AppError ${code}, but it resolved`);
}
