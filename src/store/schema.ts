import type { Insertable, Selectable } from 'kysely';

/**
 * Row types of the one schema both dialects share. Timestamps are ISO-8601 UTC strings on both
 * (SQLite text; PostgreSQL timestamptz read back as ISO text), JSON columns are text, booleans
 * are 0/1 integers, so repositories never branch on the dialect for values.
 */
export interface OrgsTable {
  id: string;
  name: string;
  created_at: string;
}

export interface UsersTable {
  id: string;
  org_id: string;
  email: string;
  name: string;
  role: 'admin' | 'user';
  language: string;
  password_hash: string | null;
  created_at: string;
}

export interface SessionsTable {
  token_hash: string;
  user_id: string;
  created_at: string;
  expires_at: string;
}

export interface ApiTokensTable {
  id: string;
  user_id: string;
  name: string;
  token_hash: string;
  created_at: string;
  last_used_at: string | null;
}

export interface CabinetsTable {
  id: string;
  org_id: string;
  name: string;
  created_at: string;
}

export interface DocumentsTable {
  id: string;
  org_id: string;
  cabinet_id: string;
  message_id: string | null;
  sha256: string;
  size: number;
  subject: string;
  from_name: string;
  from_address: string;
  to_json: string;
  cc_json: string;
  date: string | null;
  in_reply_to: string | null;
  references_json: string;
  attachment_count: number;
  attachment_names: string;
  source: string;
  archived_at: string;
  /** 1 when another document in the cabinet has the same Message-ID but different bytes. */
  content_differs: number;
  warnings_json: string;
  preview: string;
}

export interface AttachmentsTable {
  document_id: string;
  idx: number;
  filename: string;
  content_type: string;
  size: number;
  sha256: string;
  part_path: string;
}

/** SQLite: an FTS5 table; PostgreSQL: a tsvector column with a GIN index. */
export interface DocumentFtsTable {
  doc_id: string;
  org_id: string;
  terms: string;
}

export interface Database {
  orgs: OrgsTable;
  users: UsersTable;
  sessions: SessionsTable;
  api_tokens: ApiTokensTable;
  cabinets: CabinetsTable;
  documents: DocumentsTable;
  attachments: AttachmentsTable;
  document_fts: DocumentFtsTable;
}

export type OrgRow = Selectable<OrgsTable>;
export type UserRow = Selectable<UsersTable>;
export type CabinetRow = Selectable<CabinetsTable>;
export type DocumentRow = Selectable<DocumentsTable>;
export type NewDocument = Insertable<DocumentsTable>;
export type AttachmentRow = Selectable<AttachmentsTable>;
