/**
 * Password reset: a single-use link by mail, and setting the password with it.
 *
 * - `request(email)` answers the same for every address (`{status: 'sent-if-registered'}`), so
 *   nobody learns whether an address has an account. For a known address it stores a random
 *   token (only its SHA-256), mails the link through the organisation's `notifications`
 *   component (or the system default SMTP) and waits up to ~10 s for the outbox's first attempt.
 * - Without a working SMTP path (none configured, or the first attempt failed with a
 *   connection, authentication or TLS error) it answers PASSWORD_RESET_UNAVAILABLE (503) and
 *   records the problem for the organisation's administrators (org_problems).
 * - An unknown address gets the answer a known address of the organisation it would belong to
 *   (same domain, else the default organisation) gets in the same situation, after a delay like
 *   a real send. The trade-off is written down in docs/decisions/0006.
 * - Rate limits per address and per client IP are kept in memory (one process; several API
 *   processes each count on their own).
 */
import { AppError, isAppError } from '../errors/index.ts';
import { hashPassword, hashToken, newToken } from '../crypto/index.ts';
import type { Logger } from '../log/index.ts';
import type { DeliveryOutcome, EnqueueInput, OutboxMessageDetail, ResolvedSender } from '../outbox/index.ts';
import { renderPasswordReset } from '../outbox/templates/index.ts';
import type { Store, UserRow } from '../store/index.ts';
import { DEFAULT_ORG } from './service.ts';

/** The problem kind recorded for administrators when reset mail cannot be sent. */
export const PASSWORD_RESET_UNAVAILABLE = 'password_reset_unavailable';

/** What password reset needs of the outbox (src/outbox's Outbox satisfies it). */
export interface ResetMailer {
  resolveSender(orgId: string, component: string): Promise<ResolvedSender>;
  enqueue(input: EnqueueInput): Promise<{ id: string }>;
  waitFor(orgId: string, id: string, opts?: { timeoutMs?: number }): Promise<DeliveryOutcome>;
  get(orgId: string, id: string): Promise<OutboxMessageDetail>;
  cancel(orgId: string, id: string, by?: { email?: string }): Promise<OutboxMessageDetail>;
}

export interface RateLimit {
  max: number;
  windowMs: number;
}

export interface PasswordResetDeps {
  store: Store;
  outbox: ResetMailer;
  log: Logger;
  /** MAILROOM_PUBLIC_URL (a function when it is known only once the server listens). */
  publicUrl: string | (() => string);
}

