import type { Readable } from 'node:stream';

/**
 * The ports every mail protocol implements (design §3). IMAP, Graph and EWS differ only inside
 * their gateway folder; the sync engine and the outbox see these types alone. A gateway knows
 * its protocol library and this file, never the store or the API.
 */

// ---------------------------------------------------------------- receiving

export interface Folder {
  /** The server's own name for it (IMAP: the raw path; Graph/EWS: the folder id). */
  path: string;
  /** Human-readable full name, decoded (IMAP modified UTF-7 → Unicode), with '/' as separator. */
  displayPath: string;
  /** Last segment, decoded. */
  name: string;
  delimiter: string;
  specialUse: string | null; // '\\Inbox', '\\Sent', '\\Trash', '\\Junk', ...
  parent: string | null; // path of the parent folder
  selectable: boolean;
}

/**
 * Where a previous pass stopped. IMAP: the folder's UIDVALIDITY and the highest UID seen (plus
 * HIGHESTMODSEQ where CONDSTORE is offered); Graph: the delta link; EWS: the sync state.
 */
export type Cursor =
  | { kind: 'imap'; uidValidity: number; lastUid: number; modseq?: string }
  | { kind: 'graph'; deltaLink: string }
  | { kind: 'ews'; syncState: string };

/**
 * A message's identity inside a mailbox. `epoch` changes when the server invalidates ids (IMAP
 * UIDVALIDITY); `key` is unique within folder+epoch (IMAP UID as text, Graph immutable id, EWS
 * item id). The ledger is keyed by (account, folder, epoch, key), never by key alone.
 */
export interface MessageRef {
  folder: string;
  epoch: string;
  key: string;
}

/**
 * What a summary carries beyond its ref, size, flags and received time: the envelope (Date,
 * Subject, From, To, Message-ID) and the structure (which parts are attachments). A sync asks
 * changes() only for what its rule's filters and field mapping read: on IMAP, ENVELOPE and
 * BODYSTRUCTURE cost the server and the client more than the rest of the listing together
 * (docs/benchmarks.md, "Fourth round").
 */
export interface SummaryDetail {
  envelope: boolean;
  structure: boolean;
}

export const FULL_DETAIL: Readonly<SummaryDetail> = Object.freeze({ envelope: true, structure: true });

export interface MessageSummary {
  ref: MessageRef;
  /** What this summary carries: without the envelope, date, subject, from, to and messageId are empty; without the structure, there are no attachments. */
  detail: Readonly<SummaryDetail>;
  size: number;
  seen: boolean;
  flagged: boolean;
  receivedAt: string | null; // ISO (IMAP INTERNALDATE)
  date: string | null; // ISO, from the Date header / envelope
  subject: string;
  from: { name: string; address: string } | null;
  to: Array<{ name: string; address: string }>;
  messageId: string | null;
  hasAttachments: boolean;
  /** File names and MIME types of the attachment parts, when the server describes the structure. */
  attachmentNames?: string[];
  attachmentTypes?: string[];
}

export type Change =
  | { type: 'new'; message: MessageSummary }
  | { type: 'removed'; ref: MessageRef }
  /** The server invalidated the cursor (UIDVALIDITY changed, delta token expired): a full rescan follows. */
  | { type: 'reset'; reason: string }
  /** Always the last item: the cursor to store once every change before it is handled. */
  | { type: 'cursor'; cursor: Cursor };

/** Server-side search criteria; text criteria are substrings, case-insensitive. */
export interface SearchCriteria {
  from?: string;
  to?: string;
  subject?: string;
  unseen?: boolean;
  since?: string; // ISO date; messages received on or after
  before?: string; // ISO date; messages received before
}

export type MailboxAction =
  | { type: 'none' }
  | { type: 'seen' }
  | { type: 'flag' }
  | { type: 'keyword'; keyword: string }
  | { type: 'move'; folder: string }
  | { type: 'delete' };

export interface SourceCapabilities {
  idle: boolean;
  move: boolean;
  condstore: boolean;
  qresync: boolean;
  utf8Search: boolean;
}

/**
 * A connection to one mailbox. Calls are served one at a time; a `fetchRaw` stream must be read
 * to its end (or destroyed) before the next call, which waits for it otherwise. In `changes`,
 * `removed` items come before `new` ones.
 */
export interface MailSource {
  readonly capabilities: SourceCapabilities;
  listFolders(): Promise<Folder[]>;
  /** The folder's current id epoch (IMAP UIDVALIDITY) and message count, without listing it. */
  folderStatus(folder: string): Promise<{ epoch: string; messages: number }>;
  /**
   * New (and removed) messages since the cursor, in ascending order, then the new cursor. The
   * summaries carry at least `detail` (default: everything); a source may give more.
   */
  changes(folder: string, cursor: Cursor | null, detail?: Readonly<SummaryDetail>): AsyncIterable<Change>;
  /** Messages of a folder, newest first, for browsing by hand. */
  list(folder: string, page: { offset: number; limit: number }): Promise<{ total: number; messages: MessageSummary[] }>;
  /**
   * The summaries of the given messages of one folder (in ascending key order), e.g. to retry
   * messages known only by their refs; refs that are gone or of another epoch are left out.
   */
  summaries(folder: string, refs: readonly MessageRef[]): Promise<MessageSummary[]>;
  /** Keys matching the criteria, or null when the server cannot search for them (filter locally). */
  search(folder: string, criteria: SearchCriteria): Promise<Set<string> | null>;
  /** The raw RFC 5322 bytes, streamed. */
  fetchRaw(ref: MessageRef): Promise<Readable>;
  apply(refs: MessageRef[], action: MailboxAction): Promise<void>;
  /**
   * Calls onNews when the folder may have new mail (IMAP IDLE on its own connection).
   * Resolves with a stopper once watching has started.
   */
  watch(folder: string, onNews: () => void, onError: (err: Error) => void): Promise<{ stop(): Promise<void> }>;
  close(): Promise<void>;
}

// ---------------------------------------------------------------- sending

export interface Envelope {
  from: string;
  to: string[];
}

export interface SendResult {
  /** The server's final reply to the message, e.g. "250 2.0.0 Ok: queued as 4Xyz". */
  response: string;
  /** The queue id when the reply names one. */
  queueId: string | null;
  accepted: string[];
  rejected: string[];
}

export interface SenderCapabilities {
  smtputf8: boolean;
  maxSize: number | null;
}

export interface MailSender {
  /** Connects and authenticates without sending; returns what the server offers. */
  verify(): Promise<SenderCapabilities>;
  send(envelope: Envelope, raw: Buffer): Promise<SendResult>;
  close(): Promise<void>;
}

// ---------------------------------------------------------------- connection settings

export type Security = 'tls' | 'starttls' | 'none';

/** How a gateway reaches its server; credentials are already decrypted by the caller. */
export interface ConnectionSettings {
  host: string;
  port: number;
  security: Security;
  /** TLS verification: 'verify' (default), a pinned SHA-256 certificate fingerprint, or an explicit opt-out. */
  tls: { mode: 'verify' } | { mode: 'fingerprint'; sha256: string } | { mode: 'insecure' };
  auth:
    | { type: 'none' }
    | { type: 'basic'; user: string; password: string }
    | { type: 'oauth2'; user: string; accessToken: string };
  /** Connection and greeting timeout in ms. */
  timeoutMs?: number;
}
