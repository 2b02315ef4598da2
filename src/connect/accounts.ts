import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { AppError } from '../errors/index.ts';
import type { SecretBox } from '../crypto/index.ts';
import type { MailAccountRow, MailServiceRow, Store } from '../store/index.ts';
import type { ConnectionSettings } from '../gateways/index.ts';
import { tlsSettings } from './services.ts';
import { validation } from './validation.ts';

export const accountInputSchema = z
  .object({
    name: z.string().trim().min(1).max(100),
    serviceId: z.string().min(1),
    username: z.string().min(1).max(320),
    password: z.string().min(1),
    ownerUserId: z.string().nullable().optional(),
    shared: z.boolean().optional(),
  })
  .strict();
export type AccountInput = z.input<typeof accountInputSchema>;

export interface AccountView {
  id: string;
  name: string;
  serviceId: string;
  username: string;
  hasPassword: boolean;
  ownerUserId: string | null;
  shared: boolean;
  createdAt: string;
  updatedAt: string;
}

export function accountView(r: MailAccountRow): AccountView {
  return {
    id: r.id,
    name: r.name,
    serviceId: r.service_id,
    username: r.username,
    hasPassword: r.secret !== null,
    ownerUserId: r.owner_user_id,
    shared: r.shared === 1,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** Who asks: the API's principal, reduced to what the visibility rule needs. */
export interface AccountUser {
  userId: string;
  role: 'admin' | 'user';
}

/** Shared accounts serve every user of the organisation; personal ones their owner and the admins. */
export function mayUseAccount(u: AccountUser, a: Pick<AccountView, 'shared' | 'ownerUserId'>): boolean {
  return a.shared || u.role === 'admin' || a.ownerUserId === u.userId;
}

const accountSecretContext = (id: string) => `mail_accounts:${id}:secret`;

/** Mailboxes reached through a mail service, with their own (encrypted) credentials. */
export function createAccounts(store: Store, secrets: SecretBox) {
  async function byName(orgId: string, name: string): Promise<MailAccountRow> {
    const r = await store.mailConfig.accountByName(orgId, name);
    if (!r) throw new AppError('NOT_FOUND', `No mail account named "${name}"; list them with: mailroom accounts list`);
    return r;
  }
  async function byId(orgId: string, id: string): Promise<MailAccountRow> {
    const r = await store.mailConfig.accountById(orgId, id);
    if (!r) throw new AppError('NOT_FOUND', `No mail account with id ${id} in this organisation.`);
    return r;
  }
  async function serviceOf(account: MailAccountRow): Promise<MailServiceRow> {
    const s = await store.mailConfig.serviceById(account.org_id, account.service_id);
    if (!s) throw new AppError('NOT_FOUND', `The mail service of account "${account.name}" no longer exists.`);
    return s;
  }

  /**
   * An account the user may see and use. Another user's personal account answers exactly like
   * an id that does not exist (or one of another organisation), so its existence does not leak.
   */
  async function visibleTo(orgId: string, u: AccountUser, id: string): Promise<AccountView> {
    const view = accountView(await byId(orgId, id));
    if (!mayUseAccount(u, view)) throw new AppError('NOT_FOUND', `No mail account with id ${id} in this organisation.`);
    return view;
  }

  return {
    byName,
    byId,
    serviceOf,
    visibleTo,

    async listVisible(orgId: string, u: AccountUser): Promise<AccountView[]> {
      return (await store.mailConfig.listAccounts(orgId)).map(accountView).filter((a) => mayUseAccount(u, a));
    },

    /** Only the owner of an account or an administrator may remove it. */
    async removeAs(orgId: string, u: AccountUser, id: string): Promise<void> {
      const a = await visibleTo(orgId, u, id);
      if (u.role !== 'admin' && a.ownerUserId !== u.userId) {
        throw new AppError('FORBIDDEN', 'Only the owner of a mail account or an administrator may remove it.');
      }
      await this.remove(orgId, a.id);
    },

    async create(orgId: string, input: AccountInput): Promise<AccountView> {
      const v = validation(accountInputSchema, input, 'mail account');
      const service = await store.mailConfig.serviceById(orgId, v.serviceId);
      if (!service) throw new AppError('NOT_FOUND', `No mail service with id ${v.serviceId} in this organisation.`);
      if (service.kind === 'smtp') throw new AppError('VALIDATION_FAILED', `"${service.name}" is an SMTP service; mail accounts receive mail, so choose an IMAP service.`);
      if (await store.mailConfig.accountByName(orgId, v.name)) throw new AppError('ALREADY_EXISTS', `A mail account named "${v.name}" already exists.`);
      const now = new Date().toISOString();
      const id = randomUUID();
      const row: MailAccountRow = {
        id,
        org_id: orgId,
        service_id: service.id,
        name: v.name,
        username: v.username,
        secret: secrets.seal(v.password, accountSecretContext(id)),
        owner_user_id: v.ownerUserId ?? null,
        shared: v.shared === false ? 0 : 1,
        created_at: now,
        updated_at: now,
      };
      await store.mailConfig.insertAccount(row);
      return accountView(row);
    },

    async list(orgId: string): Promise<AccountView[]> {
      return (await store.mailConfig.listAccounts(orgId)).map(accountView);
    },

    async remove(orgId: string, id: string): Promise<void> {
      const r = await byId(orgId, id);
      const n = await store.mailConfig.countRulesOfAccount(r.id);
      if (n > 0) throw new AppError('IN_USE', `The mail account "${r.name}" is used by ${n} import rule(s); remove them first.`);
      await store.mailConfig.deleteAccount(orgId, r.id);
    },

    /** Host and TLS from the service, credentials from the account; decrypted only here. */
    async connectionSettings(account: MailAccountRow): Promise<ConnectionSettings> {
      const s = await serviceOf(account);
      const password = account.secret ? secrets.open(account.secret, accountSecretContext(account.id)) : '';
      return { host: s.host, port: s.port, security: s.security, tls: tlsSettings(s), auth: { type: 'basic', user: account.username, password } };
    },
  };
}

export type Accounts = ReturnType<typeof createAccounts>;
