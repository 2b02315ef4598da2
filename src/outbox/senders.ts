/**
 * One pooled `MailSender` per SMTP service (and one for the system default), created on first
 * use and kept: connections are reused across messages. A service whose settings changed
 * (updated_at) gets a fresh sender; the old one is closed once its sends are done.
 */
import type { Config } from '../config/index.ts';
import { AppError, isAppError } from '../errors/index.ts';
import type { MailSender } from '../gateways/index.ts';
import type { Logger } from '../log/index.ts';
import { requireSmtp, systemSettings } from './components.ts';
import type { OpenSender, SmtpServiceDirectory } from './types.ts';

/** How long a cached sender is used before the service row is looked at again. */
const RECHECK_MS = 5_000;

interface Entry {
  sender: MailSender;
  version: string;
  checkedAt: number;
}

export interface SenderPool {
  /** The sender for a message's service (null: the system default). Errors say whether a retry can help. */
  get(orgId: string, serviceId: string | null): Promise<MailSender>;
  close(): Promise<void>;
}

function permanent(message: string, code: 'SMTP_NOT_CONFIGURED' | 'VALIDATION_FAILED', cause?: unknown): AppError {
  return new AppError(code, message, { details: { permanent: true, response: null, configuration: true }, ...(cause === undefined ? {} : { cause }) });
}

export function createSenderPool(deps: {
  services: SmtpServiceDirectory;
  config: Config;
  log: Logger;
  openSender: OpenSender;
  concurrency: number;
  now: () => number;
}): SenderPool {
  const entries = new Map<string, Entry>();
  const opening = new Map<string, Promise<MailSender>>();
  const smtpLog = deps.log.child({ component: 'smtp' });

  async function open(key: string, version: string, make: () => MailSender | Promise<MailSender>): Promise<MailSender> {
    const old = entries.get(key);
    const sender = await make();
    entries.set(key, { sender, version, checkedAt: deps.now() });
    if (old && old.sender !== sender) void old.sender.close().catch(() => undefined);
    return sender;
  }

  async function lookup(orgId: string, serviceId: string | null): Promise<MailSender> {
    const key = serviceId ?? 'system';
    const cached = entries.get(key);
    if (serviceId === null) {
      if (cached) return cached.sender;
      const smtp = deps.config.smtp;
      if (!smtp) {
        throw permanent(
          'This message was queued for the system default SMTP, which is no longer configured; set MAILROOM_SMTP_HOST and MAILROOM_SMTP_FROM, then retry it.',
          'SMTP_NOT_CONFIGURED',
        );
      }
      return open(key, 'system', () => deps.openSender(systemSettings(smtp), { pool: true, maxConnections: deps.concurrency, logger: smtpLog }));
    }
    let row;
    try {
      row = await deps.services.byId(orgId, serviceId);
    } catch (err) {
      if (isAppError(err) && err.kind === 'not_found') {
        throw permanent(`The SMTP service this message was queued for (${serviceId}) has been removed; the message cannot be sent. Send it again through another service.`, 'SMTP_NOT_CONFIGURED', err);
      }
      throw err;
    }
    try {
      requireSmtp(row);
    } catch (err) {
      throw permanent(err instanceof Error ? err.message : String(err), 'VALIDATION_FAILED', err);
    }
    if (cached && cached.version === row.updated_at) {
      cached.checkedAt = deps.now();
      return cached.sender;
    }
    const settings = deps.services.connectionSettings(row);
    const rate = row.rate_limit_per_minute;
    return open(key, row.updated_at, () =>
      deps.openSender(settings, {
        pool: true,
        maxConnections: deps.concurrency,
        logger: smtpLog,
        ...(rate !== null && rate > 0 ? { rateLimitPerMinute: rate } : {}),
      }),
    );
  }

  return {
    async get(orgId, serviceId) {
      const key = serviceId ?? 'system';
      const cached = entries.get(key);
      if (cached && deps.now() - cached.checkedAt < RECHECK_MS) return cached.sender;
      // Messages of the same service arriving together share one lookup (and one sender).
      let p = opening.get(key);
      if (!p) {
        p = lookup(orgId, serviceId).finally(() => opening.delete(key));
        opening.set(key, p);
      }
      return p;
    },
    async close() {
      const all = [...entries.values()];
      entries.clear();
      await Promise.allSettled(all.map((e) => e.sender.close()));
    },
  };
}
