import SMTPConnection from 'nodemailer/lib/smtp-connection';
import type {
  SMTPConnectionCustomAuthContext,
  SMTPConnectionOptions,
  SMTPConnectionSendInfo,
} from 'nodemailer/lib/smtp-connection';
import { AppError } from '../../errors/index.ts';
import type { ConnectionSettings } from '../ports.ts';
import type { WireEnvelope } from './envelope.ts';
import { isTlsSocket, peerFingerprint, pinnedFingerprint, tlsOptions } from './tls.ts';

/**
 * One SMTP session on nodemailer's SMTPConnection: connect, (STARTTLS,) EHLO, TLS trust check,
 * AUTH; then any number of transactions. Using the connection directly (rather than nodemailer's
 * transports) is what lets the sender look at the server's EHLO capabilities on the very session
 * that will carry the message, before MAIL FROM: nodemailer itself would send UTF-8 addresses to
 * a server without SMTPUTF8 instead of failing.
 */

export interface SmtpLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export const silentLogger: SmtpLogger = { debug() {}, info() {}, warn() {}, error() {} };

export interface SessionCaps {
  smtputf8: boolean;
  eightBitMime: boolean;
  /** SIZE limit in octets; null when not advertised or unlimited (SIZE 0). */
  maxSize: number | null;
  authMechanisms: string[];
  extensions: string[];
}

export interface SessionConfig {
  settings: ConnectionSettings;
  /** EHLO name. */
  name?: string;
  logger: SmtpLogger;
  /** "host:port", for messages. */
  label: string;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const SOCKET_IDLE_TIMEOUT_MS = 5 * 60_000;
const QUIT_GRACE_MS = 2_000;
/**
 * The custom SASL handler is registered under its own name: nodemailer 10.6.1's login() replaces an
 * explicit `method: 'XOAUTH2'` by the first advertised mechanism (PLAIN) unless an XOAuth2 token
 * generator object is given, even when a customAuth XOAUTH2 handler exists. The handler itself
 * sends `AUTH XOAUTH2`.
 */
const XOAUTH2_HANDLER = 'MAILROOM-XOAUTH2';

/** The EHLO reply (as nodemailer keeps it: lines joined by LF) → what the server offers. */
export function parseEhlo(reply: string): SessionCaps {
  const lines = reply
    .split(/\r?\n/)
    .map((line) => line.replace(/^\d{3}[ -]?/, '').trim())
    .filter((line) => line !== '')
    .slice(1); // the first line is the server's greeting name
  const extensions = lines.map((line) => (line.split(/[\s=]/)[0] ?? '').toUpperCase());
  const param = (keyword: string): string | null => {
    const line = lines.find((l) => (l.split(/[\s=]/)[0] ?? '').toUpperCase() === keyword);
    return line === undefined ? null : line.slice(keyword.length).replace(/^[\s=]+/, '');
  };
  const size = param('SIZE');
  const sizeValue = size === null ? 0 : Number.parseInt(size, 10);
  const auth = param('AUTH');
  return {
    smtputf8: extensions.includes('SMTPUTF8'),
    eightBitMime: extensions.includes('8BITMIME'),
    maxSize: Number.isFinite(sizeValue) && sizeValue > 0 ? sizeValue : null,
    authMechanisms: auth === null ? [] : auth.split(/[\s=]+/).filter(Boolean).map((m) => m.toUpperCase()),
    extensions,
  };
}

function connectionOptions(cfg: SessionConfig, tlsOverride?: SMTPConnectionOptions['tls']): SMTPConnectionOptions {
  const { settings } = cfg;
  const timeout = settings.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const options: SMTPConnectionOptions = {
    host: settings.host,
    port: settings.port,
    secure: settings.security === 'tls',
    // starttls: STARTTLS or fail, never continue in plain text; none: do not even try it.
    requireTLS: settings.security === 'starttls',
    ignoreTLS: settings.security === 'none',
    opportunisticTLS: false,
    tls: tlsOverride ?? tlsOptions(settings),
    connectionTimeout: timeout,
    greetingTimeout: timeout,
    socketTimeout: Math.max(timeout, SOCKET_IDLE_TIMEOUT_MS),
    dnsTimeout: timeout,
    logger: false,
    debug: false,
  };
  if (cfg.name !== undefined) options.name = cfg.name;
  if (settings.auth.type === 'oauth2') {
    const { user, accessToken } = settings.auth;
    options.customAuth = { [XOAUTH2_HANDLER]: (ctx: SMTPConnectionCustomAuthContext) => xoauth2(ctx, user, accessToken) };
  }
  return options;
}

/**
 * XOAUTH2 with a ready access token (the hub refreshes tokens itself). On failure the server
 * sends a 334 challenge with a base64 JSON error; the client must answer with an empty line and
 * then gets the final 535 (protocols.md §3).
 */
async function xoauth2(ctx: SMTPConnectionCustomAuthContext, user: string, accessToken: string): Promise<void> {
  const payload = Buffer.from(`user=${user}\x01auth=Bearer ${accessToken}\x01\x01`, 'utf8').toString('base64');
  let reply = await ctx.sendCommand(`AUTH XOAUTH2 ${payload}`);
  let detail = '';
  if (reply.status === 334) {
    try {
      detail = Buffer.from(reply.text.trim(), 'base64').toString('utf8').replace(/[^\x20-\x7E]/g, '');
    } catch {
      detail = '';
    }
    reply = await ctx.sendCommand('');
  }
  if (reply.status !== 235) throw new Error(detail ? `Invalid login (token rejected: ${detail})` : 'Invalid login');
}

type Done<T> = (err: Error | null | undefined, value?: T) => void;

/**
 * Runs one nodemailer operation as a promise. Nodemailer reports a failure of the connection as
 * an 'error' event (and for connect/login not through the callback at all), so the promise also
 * settles on 'error' and on 'end'.
 */
function step<T>(conn: SMTPConnection, run: (done: Done<T>) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const finish: Done<T> = (err, value) => {
      if (settled) return;
      settled = true;
      conn.removeListener('error', onError);
      conn.removeListener('end', onEnd);
      if (err) reject(err);
      else resolve(value as T);
    };
    const onError = (err: Error): void => finish(err);
    const onEnd = (): void => finish(Object.assign(new Error('Connection closed unexpectedly'), { code: 'ECONNECTION' }));
    conn.once('error', onError);
    conn.once('end', onEnd);
    try {
      run(finish);
    } catch (err) {
      finish(err instanceof Error ? err : new Error(String(err)));
    }
  });
}

