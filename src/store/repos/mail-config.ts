import type { Kysely, Updateable } from 'kysely';
import type { Database, ImportRuleRow, ImportRulesTable, MailAccountRow, MailAccountsTable, MailServiceRow, MailServicesTable } from '../schema.ts';

/** Mail services, mail accounts and import rules: every read is scoped by organisation. */
export function mailConfigRepo(db: Kysely<Database>) {
  return {
    async insertService(row: MailServiceRow): Promise<void> {
      await db.insertInto('mail_services').values(row).execute();
    },
    async serviceByName(orgId: string, name: string): Promise<MailServiceRow | undefined> {
      return db.selectFrom('mail_services').selectAll().where('org_id', '=', orgId).where('name', '=', name).executeTakeFirst();
    },
    async serviceById(orgId: string, id: string): Promise<MailServiceRow | undefined> {
      return db.selectFrom('mail_services').selectAll().where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
    },
    async listServices(orgId: string, kind?: MailServiceRow['kind']): Promise<MailServiceRow[]> {
      let q = db.selectFrom('mail_services').selectAll().where('org_id', '=', orgId);
      if (kind) q = q.where('kind', '=', kind);
      return q.orderBy('name').execute();
    },
    async updateService(orgId: string, id: string, patch: Updateable<MailServicesTable>): Promise<number> {
      const r = await db.updateTable('mail_services').set(patch).where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
      return Number(r.numUpdatedRows);
    },
    async deleteService(orgId: string, id: string): Promise<number> {
      const r = await db.deleteFrom('mail_services').where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
      return Number(r.numDeletedRows);
    },
    async countAccountsOfService(serviceId: string): Promise<number> {
      const r = await db.selectFrom('mail_accounts').select((eb) => eb.fn.countAll<number>().as('n')).where('service_id', '=', serviceId).executeTakeFirst();
      return Number(r?.n ?? 0);
    },

    async insertAccount(row: MailAccountRow): Promise<void> {
      await db.insertInto('mail_accounts').values(row).execute();
    },
    async accountByName(orgId: string, name: string): Promise<MailAccountRow | undefined> {
      return db.selectFrom('mail_accounts').selectAll().where('org_id', '=', orgId).where('name', '=', name).executeTakeFirst();
    },
    async accountById(orgId: string, id: string): Promise<MailAccountRow | undefined> {
      return db.selectFrom('mail_accounts').selectAll().where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
    },
    async listAccounts(orgId: string): Promise<MailAccountRow[]> {
      return db.selectFrom('mail_accounts').selectAll().where('org_id', '=', orgId).orderBy('name').execute();
    },
    async updateAccount(orgId: string, id: string, patch: Updateable<MailAccountsTable>): Promise<number> {
      const r = await db.updateTable('mail_accounts').set(patch).where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
      return Number(r.numUpdatedRows);
    },
    async deleteAccount(orgId: string, id: string): Promise<number> {
      const r = await db.deleteFrom('mail_accounts').where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
      return Number(r.numDeletedRows);
    },
    async countRulesOfAccount(accountId: string): Promise<number> {
      const r = await db.selectFrom('import_rules').select((eb) => eb.fn.countAll<number>().as('n')).where('account_id', '=', accountId).executeTakeFirst();
      return Number(r?.n ?? 0);
    },

    async insertRule(row: ImportRuleRow): Promise<void> {
      await db.insertInto('import_rules').values(row).execute();
    },
    async ruleByName(orgId: string, name: string): Promise<ImportRuleRow | undefined> {
      return db.selectFrom('import_rules').selectAll().where('org_id', '=', orgId).where('name', '=', name).executeTakeFirst();
    },
    async ruleById(orgId: string, id: string): Promise<ImportRuleRow | undefined> {
      return db.selectFrom('import_rules').selectAll().where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
    },
    async listRules(orgId: string): Promise<ImportRuleRow[]> {
      return db.selectFrom('import_rules').selectAll().where('org_id', '=', orgId).orderBy('name').execute();
    },
    /** Every enabled rule of every organisation, for the scheduler. */
    async listEnabledRules(): Promise<ImportRuleRow[]> {
      return db.selectFrom('import_rules').selectAll().where('enabled', '=', 1).orderBy('org_id').orderBy('name').execute();
    },
    async updateRule(orgId: string, id: string, patch: Updateable<ImportRulesTable>): Promise<number> {
      const r = await db.updateTable('import_rules').set(patch).where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
      return Number(r.numUpdatedRows);
    },
    async deleteRule(orgId: string, id: string): Promise<number> {
      const r = await db.deleteFrom('import_rules').where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
      return Number(r.numDeletedRows);
    },
  };
}
export type MailConfigRepo = ReturnType<typeof mailConfigRepo>;
