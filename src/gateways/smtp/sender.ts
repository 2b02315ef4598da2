import { AppError, isAppError } from '../../errors/index.ts';
import type { ConnectionSettings, Envelope, MailSender, SenderCapabilities, SendResult } from '../ports.ts';
import { classifySmtpError } from './classify.ts';
import { toWireEnvelope, utf8AddressHeaders } from './envelope.ts';
import { createRateLimiter, type Clock, type RateLimiter } from './rate-limit.ts';
import { probeFingerprint, silentLogger, SmtpSession, type SessionConfig, type SmtpLogger } from './session.ts';
import { pinnedFingerprint } from './tls.ts';

export interface SmtpSenderOptions {
  /** Keep connections open and reuse them (default false: one connection per message). */
  pool?: boolean;
  /** Pooled connections at most (default 3; Exchange Online allows 3 concurrent per mailbox). */
  maxConnections?: number;
  /** Messages per minute at most, e.g. 30 for Exchange Online; sending waits, nothing is dropped. */
  rateLimitPerMinute?: number;
  logger?: SmtpLogger;
  /** EHLO name (default: nodemailer's, the machine's FQDN or [127.0.0.1]). */
  name?: string;
  /** Messages per pooled connection before it is replaced (default 100). */
  maxMessagesPerConnection?: number;
  /** Idle pooled connections are closed after this long (default 30 s). */
  idleTimeoutMs?: number;
  /** Time source for the rate limit (tests). */
  clock?: Clock;
}

const CERT_TRUST_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'CERT_UNTRUSTED', 'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** "250 2.0.0 Ok: queued as 4Xyz" (Postfix, Exim "id=" aside) → "4Xyz". */
export function parseQueueId(response: string): string | null {
  return /\bqueued as\s+<?([A-Za-z0-9][A-Za-z0-9._:@-]*)>?/i.exec(response)?.[1] ?? null;
}

function configError(message: string): AppError {
  return new AppError('VALIDATION_FAILED', message, { details: { permanent: true, response: null, configuration: true } });
}

function checkSettings(settings: ConnectionSettings): void {
  if (typeof settings?.host !== 'string' || settings.host.trim() === '') throw configError('The SMTP host is missing.');
  if (!Number.isInteger(settings.port) || settings.port < 1 || settings.port > 65535) {
    throw configError(`The SMTP port must be a number from 1 to 65535, got ${String(settings.port)}.`);
  }
  if (!['tls', 'starttls', 'none'].includes(settings.security)) {
    throw configError(`The SMTP security must be "tls", "starttls" or "none", got ${JSON.stringify(settings.security)}.`);
  }
  pinnedFingerprint(settings); // throws VALIDATION_FAILED on a malformed pin
}

function certCode(err: unknown): string | null {
  if (err === null || typeof err !== 'object') return null;
  const e = err as { code?: unknown; originalCode?: unknown };
  for (const c of [e.originalCode, e.code]) if (typeof c === 'string' && CERT_TRUST_CODES.has(c)) return c;
  return null;
}

class SmtpSender implements MailSender {
  private readonly cfg: SessionConfig;
  private readonly secrets: string[];
  private readonly limiter: RateLimiter | null;
  private readonly pool: boolean;
  private readonly maxConnections: number;
  private readonly maxMessages: number;
  private readonly idleTimeoutMs: number;
  private readonly idle: Array<{ session: SmtpSession; timer: NodeJS.Timeout }> = [];
  private readonly waiters: Array<() => void> = [];
  private open = 0;
  private closed = false;

