import type { Kysely } from 'kysely';
import type { CabinetRow, Database } from '../schema.ts';

export function cabinetsRepo(db: Kysely<Database>) {
  return {
    async insert(row: CabinetRow): Promise<void> {
      await db.insertInto('cabinets').values(row).execute();
    },
    async byName(orgId: string, name: string): Promise<CabinetRow | undefined> {
      return db.selectFrom('cabinets').selectAll().where('org_id', '=', orgId).where('name', '=', name).executeTakeFirst();
    },
    async byId(orgId: string, id: string): Promise<CabinetRow | undefined> {
      return db.selectFrom('cabinets').selectAll().where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
    },
    async list(orgId: string): Promise<Array<CabinetRow & { document_count: number }>> {
      const rows = await db
        .selectFrom('cabinets')
        .leftJoin('documents', 'documents.cabinet_id', 'cabinets.id')
        .selectAll('cabinets')
        .select((eb) => eb.fn.count<number>('documents.id').as('document_count'))
        .where('cabinets.org_id', '=', orgId)
        .groupBy(['cabinets.id', 'cabinets.org_id', 'cabinets.name', 'cabinets.created_at'])
        .orderBy('cabinets.name')
        .execute();
      return rows.map((r) => ({ ...r, document_count: Number(r.document_count) }));
    },
  };
}
export type CabinetsRepo = ReturnType<typeof cabinetsRepo>;
