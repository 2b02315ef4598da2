import type { Kysely } from 'kysely';
import type { Database, UserRow } from '../schema.ts';

export function usersRepo(db: Kysely<Database>) {
  return {
    async insert(row: UserRow): Promise<void> {
      await db.insertInto('users').values(row).execute();
    },
    async byEmail(email: string): Promise<UserRow | undefined> {
      return db.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirst();
    },
    async byId(id: string): Promise<UserRow | undefined> {
      return db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
    },
    async listByOrg(orgId: string): Promise<UserRow[]> {
      return db.selectFrom('users').selectAll().where('org_id', '=', orgId).orderBy('email').execute();
    },
    async countAdmins(): Promise<number> {
      const row = await db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).where('role', '=', 'admin').executeTakeFirst();
      return Number(row?.n ?? 0);
    },
    async setPassword(id: string, passwordHash: string): Promise<void> {
      await db.updateTable('users').set({ password_hash: passwordHash }).where('id', '=', id).execute();
    },
    async update(id: string, orgId: string, patch: Partial<Pick<UserRow, 'name' | 'role' | 'language'>>): Promise<number> {
      const res = await db.updateTable('users').set(patch).where('id', '=', id).where('org_id', '=', orgId).executeTakeFirst();
      return Number(res.numUpdatedRows);
    },
    async remove(id: string, orgId: string): Promise<number> {
      const res = await db.deleteFrom('users').where('id', '=', id).where('org_id', '=', orgId).executeTakeFirst();
      return Number(res.numDeletedRows);
    },
  };
}
export type UsersRepo = ReturnType<typeof usersRepo>;