  constructor(settings: ConnectionSettings, options: SmtpSenderOptions) {
    checkSettings(settings);
    const cfg: SessionConfig = { settings, logger: options.logger ?? silentLogger, label: `${settings.host}:${settings.port}` };
    if (options.name !== undefined) cfg.name = options.name;
    this.cfg = cfg;
    const auth = settings.auth;
    this.secrets = auth.type === 'basic' ? [auth.password] : auth.type === 'oauth2' ? [auth.accessToken] : [];
    this.limiter =
      options.rateLimitPerMinute === undefined
        ? null
        : createRateLimiter(options.clock ? { perMinute: options.rateLimitPerMinute, clock: options.clock } : { perMinute: options.rateLimitPerMinute });
    this.pool = options.pool === true;
    this.maxConnections = Math.max(1, Math.floor(options.maxConnections ?? 3));
    this.maxMessages = Math.max(1, Math.floor(options.maxMessagesPerConnection ?? 100));
    this.idleTimeoutMs = options.idleTimeoutMs ?? 30_000;
  }

  async verify(): Promise<SenderCapabilities> {
    this.assertOpen();
    const session = await this.openSession();
    session.quit();
    return { smtputf8: session.caps.smtputf8, maxSize: session.caps.maxSize };
  }

  async send(envelope: Envelope, raw: Buffer): Promise<SendResult> {
    this.assertOpen();
    if (!Buffer.isBuffer(raw) || raw.length === 0) {
      throw new AppError('VALIDATION_FAILED', 'The message to send is empty.', { details: { permanent: true, response: null } });
    }
    const wire = toWireEnvelope(envelope);
    const utf8Headers = utf8AddressHeaders(raw);
    const session = await this.acquire();
    let transmitted = false;
    let ok = false;
    try {
      if ((wire.utf8Addresses.length > 0 || utf8Headers.length > 0) && !session.caps.smtputf8) {
        throw this.smtputf8Required(wire.utf8Addresses, utf8Headers);
      }
      if (session.caps.maxSize !== null && raw.length > session.caps.maxSize) {
        throw new AppError(
          'MAIL_MESSAGE_TOO_LARGE',
          `SMTP ${this.cfg.label}: the message has ${raw.length} octets, the server accepts at most ${session.caps.maxSize} (SIZE). Nothing was sent.`,
          { details: { permanent: true, response: null, size: raw.length, maxSize: session.caps.maxSize } },
        );
      }
      if (this.limiter) {
        const waited = await this.limiter.take();
        if (waited > 0) this.cfg.logger.debug({ smtp: this.cfg.label, waitedMs: waited }, 'SMTP rate limit delayed a message');
      }
      transmitted = true;
      const info = await session.send(wire, raw);
      ok = true;
      this.cfg.logger.info(
        { smtp: this.cfg.label, accepted: info.accepted.length, rejected: info.rejected.length, response: info.response },
        'SMTP message sent',
      );
      return { response: info.response, queueId: parseQueueId(info.response), accepted: info.accepted, rejected: info.rejected };
    } catch (err) {
      throw this.toError(err);
    } finally {
      // A failed transaction leaves the session in an unknown state: do not reuse it.
      this.release(session, ok || !transmitted);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const { session, timer } of this.idle.splice(0)) {
      clearTimeout(timer);
      session.quit();
      this.open -= 1;
    }
    for (const wake of this.waiters.splice(0)) wake();
  }

  // ------------------------------------------------------------------ sessions

  private assertOpen(): void {
    if (this.closed) {
      throw new AppError('MAIL_SEND_TRANSIENT', `SMTP ${this.cfg.label}: this sender has been closed.`, {
        details: { permanent: false, response: null },
      });
    }
  }

  /** A new authenticated session, errors translated. */
  private async openSession(): Promise<SmtpSession> {
    try {
      return await SmtpSession.open(this.cfg);
    } catch (err) {
      const code = certCode(err);
      if (code !== null && (this.cfg.settings.tls?.mode ?? 'verify') === 'verify') throw await this.untrustedCertificate(err, code);
      throw this.toError(err);
    }
  }

