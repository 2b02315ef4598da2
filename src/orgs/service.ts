import { randomUUID, randomBytes } from 'node:crypto';
import { AppError } from '../errors/index.ts';
import { hashPassword, hashToken, newToken, verifyPassword } from '../crypto/index.ts';
import type { Store, UserRow, TokenRow } from '../store/index.ts';
import type { OrgView, Principal, Role, UserView } from './types.ts';

const SESSION_TTL_MS = 12 * 60 * 60 * 1000;
export const DEFAULT_ORG = 'default';
const ORG_NAME = /^[\p{L}\p{N}][\p{L}\p{N} ._-]{0,62}$/u;
const EMAIL = /^[^\s@]+@[^\s@]+$/u;

function userView(u: UserRow): UserView {
  return { id: u.id, orgId: u.org_id, email: u.email, name: u.name, role: u.role, language: u.language, createdAt: u.created_at };
}

function principal(u: UserRow): Principal {
  return { userId: u.id, orgId: u.org_id, email: u.email, role: u.role };
}

/** Organisations (tenants), users, sessions and personal API tokens. */
export function createOrgsService(store: Store) {
  const now = () => new Date().toISOString();
  let decoy: Promise<string> | undefined;
  const decoyHash = (): Promise<string> => (decoy ??= hashPassword(randomBytes(16).toString('base64')));

  async function orgByName(name: string): Promise<OrgView> {
    const org = await store.orgs.byName(name);
    if (!org) throw new AppError('ORG_NOT_FOUND', `No organisation named "${name}"; list them with: mailroom orgs list`);
    return { id: org.id, name: org.name, createdAt: org.created_at };
  }

  async function createOrg(name: string): Promise<OrgView> {
    if (!ORG_NAME.test(name)) {
      throw new AppError('VALIDATION_FAILED', `"${name}" is not a valid organisation name: use 1-63 letters, digits, spaces, dots, dashes or underscores, starting with a letter or digit.`);
    }
    if (await store.orgs.byName(name)) throw new AppError('ORG_EXISTS', `An organisation named "${name}" already exists.`);
    const row = { id: randomUUID(), name, created_at: now() };
    await store.orgs.insert(row);
    return { id: row.id, name: row.name, createdAt: row.created_at };
  }

  async function addUser(input: { orgId: string; email: string; name?: string; role: Role; password?: string; language?: string }): Promise<UserView> {
    const email = input.email.trim().toLowerCase();
    if (!EMAIL.test(email)) throw new AppError('VALIDATION_FAILED', `"${input.email}" is not an e-mail address.`);
    if (input.role !== 'admin' && input.role !== 'user') throw new AppError('VALIDATION_FAILED', 'The role must be admin or user.');
    if (input.password !== undefined && input.password.length < 8) {
      throw new AppError('VALIDATION_FAILED', 'The password must be at least 8 characters long.');
    }
    if (await store.users.byEmail(email)) throw new AppError('USER_EXISTS', `A user with the e-mail address ${email} already exists.`);
    const row: UserRow = {
      id: randomUUID(),
      org_id: input.orgId,
      email,
      name: input.name ?? email.split('@')[0]!,
      role: input.role,
      language: input.language === 'de' ? 'de' : 'en',
      password_hash: input.password === undefined ? null : await hashPassword(input.password),
      created_at: now(),
    };
    await store.users.insert(row);
    return userView(row);
  }

  return {
    orgByName,
    createOrg,
    addUser,

    async listOrgs(): Promise<OrgView[]> {
      return (await store.orgs.list()).map((o) => ({ id: o.id, name: o.name, createdAt: o.created_at }));
    },

    async ensureOrg(name: string): Promise<OrgView> {
      const existing = await store.orgs.byName(name);
      return existing ? { id: existing.id, name: existing.name, createdAt: existing.created_at } : createOrg(name);
    },

    /**
     * First start: when no admin exists anywhere, create `admin@localhost` in the default
     * organisation with a random password, returned once so `serve` can print it.
     */
    async bootstrapAdmin(): Promise<{ email: string; password: string } | null> {
      if ((await store.users.countAdmins()) > 0) return null;
      const org = await this.ensureOrg(DEFAULT_ORG);
      const password = randomBytes(18).toString('base64url');
      const email = 'admin@localhost';
      const existing = await store.users.byEmail(email);
      if (existing) {
        await store.users.setPassword(existing.id, await hashPassword(password));
        return { email, password };
      }
      await addUser({ orgId: org.id, email, name: 'Administrator', role: 'admin', password });
      return { email, password };
    },

    async listUsers(orgId: string): Promise<UserView[]> {
      return (await store.users.listByOrg(orgId)).map(userView);
    },

    async userByEmail(email: string): Promise<UserView> {
      const u = await store.users.byEmail(email.trim().toLowerCase());
      if (!u) throw new AppError('USER_NOT_FOUND', `No user with the e-mail address ${email}.`);
      return userView(u);
    },

    async getUser(orgId: string, id: string): Promise<UserView> {
      const u = await store.users.byId(id);
      if (!u || u.org_id !== orgId) throw new AppError('USER_NOT_FOUND', `No user with id ${id} in this organisation.`);
      return userView(u);
    },

    async updateUser(orgId: string, id: string, patch: { name?: string; role?: Role; language?: string }): Promise<UserView> {
      const n = await store.users.update(id, orgId, patch);
      if (n === 0) throw new AppError('USER_NOT_FOUND', `No user with id ${id} in this organisation.`);
      return this.getUser(orgId, id);
    },

    async removeUser(orgId: string, id: string): Promise<void> {
      const n = await store.users.remove(id, orgId);
      if (n === 0) throw new AppError('USER_NOT_FOUND', `No user with id ${id} in this organisation.`);
    },

    async setPassword(userId: string, password: string): Promise<void> {
      if (password.length < 8) throw new AppError('VALIDATION_FAILED', 'The password must be at least 8 characters long.');
      await store.users.setPassword(userId, await hashPassword(password));
    },

    /** The same answer for an unknown address and a wrong password, so addresses cannot be probed. */
    async login(email: string, password: string): Promise<{ principal: Principal; session: string; expiresAt: string }> {
      const u = await store.users.byEmail(email.trim().toLowerCase());
      // An unknown address costs the same scrypt as a wrong password, so timing does not tell them apart.
      const ok = await verifyPassword(password, u?.password_hash ?? (await decoyHash()));
      if (!u?.password_hash || !ok) throw new AppError('AUTH_INVALID_CREDENTIALS', 'Wrong e-mail address or password.');
      const session = newToken('mrs');
      const expiresAt = new Date(Date.now() + SESSION_TTL_MS).toISOString();
      await store.credentials.insertSession({ token_hash: hashToken(session), user_id: u.id, created_at: now(), expires_at: expiresAt });
      return { principal: principal(u), session, expiresAt };
    },

    async logout(session: string): Promise<void> {
      await store.credentials.deleteSession(hashToken(session));
    },

    async principalBySession(session: string): Promise<Principal | null> {
      const u = await store.credentials.userBySession(hashToken(session), now());
      return u ? principal(u) : null;
    },

    async principalByApiToken(token: string): Promise<Principal | null> {
      const u = await store.credentials.userByToken(hashToken(token));
      if (!u) return null;
      await store.credentials.touchToken(u.token_id, now());
      return principal(u);
    },

    /** The token is returned once and stored only as its hash. */
    async createApiToken(userId: string, name: string): Promise<{ token: string; info: TokenRow }> {
      const token = newToken('mrt');
      const info: TokenRow = { id: randomUUID(), user_id: userId, name, created_at: now(), last_used_at: null };
      await store.credentials.insertToken({ ...info, token_hash: hashToken(token) });
      return { token, info };
    },

    async listApiTokens(userId: string): Promise<TokenRow[]> {
      return store.credentials.listTokens(userId);
    },

    async revokeApiToken(userId: string, tokenId: string): Promise<void> {
      const n = await store.credentials.deleteToken(tokenId, userId);
      if (n === 0) throw new AppError('NOT_FOUND', `No API token with id ${tokenId}.`);
    },
  };
}

export type OrgsService = ReturnType<typeof createOrgsService>;
