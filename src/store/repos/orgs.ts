import type { Kysely } from 'kysely';
import type { Database, OrgRow } from '../schema.ts';

export function orgsRepo(db: Kysely<Database>) {
  return {
    async insert(row: OrgRow): Promise<void> {
      await db.insertInto('orgs').values(row).execute();
    },
    async byName(name: string): Promise<OrgRow | undefined> {
      return db.selectFrom('orgs').selectAll().where('name', '=', name).executeTakeFirst();
    },
    async byId(id: string): Promise<OrgRow | undefined> {
      return db.selectFrom('orgs').selectAll().where('id', '=', id).executeTakeFirst();
    },
    async list(): Promise<OrgRow[]> {
      return db.selectFrom('orgs').selectAll().orderBy('name').execute();
    },
  };
}
export type OrgsRepo = ReturnType<typeof orgsRepo>;
