import { columnTypes, type VersionedMigration } from './types.ts';

/**
 * Sending: which SMTP service each organisation uses per component, the durable outbox and its
 * event log. The composed message is stored in the outbox row itself (a blob column): it is
 * written in the same transaction as the row and its `queued` event, so a message can never be
 * half-persisted, and it is removed with its row (docs/decisions/0004).
 */
export const outboxMigration: VersionedMigration = {
  name: '003-outbox',
  async up(db, dialect) {
    const t = columnTypes(dialect);
    const bytes = dialect === 'sqlite' ? 'blob' : 'bytea';

    // One row per organisation and component ('notifications', 'workflows'). Deleting the service
    // removes the assignment; the component then falls back to the system default, if any.
    await db.schema
      .createTable('org_components')
      .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id').onDelete('cascade'))
      .addColumn('component', 'text', (c) => c.notNull())
      .addColumn('service_id', 'text', (c) => c.notNull().references('mail_services.id').onDelete('cascade'))
      .addColumn('enabled', 'integer', (c) => c.notNull())
      .addColumn('updated_at', t.timestamp, (c) => c.notNull())
      .addPrimaryKeyConstraint('org_components_pk', ['org_id', 'component'])
      .execute();

    await db.schema
      .createTable('outbox')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id').onDelete('cascade'))
      .addColumn('component', 'text', (c) => c.notNull())
      // The organisation's service chosen at enqueue time; null means the system default. No
      // foreign key: a message whose service was removed fails with a reason instead of vanishing.
      .addColumn('service_id', 'text')
      .addColumn('created_by', 'text')
      .addColumn('message_id', 'text', (c) => c.notNull())
      .addColumn('subject', 'text', (c) => c.notNull())
      .addColumn('envelope_from', 'text', (c) => c.notNull())
      .addColumn('envelope_to_json', 'text', (c) => c.notNull())
      .addColumn('raw', bytes, (c) => c.notNull())
      .addColumn('size', 'integer', (c) => c.notNull())
      .addColumn('needs_smtputf8', 'integer', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('attempts', 'integer', (c) => c.notNull())
      .addColumn('next_attempt_at', t.timestamp, (c) => c.notNull())
      // Transient failures stop being retried at this instant (enqueue + 24 h; a manual retry of a
      // failed message moves it).
      .addColumn('give_up_at', t.timestamp, (c) => c.notNull())
      // The claim: which worker holds the message while it is `sending`, and until when. A holder
      // renews it; a crashed holder's claim expires and the message is reclaimed.
      .addColumn('claimed_by', 'text')
      .addColumn('claim_expires_at', t.timestamp)
      .addColumn('last_reply', 'text')
      .addColumn('last_code', 'text')
      .addColumn('queue_id', 'text')
      .addColumn('created_at', t.timestamp, (c) => c.notNull())
      .addColumn('updated_at', t.timestamp, (c) => c.notNull())
      .addColumn('sent_at', t.timestamp)
      .execute();
    await db.schema.createIndex('outbox_due').on('outbox').columns(['status', 'next_attempt_at']).execute();
    await db.schema.createIndex('outbox_org').on('outbox').columns(['org_id', 'created_at']).execute();

    await db.schema
      .createTable('outbox_events')
      .$call((b) =>
        dialect === 'sqlite'
          ? b.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
          : b.addColumn('id', 'bigserial', (c) => c.primaryKey()),
      )
      .addColumn('outbox_id', 'text', (c) => c.notNull().references('outbox.id').onDelete('cascade'))
      .addColumn('at', t.timestamp, (c) => c.notNull())
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('attempt', 'integer')
      .addColumn('reply', 'text')
      .addColumn('code', 'text')
      .addColumn('message', 'text')
      .addColumn('worker', 'text')
      .execute();
    await db.schema.createIndex('outbox_events_message').on('outbox_events').columns(['outbox_id', 'id']).execute();
  },
};
