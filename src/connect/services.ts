import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { AppError } from '../errors/index.ts';
import type { SecretBox } from '../crypto/index.ts';
import type { MailServiceRow, Store } from '../store/index.ts';
import type { ConnectionSettings } from '../gateways/index.ts';
import { securitySchema, serviceKindSchema } from './types.ts';
import { validation } from './validation.ts';

const fingerprint = z
  .string()
  .transform((s) => s.replace(/[:\s]/g, '').toLowerCase())
  .pipe(z.string().regex(/^[0-9a-f]{64}$/, 'must be a SHA-256 fingerprint: 64 hex digits, colons allowed'));

export const serviceInputSchema = z
  .object({
    name: z.string().trim().min(1).max(100),
    kind: serviceKindSchema,
    host: z.string().trim().min(1).max(255),
    port: z.number().int().min(1).max(65535),
    security: securitySchema,
    tlsFingerprint: fingerprint.optional(),
    tlsInsecure: z.boolean().optional(),
    username: z.string().min(1).optional(),
    password: z.string().min(1).optional(),
    fromAddress: z.string().regex(/^[^\s@]+@[^\s@]+$/, 'must be an e-mail address').optional(),
    fromName: z.string().max(200).optional(),
    rateLimitPerMinute: z.number().int().positive().max(100000).optional(),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (v.security === 'none' && (v.tlsFingerprint || v.tlsInsecure)) {
      ctx.addIssue({ code: 'custom', path: ['security'], message: 'TLS options need --security tls or starttls; with none there is no certificate to check' });
    }
    if (v.tlsFingerprint && v.tlsInsecure) ctx.addIssue({ code: 'custom', path: ['tlsInsecure'], message: 'choose either a pinned fingerprint or --tls-insecure, not both' });
    if (v.kind === 'imap' && (v.username || v.password)) {
      ctx.addIssue({ code: 'custom', path: ['username'], message: 'IMAP credentials belong to mail accounts (mailroom accounts add), not to the service' });
    }
    if (v.kind === 'smtp' && v.password && !v.username) ctx.addIssue({ code: 'custom', path: ['username'], message: 'a password needs a user name' });
    if (v.kind === 'smtp' && !v.fromAddress) ctx.addIssue({ code: 'custom', path: ['fromAddress'], message: 'an SMTP service needs a sender address (--from)' });
  });
export type ServiceInput = z.input<typeof serviceInputSchema>;

export interface ServiceView {
  id: string;
  name: string;
  kind: MailServiceRow['kind'];
  host: string;
  port: number;
  security: MailServiceRow['security'];
  tls: { mode: MailServiceRow['tls_mode']; fingerprint: string | null };
  authType: MailServiceRow['auth_type'];
  username: string | null;
  hasPassword: boolean;
  fromAddress: string | null;
  fromName: string | null;
  rateLimitPerMinute: number | null;
  createdAt: string;
  updatedAt: string;
}

export function serviceView(r: MailServiceRow): ServiceView {
  return {
    id: r.id,
    name: r.name,
    kind: r.kind,
    host: r.host,
    port: r.port,
    security: r.security,
    tls: { mode: r.tls_mode, fingerprint: r.tls_fingerprint },
    authType: r.auth_type,
    username: r.username,
    hasPassword: r.secret !== null,
    fromAddress: r.from_address,
    fromName: r.from_name,
    rateLimitPerMinute: r.rate_limit_per_minute,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export const serviceSecretContext = (id: string) => `mail_services:${id}:secret`;

export function tlsSettings(r: MailServiceRow): ConnectionSettings['tls'] {
  if (r.tls_mode === 'fingerprint' && r.tls_fingerprint) return { mode: 'fingerprint', sha256: r.tls_fingerprint };
  if (r.tls_mode === 'insecure') return { mode: 'insecure' };
  return { mode: 'verify' };
}

/** Organisation-wide mail services: admins define them once, every user's accounts use them. */
export function createServices(store: Store, secrets: SecretBox) {
  async function byName(orgId: string, name: string): Promise<MailServiceRow> {
    const r = await store.mailConfig.serviceByName(orgId, name);
    if (!r) throw new AppError('NOT_FOUND', `No mail service named "${name}"; list them with: mailroom services list`);
    return r;
  }
  async function byId(orgId: string, id: string): Promise<MailServiceRow> {
    const r = await store.mailConfig.serviceById(orgId, id);
    if (!r) throw new AppError('NOT_FOUND', `No mail service with id ${id} in this organisation.`);
    return r;
  }

  return {
    byName,
    byId,

    async create(orgId: string, input: ServiceInput): Promise<ServiceView> {
      const v = validation(serviceInputSchema, input, 'mail service');
      if (await store.mailConfig.serviceByName(orgId, v.name)) throw new AppError('ALREADY_EXISTS', `A mail service named "${v.name}" already exists.`);
      const now = new Date().toISOString();
      const id = randomUUID();
      const row: MailServiceRow = {
        id,
        org_id: orgId,
        name: v.name,
        kind: v.kind,
        host: v.host,
        port: v.port,
        security: v.security,
        tls_mode: v.tlsFingerprint ? 'fingerprint' : v.tlsInsecure ? 'insecure' : 'verify',
        tls_fingerprint: v.tlsFingerprint ?? null,
        auth_type: v.kind === 'imap' ? 'basic' : v.username ? 'basic' : 'none',
        username: v.username ?? null,
        secret: v.password ? secrets.seal(v.password, serviceSecretContext(id)) : null,
        from_address: v.fromAddress ?? null,
        from_name: v.fromName ?? null,
        rate_limit_per_minute: v.rateLimitPerMinute ?? null,
        settings_json: '{}',
        created_at: now,
        updated_at: now,
      };
      await store.mailConfig.insertService(row);
      return serviceView(row);
    },

    async show(orgId: string, name: string): Promise<ServiceView> {
      return serviceView(await byName(orgId, name));
    },

    async list(orgId: string, kind?: MailServiceRow['kind']): Promise<ServiceView[]> {
      return (await store.mailConfig.listServices(orgId, kind)).map(serviceView);
    },

    async remove(orgId: string, id: string): Promise<void> {
      const r = await byId(orgId, id);
      const n = await store.mailConfig.countAccountsOfService(r.id);
      if (n > 0) throw new AppError('IN_USE', `The mail service "${r.name}" is used by ${n} mail account(s); remove them first.`);
      await store.mailConfig.deleteService(orgId, r.id);
    },

    /** Connection settings for a service's own credentials (SMTP); decrypted only here. */
    connectionSettings(r: MailServiceRow): ConnectionSettings {
      const auth: ConnectionSettings['auth'] =
        r.auth_type === 'basic' && r.username
          ? { type: 'basic', user: r.username, password: r.secret ? secrets.open(r.secret, serviceSecretContext(r.id)) : '' }
          : { type: 'none' };
      return { host: r.host, port: r.port, security: r.security, tls: tlsSettings(r), auth };
    },
  };
}

export type Services = ReturnType<typeof createServices>;
