import { columnTypes, type VersionedMigration } from './types.ts';

/**
 * Password reset tokens, problems an organisation's administrators must see, and subscriptions
 * to cabinets with what they have delivered (docs/decisions/0006).
 */
export const notificationsMigration: VersionedMigration = {
  name: '004-notifications',
  async up(db, dialect) {
    const t = columnTypes(dialect);

    // Single-use reset tokens, stored only as SHA-256 of the secret that was mailed.
    await db.schema
      .createTable('password_resets')
      .addColumn('token_hash', 'text', (c) => c.primaryKey())
      .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id').onDelete('cascade'))
      .addColumn('created_at', t.timestamp, (c) => c.notNull())
      .addColumn('expires_at', t.timestamp, (c) => c.notNull())
      .addColumn('used_at', t.timestamp)
      .execute();
    await db.schema.createIndex('password_resets_user').on('password_resets').column('user_id').execute();

    // One row per organisation and kind of problem: seen again, it counts up; fixed, it is resolved.
    await db.schema
      .createTable('org_problems')
      .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id').onDelete('cascade'))
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('message', 'text', (c) => c.notNull())
      .addColumn('fix', 'text', (c) => c.notNull())
      .addColumn('first_seen_at', t.timestamp, (c) => c.notNull())
      .addColumn('last_seen_at', t.timestamp, (c) => c.notNull())
      .addColumn('count', 'integer', (c) => c.notNull())
      .addColumn('resolved_at', t.timestamp)
      .addPrimaryKeyConstraint('org_problems_pk', ['org_id', 'kind'])
      .execute();

    // A user follows a cabinet (optionally filtered by a search query), immediately or daily.
    // The cursor is the newest document seen; see notification_deliveries for why it is not all.
    await db.schema
      .createTable('notification_subscriptions')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id').onDelete('cascade'))
      .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('cabinet_id', 'text', (c) => c.notNull().references('cabinets.id').onDelete('cascade'))
      .addColumn('query', 'text')
      .addColumn('mode', 'text', (c) => c.notNull())
      .addColumn('last_archived_at', t.timestamp, (c) => c.notNull())
      .addColumn('last_document_id', 'text', (c) => c.notNull())
      .addColumn('created_at', t.timestamp, (c) => c.notNull())
      .addColumn('updated_at', t.timestamp, (c) => c.notNull())
      .execute();
    await db.schema.createIndex('notification_subscriptions_user').on('notification_subscriptions').columns(['org_id', 'user_id']).execute();
    await db.schema.createIndex('notification_subscriptions_mode').on('notification_subscriptions').columns(['mode', 'id']).execute();

    // Which documents a subscription has handled. archived_at is taken when an ingest batch
    // starts, not when it commits, so a document can appear behind the cursor; the notifier
    // looks back a while and skips what is recorded here.
    await db.schema
      .createTable('notification_deliveries')
      .addColumn('subscription_id', 'text', (c) => c.notNull().references('notification_subscriptions.id').onDelete('cascade'))
      .addColumn('document_id', 'text', (c) => c.notNull().references('documents.id').onDelete('cascade'))
      .addColumn('archived_at', t.timestamp, (c) => c.notNull())
      .addColumn('mail_key', 'text', (c) => c.notNull())
      .addColumn('created_at', t.timestamp, (c) => c.notNull())
      .addPrimaryKeyConstraint('notification_deliveries_pk', ['subscription_id', 'document_id'])
      .execute();
    await db.schema.createIndex('notification_deliveries_mail').on('notification_deliveries').column('mail_key').execute();

    // One row per notification mail, keyed by what it is about (user + document, or user +
    // digest slot): written with the deliveries and cursor in one transaction before the mail is
    // enqueued, marked once the outbox holds it (the dedup key, docs/decisions/0006).
    await db.schema
      .createTable('notification_mails')
      .addColumn('key', 'text', (c) => c.primaryKey())
      .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id').onDelete('cascade'))
      .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('outbox_id', 'text')
      .addColumn('document_count', 'integer', (c) => c.notNull())
      .addColumn('attempts', 'integer', (c) => c.notNull())
      .addColumn('last_error', 'text')
      .addColumn('created_at', t.timestamp, (c) => c.notNull())
      .addColumn('updated_at', t.timestamp, (c) => c.notNull())
      .execute();
    await db.schema.createIndex('notification_mails_state').on('notification_mails').columns(['state', 'created_at']).execute();
  },
};
