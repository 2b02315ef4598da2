import { columnTypes, type VersionedMigration } from './types.ts';

/** Mail services, mail accounts, import rules, the sync ledger, cursors, leases and run history. */
export const connectMigration: VersionedMigration = {
  name: '002-connect',
  async up(db, dialect) {
    const t = columnTypes(dialect);
    await db.schema
      .createTable('mail_services')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id').onDelete('cascade'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('host', 'text', (c) => c.notNull())
      .addColumn('port', 'integer', (c) => c.notNull())
      .addColumn('security', 'text', (c) => c.notNull())
      .addColumn('tls_mode', 'text', (c) => c.notNull())
      .addColumn('tls_fingerprint', 'text')
      .addColumn('auth_type', 'text', (c) => c.notNull())
      .addColumn('username', 'text')
      .addColumn('secret', 'text')
      .addColumn('from_address', 'text')
      .addColumn('from_name', 'text')
      .addColumn('rate_limit_per_minute', 'integer')
      .addColumn('settings_json', 'text', (c) => c.notNull())
      .addColumn('created_at', t.timestamp, (c) => c.notNull())
      .addColumn('updated_at', t.timestamp, (c) => c.notNull())
      .addUniqueConstraint('mail_services_org_name', ['org_id', 'name'])
      .execute();
    await db.schema
      .createTable('mail_accounts')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id').onDelete('cascade'))
      .addColumn('service_id', 'text', (c) => c.notNull().references('mail_services.id'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('username', 'text', (c) => c.notNull())
      .addColumn('secret', 'text')
      .addColumn('owner_user_id', 'text', (c) => c.references('users.id').onDelete('set null'))
      .addColumn('shared', 'integer', (c) => c.notNull())
      .addColumn('created_at', t.timestamp, (c) => c.notNull())
      .addColumn('updated_at', t.timestamp, (c) => c.notNull())
      .addUniqueConstraint('mail_accounts_org_name', ['org_id', 'name'])
      .execute();
    await db.schema
      .createTable('import_rules')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id').onDelete('cascade'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('account_id', 'text', (c) => c.notNull().references('mail_accounts.id'))
      .addColumn('cabinet_id', 'text', (c) => c.notNull().references('cabinets.id'))
      .addColumn('folders_json', 'text', (c) => c.notNull())
      .addColumn('include_subfolders', 'integer', (c) => c.notNull())
      .addColumn('filters_json', 'text', (c) => c.notNull())
      .addColumn('mapping_json', 'text', (c) => c.notNull())
      .addColumn('action_json', 'text', (c) => c.notNull())
      .addColumn('interval_seconds', 'integer', (c) => c.notNull())
      .addColumn('use_idle', 'integer', (c) => c.notNull())
      .addColumn('enabled', 'integer', (c) => c.notNull())
      .addColumn('created_at', t.timestamp, (c) => c.notNull())
      .addColumn('updated_at', t.timestamp, (c) => c.notNull())
      .addUniqueConstraint('import_rules_org_name', ['org_id', 'name'])
      .execute();
    // One row per message a rule has handled, keyed by (folder, epoch, key) and never by the
    // UID alone: a UIDVALIDITY change starts a new epoch instead of aliasing old rows.
    await db.schema
      .createTable('sync_ledger')
      .addColumn('rule_id', 'text', (c) => c.notNull().references('import_rules.id').onDelete('cascade'))
      .addColumn('folder', 'text', (c) => c.notNull())
      .addColumn('epoch', 'text', (c) => c.notNull())
      .addColumn('msg_key', 'text', (c) => c.notNull())
      .addColumn('org_id', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('document_id', 'text')
      .addColumn('attempts', 'integer', (c) => c.notNull())
      .addColumn('reason', 'text')
      .addColumn('action_done', 'integer', (c) => c.notNull())
      .addColumn('subject', 'text', (c) => c.notNull())
      .addColumn('first_seen_at', t.timestamp, (c) => c.notNull())
      .addColumn('updated_at', t.timestamp, (c) => c.notNull())
      .addPrimaryKeyConstraint('sync_ledger_pk', ['rule_id', 'folder', 'epoch', 'msg_key'])
      .execute();
    await db.schema.createIndex('sync_ledger_status').on('sync_ledger').columns(['rule_id', 'status']).execute();
    await db.schema
      .createTable('sync_cursors')
      .addColumn('rule_id', 'text', (c) => c.notNull().references('import_rules.id').onDelete('cascade'))
      .addColumn('folder', 'text', (c) => c.notNull())
      .addColumn('cursor_json', 'text', (c) => c.notNull())
      .addColumn('updated_at', t.timestamp, (c) => c.notNull())
      .addPrimaryKeyConstraint('sync_cursors_pk', ['rule_id', 'folder'])
      .execute();
    // A lease is held by one process at a time and expires when its holder stops renewing it
    // (crash, kill -9), so the next run can take over without an operator.
    await db.schema
      .createTable('leases')
      .addColumn('key', 'text', (c) => c.primaryKey())
      .addColumn('holder', 'text', (c) => c.notNull())
      .addColumn('expires_at', t.timestamp, (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('sync_runs')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('rule_id', 'text', (c) => c.notNull().references('import_rules.id').onDelete('cascade'))
      .addColumn('org_id', 'text', (c) => c.notNull())
      .addColumn('trigger', 'text', (c) => c.notNull())
      .addColumn('started_at', t.timestamp, (c) => c.notNull())
      .addColumn('finished_at', t.timestamp)
      .addColumn('fetched', 'integer', (c) => c.notNull())
      .addColumn('archived', 'integer', (c) => c.notNull())
      .addColumn('duplicates', 'integer', (c) => c.notNull())
      .addColumn('failed', 'integer', (c) => c.notNull())
      .addColumn('skipped', 'integer', (c) => c.notNull())
      .addColumn('error', 'text')
      .execute();
    await db.schema.createIndex('sync_runs_rule').on('sync_runs').columns(['rule_id', 'started_at']).execute();
    // Values an import rule maps into the cabinet's own index fields.
    await db.schema.alterTable('documents').addColumn('fields_json', 'text', (c) => c.notNull().defaultTo('{}')).execute();
  },
};