  private async acquire(): Promise<SmtpSession> {
    for (;;) {
      this.assertOpen();
      const entry = this.idle.pop();
      if (entry) {
        clearTimeout(entry.timer);
        if (entry.session.alive) {
          try {
            await entry.session.reset();
            return entry.session;
          } catch (err) {
            this.cfg.logger.debug({ smtp: this.cfg.label, err: err instanceof Error ? err.message : String(err) }, 'SMTP pooled connection was stale');
          }
        }
        entry.session.close();
        this.open -= 1;
        continue;
      }
      if (this.open < this.maxConnections) {
        this.open += 1;
        try {
          return await this.openSession();
        } catch (err) {
          this.open -= 1;
          this.wakeOne();
          throw err;
        }
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  private release(session: SmtpSession, reusable: boolean): void {
    if (this.pool && reusable && !this.closed && session.alive && session.messages < this.maxMessages) {
      const timer = setTimeout(() => {
        const i = this.idle.findIndex((e) => e.session === session);
        if (i >= 0) {
          this.idle.splice(i, 1);
          session.quit();
          this.open -= 1;
          this.wakeOne();
        }
      }, this.idleTimeoutMs);
      timer.unref();
      this.idle.push({ session, timer });
    } else {
      session.quit();
      this.open -= 1;
    }
    this.wakeOne();
  }

  private wakeOne(): void {
    this.waiters.shift()?.();
  }

  // ------------------------------------------------------------------ errors

  private redact(text: string): string {
    let out = text;
    for (const secret of this.secrets) {
      if (secret.length < 4) continue;
      for (const form of [secret, Buffer.from(secret, 'utf8').toString('base64')]) out = out.split(form).join('[redacted]');
    }
    return out;
  }

  private toError(err: unknown): AppError {
    if (isAppError(err) && typeof err.details?.permanent === 'boolean') {
      const message = this.redact(err.message);
      if (message === err.message) return err;
      return new AppError(err.code, message, { details: err.details, cause: err.cause });
    }
    const c = classifySmtpError(err);
    const response = c.response === null ? null : this.redact(c.response);
    return new AppError(c.code, this.redact(`SMTP ${this.cfg.label}: ${c.message}`), {
      details: { permanent: c.permanent, response, configuration: c.configuration },
      cause: err,
    });
  }

  private smtputf8Required(addresses: string[], headers: string[]): AppError {
    const what = [
      addresses.length > 0 ? `the address${addresses.length > 1 ? 'es' : ''} ${addresses.join(', ')}` : '',
      headers.length > 0 ? `raw UTF-8 in the ${headers.join(', ')} header${headers.length > 1 ? 's' : ''}` : '',
    ]
      .filter(Boolean)
      .join(' and ');
    return new AppError(
      'MAIL_SMTPUTF8_REQUIRED',
      `SMTP ${this.cfg.label} does not offer SMTPUTF8 (RFC 6531), which ${what} need${addresses.length + headers.length > 1 ? '' : 's'}. ` +
        'Nothing was sent. Send through a server that supports SMTPUTF8, or use ASCII addresses.',
      { details: { permanent: true, response: null, addresses, headers } },
    );
  }

  private async untrustedCertificate(err: unknown, code: string): Promise<AppError> {
    const fingerprint = await probeFingerprint(this.cfg);
    const reason = err instanceof Error ? err.message : code;
    const pin = fingerprint
      ? `Its SHA-256 fingerprint is ${fingerprint}. If this is the right server, pin it: set the service's TLS ` +
        `verification to "fingerprint" with sha256 "${fingerprint}", or install its CA certificate on this host.`
      : 'Install its CA certificate on this host, or pin the certificate\'s SHA-256 fingerprint in the service\'s TLS settings.';
    return new AppError('MAIL_TLS_FAILED', this.redact(`SMTP ${this.cfg.label}: the server's TLS certificate is not trusted (${code}: ${reason}). ${pin}`), {
      details: { permanent: true, response: null, configuration: true, fingerprint256: fingerprint },
      cause: err,
    });
  }
}

export function createSmtpSender(settings: ConnectionSettings, options: SmtpSenderOptions = {}): MailSender {
  return new SmtpSender(settings, options);
}