export class SmtpSession {
  caps: SessionCaps = { smtputf8: false, eightBitMime: false, maxSize: null, authMechanisms: [], extensions: [] };
  /** Transactions completed on this session. */
  messages = 0;
  private dead = false;

  private constructor(
    private readonly conn: SMTPConnection,
    private readonly cfg: SessionConfig,
  ) {
    // A connection failing while idle must not become an unhandled 'error' event.
    conn.on('error', (err: Error) => {
      this.dead = true;
      cfg.logger.debug({ smtp: cfg.label, err: err.message }, 'SMTP connection error');
    });
    conn.on('end', () => {
      this.dead = true;
    });
  }

  get alive(): boolean {
    return !this.dead && !this.conn.destroyed;
  }

  /** Connects, checks TLS trust and authenticates. Throws nodemailer errors or AppErrors. */
  static async open(cfg: SessionConfig): Promise<SmtpSession> {
    const pin = pinnedFingerprint(cfg.settings);
    const session = new SmtpSession(new SMTPConnection(connectionOptions(cfg)), cfg);
    try {
      await step<void>(session.conn, (done) => session.conn.connect((err) => done(err)));
      // Right after the handshake the last reply is the EHLO reply (the one after STARTTLS).
      const ehlo = session.conn.lastServerResponse;
      session.caps = parseEhlo(typeof ehlo === 'string' ? ehlo : '');
      session.checkTls(pin);
      await session.authenticate();
      cfg.logger.debug({ smtp: cfg.label, extensions: session.caps.extensions }, 'SMTP session ready');
      return session;
    } catch (err) {
      session.close();
      throw err;
    }
  }