export interface PasswordResetOptions {
  /** How long a link works (default 30 minutes). */
  tokenTtlMs?: number;
  /** How long a request waits for the first delivery attempt (default 10 s). */
  firstAttemptWaitMs?: number;
  /** Requests per address (default 3 per hour). */
  perAddress?: RateLimit;
  /** Requests per client IP (default 10 per hour). */
  perIp?: RateLimit;
  now?: () => number;
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export const RESET_ACCEPTED = { status: 'sent-if-registered' } as const;
export type ResetAccepted = typeof RESET_ACCEPTED;

const MIN_PASSWORD = 8;
const MAX_PASSWORD = 1024;
const EMAIL = /^[^\s@]+@[^\s@]+$/u;

/**
 * Failure codes of a first attempt that say the SMTP path itself does not work (as opposed to a
 * server that answered and refused this one recipient, which says it does).
 */
const PATH_FAILURES: ReadonlySet<string> = new Set([
  'MAIL_HOST_UNREACHABLE',
  'MAIL_CONNECTION_LOST',
  'MAIL_TIMEOUT',
  'MAIL_AUTH_FAILED',
  'MAIL_TLS_FAILED',
  'MAIL_TLS_FINGERPRINT_MISMATCH',
  'MAIL_PROTOCOL_ERROR',
  'SMTP_NOT_CONFIGURED',
]);

/** The one public answer when reset mail cannot go out; the same for every address. */
function unavailable(): AppError {
  return new AppError(
    'PASSWORD_RESET_UNAVAILABLE',
    'Password reset is unavailable: no working SMTP connection can send the reset mail right now. Try again later, or ask an administrator of your organisation to set a new password for you.',
  );
}

/** A sliding-window counter per key, in memory. */
function slidingWindow(limit: RateLimit, maxKeys = 10_000) {
  const hits = new Map<string, number[]>();
  return (key: string, now: number): { ok: true } | { ok: false; retryAfterMs: number } => {
    const times = (hits.get(key) ?? []).filter((t) => t > now - limit.windowMs);
    hits.delete(key);
    if (times.length >= limit.max) {
      hits.set(key, times);
      return { ok: false, retryAfterMs: Math.max(times[0]! + limit.windowMs - now, 1) };
    }
    times.push(now);
    hits.set(key, times);
    // Least recently used first (Map order): drop the oldest keys beyond the bound.
    for (const k of hits.keys()) {
      if (hits.size <= maxKeys) break;
      hits.delete(k);
    }
    return { ok: true };
  };
}

function minutes(ms: number): string {
  const m = Math.ceil(ms / 60_000);
  return m === 1 ? '1 minute' : `${m} minutes`;
}

type Outcome = 'accepted' | 'unavailable';

export function createPasswordReset(deps: PasswordResetDeps, options: PasswordResetOptions = {}) {
  const { store, outbox, log } = deps;
  const repo = store.notifications;
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const ttlMs = options.tokenTtlMs ?? 30 * 60_000;
  const waitMs = options.firstAttemptWaitMs ?? 10_000;
  const perAddress = slidingWindow(options.perAddress ?? { max: 3, windowMs: 60 * 60_000 });
  const perIp = slidingWindow(options.perIp ?? { max: 10, windowMs: 60 * 60_000 });
  const publicUrl = (): string => (typeof deps.publicUrl === 'function' ? deps.publicUrl() : deps.publicUrl);
  const iso = (ms: number): string => new Date(ms).toISOString();

  /** How long recent requests that sent a mail took, per organisation (for the decoy's delay). */
  const latencies = new Map<string, number[]>();
  function rememberLatency(orgId: string, ms: number): void {
    const list = latencies.get(orgId) ?? [];
    list.push(ms);
    if (list.length > 50) list.shift();
    latencies.set(orgId, list);
  }
  function decoyDelay(orgId: string): number {
    const list = latencies.get(orgId) ?? [];
    const base = list.length > 0 ? list[Math.floor(random() * list.length)]! : 150 + random() * 350;
    return Math.max(0, Math.round(base * (0.9 + 0.2 * random())));
  }

  async function orgLabel(orgId: string): Promise<string> {
    return JSON.stringify((await store.orgs.byId(orgId))?.name ?? orgId);
  }

  async function recordProblem(orgId: string, message: string, fix: string): Promise<void> {
    try {
      await repo.problems.record({ orgId, kind: PASSWORD_RESET_UNAVAILABLE, message, fix, at: iso(now()) });
    } catch (err) {
      log.error({ err, orgId }, 'could not record the password reset problem');
    }
  }

  async function notConfigured(orgId: string, reason: string): Promise<Outcome> {
    const org = await orgLabel(orgId);
    await recordProblem(
      orgId,
      `Password reset is unavailable: there is no SMTP connection for the organisation's notification mail. ${reason}`,
      `Assign an SMTP service to the notifications component: mailroom --org ${org} components set notifications <service> ` +
        `(create one with: mailroom --org ${org} services add <name> --kind smtp ...), or ask the operator to configure the ` +
        'system default SMTP (MAILROOM_SMTP_HOST, MAILROOM_SMTP_FROM).',
    );
    log.warn({ orgId }, 'password reset unavailable: no SMTP connection for notification mail');
    return 'unavailable';
  }

  function fixFor(code: string | null, sender: ResolvedSender, org: string): string {
    const test =
      sender.source === 'system'
        ? 'check MAILROOM_SMTP_HOST, MAILROOM_SMTP_PORT and MAILROOM_SMTP_SECURITY'
        : `then check with: mailroom --org ${org} services test ${JSON.stringify(sender.serviceName)} --to <your address>`;
    switch (code) {
      case 'MAIL_AUTH_FAILED':
        return sender.source === 'system'
          ? 'Correct MAILROOM_SMTP_USER and MAILROOM_SMTP_PASSWORD for the system default SMTP, and make sure SMTP AUTH is enabled for that mailbox.'
          : `Correct the user name and password (or the OAuth2 token) of the SMTP service ${JSON.stringify(sender.serviceName)}, and make sure SMTP AUTH is enabled for that mailbox; ${test}.`;
      case 'MAIL_TLS_FAILED':
      case 'MAIL_TLS_FINGERPRINT_MISMATCH':
        return `Check the security setting (tls on port 465, starttls on 587) and the server's certificate; pin its fingerprint only if you trust the server; ${test}.`;
      case 'SMTP_NOT_CONFIGURED':
        return `Assign a working SMTP service: mailroom --org ${org} components set notifications <service>, or configure the system default SMTP (MAILROOM_SMTP_HOST).`;
      default:
        return `Make sure the SMTP server is running and reachable from Mailroom (host name, port, firewall); ${test}.`;
    }
  }

  /** A known address: token, mail, and the first attempt's verdict. */
  async function sendReset(user: UserRow): Promise<Outcome> {
    const orgId = user.org_id;
    let sender: ResolvedSender;
    try {
      sender = await outbox.resolveSender(orgId, 'notifications');
    } catch (err) {
      if (isAppError(err) && err.code === 'SMTP_NOT_CONFIGURED') return notConfigured(orgId, err.message);
      throw err;
    }
    const started = now();
    const token = newToken('mrr');
    const tokenHash = hashToken(token);
    await repo.resets.insert({ token_hash: tokenHash, user_id: user.id, org_id: orgId, created_at: iso(started), expires_at: iso(started + ttlMs), used_at: null });
    const mail = renderPasswordReset({ language: user.language, name: user.name, email: user.email, publicUrl: publicUrl(), token, validMinutes: Math.round(ttlMs / 60_000) });
    let id: string;
    try {
      ({ id } = await outbox.enqueue({ orgId, component: 'notifications', to: [{ name: user.name, address: user.email }], subject: mail.subject, text: mail.text, html: mail.html, createdBy: null }));
    } catch (err) {
      await repo.resets.remove(tokenHash);
      if (isAppError(err) && err.code === 'SMTP_NOT_CONFIGURED') return notConfigured(orgId, err.message);
      throw err;
    }
    const outcome = await outbox.waitFor(orgId, id, { timeoutMs: waitMs });
    rememberLatency(orgId, now() - started);
    if (outcome.status === 'sent') {
      if (await repo.problems.resolve(orgId, PASSWORD_RESET_UNAVAILABLE, iso(now()))) log.info({ orgId }, 'password reset mail goes out again; problem resolved');
      return 'accepted';
    }
    if (outcome.status !== 'deferred' && outcome.status !== 'failed') return 'accepted'; // still on its way after the wait
    const detail = await outbox.get(orgId, id);
    if (detail.code === null || !PATH_FAILURES.has(detail.code)) {
      // The server answered and refused this message (e.g. the mailbox does not exist): the path works.
      log.warn({ orgId, outboxId: id, code: detail.code }, 'password reset mail was refused by the server');
      return 'accepted';
    }
    // Said unavailable, so it must not arrive hours later with a dead link: call it back.
    if (detail.status === 'deferred') {
      try {
        await outbox.cancel(orgId, id, { email: 'password reset' });
      } catch (err) {
        log.warn({ err, outboxId: id }, 'could not cancel the undeliverable password reset mail');
      }
    }
    await repo.resets.remove(tokenHash);
    const via = sender.source === 'system' ? 'the system default SMTP' : `the SMTP service ${JSON.stringify(sender.serviceName)}`;
    const org = await orgLabel(orgId);
    await recordProblem(
      orgId,
      `Password reset is unavailable: the reset mail could not be sent through ${via} [${detail.code}]: ${detail.reply ?? 'no reply'}`,
      fixFor(detail.code, sender, org),
    );
    log.warn({ orgId, outboxId: id, code: detail.code }, 'password reset unavailable: the first delivery attempt failed');
    return 'unavailable';
  }

  /** The organisation an unknown address would belong to: same domain, else the default one. */
  async function likelyOrg(email: string): Promise<string | undefined> {
    const domain = email.slice(email.lastIndexOf('@') + 1);
    return (await repo.resets.orgOfDomain(domain)) ?? (await store.orgs.byName(DEFAULT_ORG))?.id;
  }

  /**
   * An unknown address: the answer a known address of that organisation gets in the same
   * situation (no SMTP configured; last attempt failed, recorded as an open problem; else
   * accepted), after a delay drawn from that organisation's recent real requests.
   */
  async function decoy(email: string): Promise<Outcome> {
    const orgId = await likelyOrg(email);
    if (orgId === undefined) return 'accepted';
    try {
      await outbox.resolveSender(orgId, 'notifications');
    } catch (err) {
      if (isAppError(err) && err.code === 'SMTP_NOT_CONFIGURED') return 'unavailable';
      throw err;
    }
    await sleep(decoyDelay(orgId));
    const problem = await repo.problems.get(orgId, PASSWORD_RESET_UNAVAILABLE);
    return problem && problem.resolved_at === null ? 'unavailable' : 'accepted';
  }

  return {
    /** Minutes a reset link works. */
    tokenTtlMinutes: Math.round(ttlMs / 60_000),

    /**
     * Mails a reset link when the address has an account; always answers the same. Throws
     * RATE_LIMITED (429, details.retryAfterSeconds) or PASSWORD_RESET_UNAVAILABLE (503).
     */
    async request(input: { email: string; ip?: string | undefined }): Promise<ResetAccepted> {
      const email = input.email.trim().toLowerCase();
      if (!EMAIL.test(email) || email.length > 320) {
        throw new AppError('VALIDATION_FAILED', `"${input.email}" is not an e-mail address.`, { details: { field: 'email' } });
      }
      const t = now();
      const byIp = perIp(input.ip ?? 'unknown', t);
      if (!byIp.ok) {
        throw new AppError('RATE_LIMITED', `Too many password reset requests from your network; wait ${minutes(byIp.retryAfterMs)} and try again.`, {
          details: { retryAfterSeconds: Math.ceil(byIp.retryAfterMs / 1000) },
        });
      }
      const byAddress = perAddress(email, t);
      if (!byAddress.ok) {
        throw new AppError('RATE_LIMITED', `Too many password reset requests for this address; wait ${minutes(byAddress.retryAfterMs)} and try again.`, {
          details: { retryAfterSeconds: Math.ceil(byAddress.retryAfterMs / 1000) },
        });
      }
      await repo.resets.deleteExpired(iso(t - 24 * 60 * 60_000));
      const user = await store.users.byEmail(email);
      const outcome = user ? await sendReset(user) : await decoy(email);
      if (outcome === 'unavailable') throw unavailable();
      return RESET_ACCEPTED;
    },

    /**
     * Sets the password with a token from a reset mail: the token is used up, and every other
     * reset token and every session of the user end. RESET_TOKEN_INVALID for an unknown, used
     * or expired token; VALIDATION_FAILED for a too short password (the token stays valid).
     */
    async confirm(input: { token: string; password: string }): Promise<{ userId: string }> {
      if (input.password.length < MIN_PASSWORD || input.password.length > MAX_PASSWORD) {
        throw new AppError('VALIDATION_FAILED', `The password must be ${MIN_PASSWORD} to ${MAX_PASSWORD} characters long.`, { details: { field: 'password' } });
      }
      const passwordHash = await hashPassword(input.password);
      const userId = /^mrr_[A-Za-z0-9_-]{20,100}$/.test(input.token.trim()) ? await repo.resets.consume(hashToken(input.token.trim()), iso(now()), passwordHash) : null;
      if (userId === null) {
        throw new AppError(
          'RESET_TOKEN_INVALID',
          `This password reset link is not valid: it was already used, has expired (links work for ${Math.round(ttlMs / 60_000)} minutes) or was replaced by a newer password. Request a new one.`,
        );
      }
      log.info({ userId }, 'password set with a reset link; sessions ended');
      return { userId };
    },
  };
}

export type PasswordReset = ReturnType<typeof createPasswordReset>;
