import { z } from 'zod';

const flag = z
  .enum(['true', 'false', '1', '0', 'yes', 'no', ''], { message: 'must be true or false' })
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

/**
 * MAILROOM_SMTP_*: the system default SMTP connection (outbox/components.ts). Present only when
 * MAILROOM_SMTP_HOST is set; the password may come from MAILROOM_SMTP_PASSWORD_FILE.
 */
export const smtpDefaultSchema = z
  .object({
    host: z.string({ message: 'is required when any MAILROOM_SMTP_* setting is given' }).min(1),
    port: z.coerce.number().int().min(1).max(65535),
    security: z.enum(['tls', 'starttls', 'none'], { message: 'must be tls, starttls or none' }),
    user: z.string().min(1).optional(),
    password: z.string().min(1).optional(),
    from: z.string({ message: 'is required: the sender address of system mail' }).regex(/^[^\s@]+@[^\s@]+$/, 'must be an e-mail address'),
    fromName: z.string().max(200).optional(),
    tlsFingerprint: z
      .string()
      .transform((s) => s.replace(/[:\s]/g, '').toLowerCase())
      .pipe(z.string().regex(/^[0-9a-f]{64}$/, 'must be a SHA-256 fingerprint: 64 hex digits, colons allowed'))
      .optional(),
    tlsInsecure: flag,
  })
  .superRefine((v, ctx) => {
    if (v.password !== undefined && v.user === undefined) ctx.addIssue({ code: 'custom', path: ['user'], message: 'is required when a password is set' });
    if (v.tlsFingerprint !== undefined && v.tlsInsecure) {
      ctx.addIssue({ code: 'custom', path: ['tlsInsecure'], message: 'choose either a pinned fingerprint (MAILROOM_SMTP_TLS_FINGERPRINT) or no verification, not both' });
    }
  });

/** MAILROOM_OUTBOX_*: the send worker. */
export const outboxSchema = z.object({
  /** Messages sent at the same time (default 8). */
  concurrency: z.coerce.number().int().min(1).max(256),
  /** How long a worker's claim on a message lasts without renewal (a crashed worker's messages are reclaimed after it). */
  leaseSeconds: z.coerce.number().int().min(5).max(3600),
});

/**
 * MAILROOM_PUBLIC_URL: where people reach Mailroom (behind a reverse proxy, its public address).
 * Links in mail (password reset, documents) are built from it. Default: http://HOST:PORT.
 * Stored without a trailing slash; a path prefix (https://example.com/mailroom) is kept.
 */
export const publicUrlSchema = z
  .string()
  .trim()
  .regex(/^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/i, 'must be an http:// or https:// URL without query or fragment, e.g. https://mailroom.example.com')
  .transform((s) => s.replace(/\/+$/, ''));

/** MAILROOM_NOTIFY_*: subscriptions to cabinets (src/notifications). */
export const notificationsSchema = z.object({
  /** Hour of the day (UTC, 0-23) when daily digests go out (default 7). */
  digestHour: z.coerce.number().int().min(0).max(23),
  /** How often the notifier looks for newly archived documents, in seconds (default 30). */
  intervalSeconds: z.coerce.number().int().min(1).max(3600),
});

/** Every setting Mailroom reads, with its default. Environment names are listed in the README. */
export const configSchema = z.object({
  dataDir: z.string().min(1),
  databaseUrl: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must start with postgres:// or postgresql://')
    .optional(),
  host: z.string().min(1),
  port: z.coerce.number().int().min(0).max(65535),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
  /** Raw key material as given (base64 or hex of 32 bytes); resolved by crypto/keyring. */
  secretKey: z.string().optional(),
  secretKeyFile: z.string().optional(),
  /** The operator's system default SMTP, used where an organisation has no service of its own. */
  smtp: smtpDefaultSchema.optional(),
  outbox: outboxSchema,
  publicUrl: publicUrlSchema,
  notifications: notificationsSchema,
});

export type Config = z.infer<typeof configSchema>;