  private checkTls(pin: string | null): void {
    const { settings, label } = this.cfg;
    if (settings.security === 'none') return;
    const socket = this.conn._socket;
    if (!isTlsSocket(socket)) {
      throw new AppError('MAIL_TLS_FAILED', `SMTP ${label}: the connection is not encrypted although security is "${settings.security}".`, {
        details: { permanent: true, response: null, configuration: true },
      });
    }
    const mode = settings.tls?.mode ?? 'verify';
    if (mode === 'verify' && socket.authorized !== true) {
      // Node already refuses such a handshake (rejectUnauthorized); this is a second line only.
      throw new AppError('MAIL_TLS_FAILED', `SMTP ${label}: the TLS certificate is not trusted (${String(socket.authorizationError)}).`, {
        details: { permanent: true, response: null, configuration: true, fingerprint256: peerFingerprint(socket) },
      });
    }
    if (mode === 'fingerprint') {
      const actual = peerFingerprint(socket);
      if (actual !== pin) {
        throw new AppError(
          'MAIL_TLS_FINGERPRINT_MISMATCH',
          `SMTP ${label}: the server's TLS certificate does not match the pinned fingerprint (pinned ${pin}, ` +
            `presented ${actual ?? 'none'}). Nothing was sent and no credentials were used. If the server's ` +
            'certificate was renewed on purpose, pin the new fingerprint; otherwise treat this as an attack.',
          { details: { permanent: true, response: null, configuration: true, expected: pin, actual } },
        );
      }
    }
    if (mode === 'insecure') this.cfg.logger.warn({ smtp: label }, 'SMTP TLS certificate not verified (insecure mode)');
  }

  private async authenticate(): Promise<void> {
    const { auth } = this.cfg.settings;
    if (auth.type === 'none') return;
    if (!this.conn.allowsAuth) {
      throw new AppError(
        'MAIL_AUTH_FAILED',
        `SMTP ${this.cfg.label}: the server offers no authentication (AUTH) on this connection, but credentials are ` +
          'configured. Check the security setting: many servers offer AUTH only after STARTTLS.',
        { details: { permanent: true, response: null, configuration: true } },
      );
    }
    const login = auth.type === 'basic' ? { user: auth.user, pass: auth.password } : { method: XOAUTH2_HANDLER, user: auth.user };
    await step<boolean | undefined>(this.conn, (done) => this.conn.login(login, (err, ok) => done(err, ok)));
  }

  async send(envelope: WireEnvelope, raw: Buffer): Promise<SMTPConnectionSendInfo> {
    const info = await step<SMTPConnectionSendInfo>(this.conn, (done) =>
      this.conn.send(
        {
          from: envelope.from,
          to: envelope.to,
          size: raw.length,
          use8BitMime: this.caps.eightBitMime && raw.some((b) => b > 0x7f),
        },
        raw,
        (err, result) => done(err, result),
      ),
    );
    this.messages += 1;
    return info;
  }

  /** RSET: ends any transaction and proves the connection still works before it is reused. */
  async reset(): Promise<void> {
    await step<boolean | undefined>(this.conn, (done) => this.conn.reset((err, ok) => done(err, ok)));
  }

  /** Ends the session politely (QUIT), closing the socket soon whatever the server does. */
  quit(): void {
    if (!this.alive) return this.close();
    this.dead = true;
    this.conn.quit();
    setTimeout(() => this.conn.close(), QUIT_GRACE_MS).unref();
  }

  close(): void {
    this.dead = true;
    this.conn.close();
  }
}

/**
 * The SHA-256 fingerprint of the certificate a server presents, without trusting it: used only to
 * tell an administrator what to pin after 'verify' refused the certificate. Sends nothing but
 * EHLO (and STARTTLS); returns null when it cannot find out.
 */
export async function probeFingerprint(cfg: SessionConfig): Promise<string | null> {
  const conn = new SMTPConnection(
    connectionOptions({ ...cfg, settings: { ...cfg.settings, auth: { type: 'none' } } }, {
      rejectUnauthorized: false,
      checkServerIdentity: () => undefined,
    }),
  );
  conn.on('error', () => undefined);
  try {
    await step<void>(conn, (done) => conn.connect((err) => done(err)));
    return peerFingerprint(conn._socket);
  } catch {
    return null;
  } finally {
    conn.close();
  }
}
