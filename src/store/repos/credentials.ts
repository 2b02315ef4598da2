import type { Kysely } from 'kysely';
import type { Database, UserRow } from '../schema.ts';

export interface TokenRow {
  id: string;
  user_id: string;
  name: string;
  created_at: string;
  last_used_at: string | null;
}

/** Sessions and personal API tokens; both are stored only as SHA-256 of the secret. */
export function credentialsRepo(db: Kysely<Database>) {
  return {
    async insertSession(row: { token_hash: string; user_id: string; created_at: string; expires_at: string }): Promise<void> {
      await db.insertInto('sessions').values(row).execute();
    },
    async userBySession(tokenHash: string, now: string): Promise<UserRow | undefined> {
      return db
        .selectFrom('sessions')
        .innerJoin('users', 'users.id', 'sessions.user_id')
        .selectAll('users')
        .where('sessions.token_hash', '=', tokenHash)
        .where('sessions.expires_at', '>', now)
        .executeTakeFirst();
    },
    async deleteSession(tokenHash: string): Promise<void> {
      await db.deleteFrom('sessions').where('token_hash', '=', tokenHash).execute();
    },
    async deleteExpiredSessions(now: string): Promise<void> {
      await db.deleteFrom('sessions').where('expires_at', '<=', now).execute();
    },
    async insertToken(row: TokenRow & { token_hash: string }): Promise<void> {
      await db.insertInto('api_tokens').values(row).execute();
    },
    async userByToken(tokenHash: string): Promise<(UserRow & { token_id: string }) | undefined> {
      return db
        .selectFrom('api_tokens')
        .innerJoin('users', 'users.id', 'api_tokens.user_id')
        .selectAll('users')
        .select('api_tokens.id as token_id')
        .where('api_tokens.token_hash', '=', tokenHash)
        .executeTakeFirst();
    },
    async touchToken(id: string, now: string): Promise<void> {
      await db.updateTable('api_tokens').set({ last_used_at: now }).where('id', '=', id).execute();
    },
    async listTokens(userId: string): Promise<TokenRow[]> {
      return db
        .selectFrom('api_tokens')
        .select(['id', 'user_id', 'name', 'created_at', 'last_used_at'])
        .where('user_id', '=', userId)
        .orderBy('created_at')
        .execute();
    },
    async deleteToken(id: string, userId: string): Promise<number> {
      const res = await db.deleteFrom('api_tokens').where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
      return Number(res.numDeletedRows);
    },
  };
}
export type CredentialsRepo = ReturnType<typeof credentialsRepo>;
