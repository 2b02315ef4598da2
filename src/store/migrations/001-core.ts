import { sql } from 'kysely';
import { columnTypes, type VersionedMigration } from './types.ts';

/** Organisations, users, sessions, API tokens, cabinets, documents and their attachments. */
export const coreMigration: VersionedMigration = {
  name: '001-core',
  async up(db, dialect) {
    const t = columnTypes(dialect);
    await db.schema
      .createTable('orgs')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull().unique())
      .addColumn('created_at', t.timestamp, (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('users')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id').onDelete('cascade'))
      .addColumn('email', 'text', (c) => c.notNull().unique())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('role', 'text', (c) => c.notNull())
      .addColumn('language', 'text', (c) => c.notNull())
      .addColumn('password_hash', 'text')
      .addColumn('created_at', t.timestamp, (c) => c.notNull())
      .execute();
    await db.schema.createIndex('users_org').on('users').column('org_id').execute();
    await db.schema
      .createTable('sessions')
      .addColumn('token_hash', 'text', (c) => c.primaryKey())
      .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('created_at', t.timestamp, (c) => c.notNull())
      .addColumn('expires_at', t.timestamp, (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('api_tokens')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('token_hash', 'text', (c) => c.notNull().unique())
      .addColumn('created_at', t.timestamp, (c) => c.notNull())
      .addColumn('last_used_at', t.timestamp)
      .execute();
    await db.schema
      .createTable('cabinets')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id').onDelete('cascade'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('created_at', t.timestamp, (c) => c.notNull())
      .addUniqueConstraint('cabinets_org_name', ['org_id', 'name'])
      .execute();
    await db.schema
      .createTable('documents')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id').onDelete('cascade'))
      .addColumn('cabinet_id', 'text', (c) => c.notNull().references('cabinets.id').onDelete('cascade'))
      .addColumn('message_id', 'text')
      .addColumn('sha256', 'text', (c) => c.notNull())
      .addColumn('size', t.bigint, (c) => c.notNull())
      .addColumn('subject', 'text', (c) => c.notNull())
      .addColumn('from_name', 'text', (c) => c.notNull())
      .addColumn('from_address', 'text', (c) => c.notNull())
      .addColumn('to_json', 'text', (c) => c.notNull())
      .addColumn('cc_json', 'text', (c) => c.notNull())
      .addColumn('date', t.timestamp)
      .addColumn('in_reply_to', 'text')
      .addColumn('references_json', 'text', (c) => c.notNull())
      .addColumn('attachment_count', 'integer', (c) => c.notNull())
      .addColumn('attachment_names', 'text', (c) => c.notNull())
      .addColumn('source', 'text', (c) => c.notNull())
      .addColumn('archived_at', t.timestamp, (c) => c.notNull())
      .addColumn('content_differs', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('warnings_json', 'text', (c) => c.notNull())
      .addColumn('preview', 'text', (c) => c.notNull())
      // The same bytes (hence the same Message-ID) are archived once per cabinet; the unique
      // index makes that hold across processes, not just inside one.
      .addUniqueConstraint('documents_cabinet_sha256', ['cabinet_id', 'sha256'])
      .execute();
    await db.schema.createIndex('documents_cabinet_message_id').on('documents').columns(['cabinet_id', 'message_id']).execute();
    await db.schema.createIndex('documents_org_date').on('documents').columns(['org_id', 'date']).execute();
    await db.schema.createIndex('documents_org_archived').on('documents').columns(['org_id', 'archived_at']).execute();
    await db.schema
      .createTable('attachments')
      .addColumn('document_id', 'text', (c) => c.notNull().references('documents.id').onDelete('cascade'))
      .addColumn('idx', 'integer', (c) => c.notNull())
      .addColumn('filename', 'text', (c) => c.notNull())
      .addColumn('content_type', 'text', (c) => c.notNull())
      .addColumn('size', t.bigint, (c) => c.notNull())
      .addColumn('sha256', 'text', (c) => c.notNull())
      .addColumn('part_path', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('attachments_pk', ['document_id', 'idx'])
      .execute();

    // Full-text index. Terms are produced by our own tokenizer (archive/search) so both dialects
    // match the same words; each dialect only stores and intersects them.
    if (dialect === 'sqlite') {
      // 'ascii' tokenizer: our terms are space-separated and already normalised; it treats every
      // non-ASCII code point as part of a token, so CJK grams stay intact.
      await sql`CREATE VIRTUAL TABLE document_fts USING fts5(doc_id UNINDEXED, org_id UNINDEXED, terms, tokenize = 'ascii')`.execute(db);
    } else {
      await sql`CREATE TABLE document_fts (doc_id text PRIMARY KEY REFERENCES documents(id) ON DELETE CASCADE, org_id text NOT NULL, terms tsvector NOT NULL)`.execute(db);
      await sql`CREATE INDEX document_fts_terms ON document_fts USING gin (terms)`.execute(db);
    }
  },
};
