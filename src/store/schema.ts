import type { Generated, Insertable, Selectable } from 'kysely';

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
  /** Values an import rule mapped into the cabinet's own index fields (JSON object of strings). */
  fields_json: Generated<string>;
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

export interface MailServicesTable {
  id: string;
  org_id: string;
  name: string;
  kind: 'imap' | 'smtp' | 'graph' | 'ews';
  host: string;
  port: number;
  security: 'tls' | 'starttls' | 'none';
  tls_mode: 'verify' | 'fingerprint' | 'insecure';
  tls_fingerprint: string | null;
  auth_type: 'none' | 'basic' | 'oauth2';
  username: string | null;
  /** Sealed with the SecretBox (crypto/); never returned by the API. */
  secret: string | null;
  from_address: string | null;
  from_name: string | null;
  rate_limit_per_minute: number | null;
  settings_json: string;
  created_at: string;
  updated_at: string;
}

export interface MailAccountsTable {
  id: string;
  org_id: string;
  service_id: string;
  name: string;
  username: string;
  secret: string | null;
  owner_user_id: string | null;
  shared: number;
  created_at: string;
  updated_at: string;
}

export interface ImportRulesTable {
  id: string;
  org_id: string;
  name: string;
  account_id: string;
  cabinet_id: string;
  folders_json: string;
  include_subfolders: number;
  filters_json: string;
  mapping_json: string;
  action_json: string;
  interval_seconds: number;
  use_idle: number;
  enabled: number;
  created_at: string;
  updated_at: string;
}

export type LedgerStatus = 'archived' | 'duplicate' | 'failed';

export interface SyncLedgerTable {
  rule_id: string;
  folder: string;
  epoch: string;
  msg_key: string;
  org_id: string;
  status: LedgerStatus;
  document_id: string | null;
  attempts: number;
  reason: string | null;
  action_done: number;
  subject: string;
  first_seen_at: string;
  updated_at: string;
}

export interface SyncCursorsTable {
  rule_id: string;
  folder: string;
  cursor_json: string;
  updated_at: string;
}

export interface LeasesTable {
  key: string;
  holder: string;
  expires_at: string;
}

export interface SyncRunsTable {
  id: string;
  rule_id: string;
  org_id: string;
  trigger: string;
  started_at: string;
  finished_at: string | null;
  fetched: number;
  archived: number;
  duplicates: number;
  failed: number;
  skipped: number;
  error: string | null;
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
  mail_services: MailServicesTable;
  mail_accounts: MailAccountsTable;
  import_rules: ImportRulesTable;
  sync_ledger: SyncLedgerTable;
  sync_cursors: SyncCursorsTable;
  leases: LeasesTable;
  sync_runs: SyncRunsTable;
}

export type OrgRow = Selectable<OrgsTable>;
export type UserRow = Selectable<UsersTable>;
export type CabinetRow = Selectable<CabinetsTable>;
export type DocumentRow = Selectable<DocumentsTable>;
export type NewDocument = Insertable<DocumentsTable>;
export type AttachmentRow = Selectable<AttachmentsTable>;
export type MailServiceRow = Selectable<MailServicesTable>;
export type MailAccountRow = Selectable<MailAccountsTable>;
export type ImportRuleRow = Selectable<ImportRulesTable>;
export type LedgerRow = Selectable<SyncLedgerTable>;
export type SyncRunRow = Selectable<SyncRunsTable>;
