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

  return {
    byName,
    byId,
    serviceOf,

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
