import type { Readable } from 'node:stream';
import type { Config } from '../config/index.ts';
import type { SecretBox } from '../crypto/index.ts';
import type { ConnectionSettings, MailSender } from '../gateways/index.ts';
import type { SmtpSenderOptions } from '../gateways/smtp/index.ts';
import type { Logger } from '../log/index.ts';
import type { Address as ComposeAddress, ComposeAttachment } from '../mime/index.ts';
import type { MailServiceRow, OutboxComponent, OutboxEventType, OutboxStatus, SendComponent, Store } from '../store/index.ts';

export type { OutboxComponent, OutboxStatus, SendComponent };

export const SEND_COMPONENTS: readonly SendComponent[] = ['notifications', 'workflows'];
export const OUTBOX_STATUSES: readonly OutboxStatus[] = ['queued', 'sending', 'deferred', 'sent', 'failed', 'cancelled'];

/** What the outbox needs of connect's mail services API (connect/services.ts satisfies it). */
export interface SmtpServiceDirectory {
  byName(orgId: string, name: string): Promise<MailServiceRow>;
  byId(orgId: string, id: string): Promise<MailServiceRow>;
  /** Decrypts the service's credentials; only here. */
  connectionSettings(row: MailServiceRow): ConnectionSettings;
}

/** What the outbox needs of the archive to attach archived documents (archive/service.ts satisfies it). */
export interface ArchiveReader {
  openRaw(orgId: string, id: string): Promise<{ stream: Readable; size: number; document: { subject: string } }>;
  openAttachment(orgId: string, id: string, index: number): Promise<{ stream: Readable; filename: string; contentType: string; size: number }>;
}

/** Makes the sender of one service; the default loads the SMTP gateway (and nodemailer) on first use. */
export type OpenSender = (settings: ConnectionSettings, options: SmtpSenderOptions) => MailSender | Promise<MailSender>;

export interface OutboxDeps {
  store: Store;
  /** Not needed by the outbox itself (service secrets are opened by `services`); accepted so App can pass its pieces uniformly. */
  secrets?: SecretBox;
  log: Logger;
  services: SmtpServiceDirectory;
  config: Config;
  /** Needed for workflow mail that attaches archived documents. */
  archive?: ArchiveReader;
  /** Default: the SMTP gateway's pooled sender (gateways/smtp). Tests pass fakes. */
  openSender?: OpenSender;
}

export interface OutboxOptions {
  /** Messages sent at the same time (default: config.outbox.concurrency). */
  concurrency?: number;
  /** Claim lease in ms (default: config.outbox.leaseSeconds). */
  leaseMs?: number;
  /** How often an idle worker looks for messages queued by other processes (default 1000 ms). */
  pollMs?: number;
  /** Messages claimed per claim statement (default 4 × concurrency). */
  claimBatch?: number;
  /** A name for this worker in claims and events (default host:pid:random). */
  workerId?: string;
  /** Clock and randomness (tests). */
  now?: () => number;
  random?: () => number;
}

/** An address as callers give it: `a@example.com` or `{name, address}`. */
export type AddressInput = string | ComposeAddress;

export interface EnqueueInput {
  orgId: string;
  component: OutboxComponent;
  /** An SMTP service of the organisation; default: the component's service (or the system default). */
  serviceId?: string;
  /** Default: the service's sender address and name. */
  from?: AddressInput;
  to: AddressInput[];
  cc?: AddressInput[];
  bcc?: AddressInput[];
  replyTo?: AddressInput;
  subject: string;
  text?: string;
  html?: string;
  attachments?: ComposeAttachment[];
  headers?: Record<string, string>;
  /** The user who asked for it, if any. */
  createdBy?: string | null;
}

/** An attachment of workflow mail: an archived document (its .eml, or one of its attachments) or bytes. */
export type SendAttachment =
  | { documentId: string; index?: number }
  | { filename: string; contentType?: string; contentBase64: string };

/** Workflow mail as the API and CLI ask for it (POST /api/send). */
export interface SendRequest {
  to: AddressInput[];
  cc?: AddressInput[];
  bcc?: AddressInput[];
  subject: string;
  text?: string;
  html?: string;
  attachments?: SendAttachment[];
  /** Files read by the CLI. */
  files?: ComposeAttachment[];
  /** An SMTP service by name instead of the workflows component (CLI --service). */
  service?: string;
  /** Instead of the service's sender (CLI --from). */
  from?: AddressInput;
}

export interface QueuedMessage {
  id: string;
  messageId: string;
}

/** Where a component's mail goes out. */
export interface ResolvedSender {
  source: 'organisation' | 'system';
  /** The organisation's service; null for the system default. */
  serviceId: string | null;
  /** The service's name, or "system default". */
  serviceName: string;
  from: ComposeAddress;
}

export interface ComponentView {
  component: SendComponent;
  /** The organisation's assignment, if any. */
  service: { id: string; name: string } | null;
  enabled: boolean;
  /** Where this component's mail goes out now. */
  effective: { source: 'organisation' | 'system' | 'none'; service: string | null; from: string | null };
}

export interface OutboxEventView {
  at: string;
  type: OutboxEventType;
  attempt: number | null;
  /** The server's reply, when there was one. */
  reply: string | null;
  code: string | null;
  message: string | null;
}

export interface OutboxMessageView {
  id: string;
  status: OutboxStatus;
  /** The server's last reply (e.g. "250 2.0.0 Ok: queued as 4Xyz"), or why the last attempt failed. */
  reply: string | null;
  /** The stable code of the last failure, if any. */
  code: string | null;
  attempts: number;
  createdAt: string;
  updatedAt: string;
  sentAt: string | null;
  queueId: string | null;
  /** When the next attempt is due (queued and deferred messages only). */
  nextAttemptAt: string | null;
  /** Transient failures after this fail the message. */
  giveUpAt: string;
  component: OutboxComponent;
  serviceId: string | null;
  messageId: string;
  subject: string;
  from: string;
  to: string[];
  size: number;
  createdBy: string | null;
}

/** A message with its delivery log. */
export interface OutboxMessageDetail extends OutboxMessageView {
  events: OutboxEventView[];
}

/** Where a message stands after a send attempt (CLI --wait, services test). */
export interface DeliveryOutcome {
  id: string;
  status: OutboxStatus;
  reply: string | null;
}
