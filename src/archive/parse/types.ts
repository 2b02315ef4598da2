import type { Readable } from 'node:stream';

export interface Address {
  name: string;
  address: string;
}

/**
 * Where an attachment's decoded bytes go while the message is parsed: `partPath` is the
 * attachment's ParsedAttachment.partPath. Returns the bytes' SHA-256 and size. The default
 * (hashContent) only digests them: the archive keeps the original message, from which an
 * attachment is extracted again when it is asked for (docs/decisions/0007).
 */
export type AttachmentSink = (content: Readable, partPath: string) => Promise<{ sha256: string; size: number }>;

export interface ParsedAttachment {
  /** Decoded file name (RFC 2231 / RFC 2047 / raw 8-bit), '' when the part has none. */
  filename: string;
  contentType: string;
  size: number;
  sha256: string;
  /** Path of nested message/rfc822 parts, e.g. '2' or '2.1' for an attachment inside an attached mail. */
  partPath: string;
}

export interface ParsedMessage {
  messageId: string | null; // without angle brackets
  subject: string;
  from: Address | null;
  to: Address[];
  cc: Address[];
  date: string | null; // ISO 8601 UTC, null when missing or unparsable
  inReplyTo: string | null;
  references: string[];
  /** Plain text for search: text/plain body, or text extracted from HTML when there is none. */
  bodyText: string;
  /** Text of text/* attachments (for search), already decoded to UTF-8. */
  attachmentText: string;
  attachments: ParsedAttachment[];
  /** Human-readable notes about malformed structure that was tolerated (never fatal). */
  warnings: string[];
}
