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
  /** SQLite only: the document's rowid in the contentless full-text table (migration 005). */
  fts_seq?: number | null;
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

export type SendComponent = 'notifications' | 'workflows';
/** `test`: a test mail sent through a named service (`mailroom services test <name> --to ...`). */
export type OutboxComponent = SendComponent | 'test';
export type OutboxStatus = 'queued' | 'sending' | 'deferred' | 'sent' | 'failed' | 'cancelled';
export type OutboxEventType = 'queued' | 'sent' | 'deferred' | 'failed' | 'cancelled' | 'retry' | 'reclaimed' | 'released';

export interface OrgComponentsTable {
  org_id: string;
  component: SendComponent;
  service_id: string;
  enabled: number;
  updated_at: string;
}

export interface OutboxTable {
  id: string;
  org_id: string;
  component: OutboxComponent;
  /** null: the system default SMTP (MAILROOM_SMTP_*). */
  service_id: string | null;
  created_by: string | null;
  message_id: string;
  subject: string;
  envelope_from: string;
  envelope_to_json: string;
  /** The composed RFC 5322 bytes, exactly as they are sent. */
  raw: Buffer;
  size: number;
  needs_smtputf8: number;
  status: OutboxStatus;
  attempts: number;
  next_attempt_at: string;
  give_up_at: string;
  claimed_by: string | null;
  claim_expires_at: string | null;
  last_reply: string | null;
  last_code: string | null;
  queue_id: string | null;
  created_at: string;
  updated_at: string;
  sent_at: string | null;
}

export interface OutboxEventsTable {
  id: Generated<number>;
  outbox_id: string;
  at: string;
  type: OutboxEventType;
  attempt: number | null;
  reply: string | null;
  code: string | null;
  message: string | null;
  worker: string | null;
}

export type SubscriptionMode = 'immediate' | 'daily';
export type NotificationMailKind = 'document' | 'digest';
/** pending: recorded, not yet in the outbox; enqueued: the outbox holds it; empty: a digest with nothing to say; skipped: its documents are gone. */
export type NotificationMailState = 'pending' | 'enqueued' | 'empty' | 'skipped';

export interface PasswordResetsTable {
  token_hash: string;
  user_id: string;
  org_id: string;
  created_at: string;
  expires_at: string;
  used_at: string | null;
}

export interface OrgProblemsTable {
  org_id: string;
  kind: string;
  message: string;
  fix: string;
  first_seen_at: string;
  last_seen_at: string;
  count: number;
  resolved_at: string | null;
}

export interface NotificationSubscriptionsTable {
  id: string;
  org_id: string;
  user_id: string;
  cabinet_id: string;
  query: string | null;
  mode: SubscriptionMode;
  last_archived_at: string;
  last_document_id: string;
  created_at: string;
  updated_at: string;
}

export interface NotificationDeliveriesTable {
  subscription_id: string;
  document_id: string;
  archived_at: string;
  mail_key: string;
  created_at: string;
}

export interface NotificationMailsTable {
  key: string;
  org_id: string;
  user_id: string;
  kind: NotificationMailKind;
  state: NotificationMailState;
  outbox_id: string | null;
  document_count: number;
  attempts: number;
  last_error: string | null;
  created_at: string;
  updated_at: string;
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
  org_components: OrgComponentsTable;
  outbox: OutboxTable;
  outbox_events: OutboxEventsTable;
  password_resets: PasswordResetsTable;
  org_problems: OrgProblemsTable;
  notification_subscriptions: NotificationSubscriptionsTable;
  notification_deliveries: NotificationDeliveriesTable;
  notification_mails: NotificationMailsTable;
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
export type OrgComponentRow = Selectable<OrgComponentsTable>;
export type OutboxRow = Selectable<OutboxTable>;
export type OutboxEventRow = Selectable<OutboxEventsTable>;
export type PasswordResetRow = Selectable<PasswordResetsTable>;
export type OrgProblemRow = Selectable<OrgProblemsTable>;
export type SubscriptionRow = Selectable<NotificationSubscriptionsTable>;
export type NotificationDeliveryRow = Selectable<NotificationDeliveriesTable>;
export type NotificationMailRow = Selectable<NotificationMailsTable>;
