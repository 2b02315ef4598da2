import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import MailComposer from 'nodemailer/lib/mail-composer';
import type { MailComposerOptions } from 'nodemailer/lib/mail-composer';
import { AppError } from '../errors/index.ts';
import { checkDisplayName, normalizeAddress, toAsciiDomain } from './address.ts';

/**
 * Builds the RFC 5322 bytes of an outgoing message once. The outbox stores exactly these bytes
 * and the sender transmits them unchanged; nothing is ever rendered twice.
 *
 * Nodemailer's MailComposer does the MIME work: RFC 2047 encoded-words for the subject and display
 * names (folded, whole characters per word), RFC 2231 `filename*` parameters plus an RFC 2047
 * `name=` for clients that never learnt RFC 2231, UTF-8 bodies as quoted-printable or base64,
 * CRLF line ends. This module decides what goes in: validated, normalized addresses (see
 * address.ts), Bcc in the envelope only, no file or URL access from attachment content.
 */

export interface Address {
  name?: string;
  address: string;
}

export interface ComposeAttachment {
  filename: string;
  /** Detected from the file name when missing. */
  contentType?: string;
  content: Buffer | Readable;
}

export interface ComposeInput {
  from: Address;
  to: Address[];
  cc?: Address[];
  /** Envelope recipients only; never written into the headers. */
  bcc?: Address[];
  replyTo?: Address;
  subject: string;
  text?: string;
  html?: string;
  attachments?: ComposeAttachment[];
  /** Extra header fields (e.g. `Auto-Submitted`); may not replace the ones this module writes. */
  headers?: Record<string, string>;
  /** With or without angle brackets; generated from a UUID and the sender's domain when missing. */
  messageId?: string;
  date?: Date;
}

export interface ComposedMessage {
  /** The complete message, CRLF line ends. */
  raw: Buffer;
  /** The SMTP envelope: the sender and every To, Cc and Bcc recipient (deduplicated). */
  envelope: { from: string; to: string[] };
  /** The Message-ID header value, with angle brackets. */
  messageId: string;
  /** True when an address has a non-ASCII local part: only an SMTPUTF8 server can take it. */
  needsSmtpUtf8: boolean;
}

/** Header fields this module writes itself (lowercase); custom headers may not replace them. */
const RESERVED_HEADERS = new Set([
  'from', 'sender', 'to', 'cc', 'bcc', 'reply-to', 'subject', 'message-id', 'date', 'mime-version',
  'content-type', 'content-transfer-encoding', 'content-disposition',
]);
const FIELD_NAME = /^[!-9;-~]+$/; // RFC 5322 ftext: printable ASCII except ':'
const LINE_BREAK_OR_NUL = /[\r\n\0]/;
const ID_ATOM = "[A-Za-z0-9!#$%&'*+\\-/=?^_`{|}~]+";
const ID_DOT_ATOM = `${ID_ATOM}(?:\\.${ID_ATOM})*`;
/** RFC 5322 msg-id with dot-atom-text on both sides, angle brackets optional on input. */
const MSG_ID = new RegExp(`^<?(${ID_DOT_ATOM}@${ID_DOT_ATOM})>?$`);

function fail(message: string, details: Record<string, unknown>): AppError {
  return new AppError('VALIDATION_FAILED', message, { details });
}

interface Collected {
  header: Array<{ name?: string; address: string }>;
  smtpUtf8: boolean;
}

function collect(list: Address[] | undefined, role: string): Collected {
  if (list === undefined) return { header: [], smtpUtf8: false };
  if (!Array.isArray(list)) throw fail(`"${role}" must be a list of addresses.`, { field: role });
  let smtpUtf8 = false;
  const header = list.map((entry) => {
    if (entry === null || typeof entry !== 'object') throw fail(`Invalid ${role} address: expected {name?, address}.`, { field: role });
    const normalized = normalizeAddress(entry.address, role);
    smtpUtf8 ||= normalized.smtpUtf8;
    const name = checkDisplayName(entry.name, role);
    return name === undefined ? { address: normalized.address } : { name, address: normalized.address };
  });
  return { header, smtpUtf8 };
}

function checkHeaders(headers: Record<string, string> | undefined): Record<string, string> {
  if (headers === undefined) return {};
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!FIELD_NAME.test(name)) throw fail(`Invalid header name ${JSON.stringify(name)}.`, { field: 'headers', header: name });
    if (RESERVED_HEADERS.has(name.toLowerCase())) {
      throw fail(`Header ${JSON.stringify(name)} is set from the message fields and cannot be given as a custom header.`, {
        field: 'headers',
        header: name,
      });
    }
    if (typeof value !== 'string' || LINE_BREAK_OR_NUL.test(value)) {
      throw fail(`Header ${JSON.stringify(name)} has a value with a line break; header values must be a single line.`, {
        field: 'headers',
        header: name,
      });
    }
    out[name] = value;
  }
  return out;
}

function messageIdFor(given: string | undefined, fromAddress: string): string {
  if (given !== undefined) {
    const m = MSG_ID.exec(typeof given === 'string' ? given.trim() : '');
    if (!m) throw fail(`Invalid Message-ID ${JSON.stringify(given)}: expected <id-left@id-right> in ASCII.`, { field: 'messageId' });
    return `<${m[1]}>`;
  }
  // The right-hand side is always ASCII, even for an internationalized sender.
  const domain = toAsciiDomain(fromAddress.slice(fromAddress.lastIndexOf('@') + 1)) ?? 'mailroom.invalid';
  return `<${randomUUID()}@${domain}>`;
}

/** Builds the message bytes once (see the file comment). Throws `VALIDATION_FAILED` on bad input. */
export async function composeMessage(input: ComposeInput): Promise<ComposedMessage> {
  if (input === null || typeof input !== 'object') throw fail('The message is missing.', {});
  if (input.from === null || typeof input.from !== 'object') throw fail('The message has no sender ("from").', { field: 'from' });

  const from = collect([input.from], 'from');
  const to = collect(input.to, 'to');
  const cc = collect(input.cc, 'cc');
  const bcc = collect(input.bcc, 'bcc');
  const replyTo = collect(input.replyTo === undefined ? undefined : [input.replyTo], 'replyTo');
  const sender = from.header[0];
  if (sender === undefined) throw fail('The message has no sender ("from").', { field: 'from' });

  const envelopeTo: string[] = [];
  const seen = new Set<string>();
  for (const { address } of [...to.header, ...cc.header, ...bcc.header]) {
    // Domains are case-insensitive and already lowercased by the normalization; local parts are not.
    if (!seen.has(address)) {
      seen.add(address);
      envelopeTo.push(address);
    }
  }
  if (envelopeTo.length === 0) throw fail('The message has no recipients (to, cc or bcc).', { field: 'to' });

  if (typeof input.subject !== 'string') throw fail('The subject must be text.', { field: 'subject' });
  if (/\0/.test(input.subject)) throw fail('The subject contains a NUL character.', { field: 'subject' });
  for (const field of ['text', 'html'] as const) {
    const v = input[field];
    if (v !== undefined && typeof v !== 'string') throw fail(`The ${field} body must be text.`, { field });
  }
  if (input.date !== undefined && !(input.date instanceof Date && Number.isFinite(input.date.getTime()))) {
    throw fail('The date is not a valid date.', { field: 'date' });
  }

  const attachments = (input.attachments ?? []).map((a, i) => {
    if (typeof a?.filename !== 'string' || a.filename.trim() === '' || /[\u0000-\u001F\u007F]/.test(a.filename)) {
      throw fail(`Attachment ${i + 1} needs a file name without control characters.`, { field: 'attachments', index: i });
    }
    if (a.contentType !== undefined && !/^[\w!#$&^.+-]+\/[\w!#$&^.+-]+$/.test(a.contentType)) {
      throw fail(`Attachment ${JSON.stringify(a.filename)} has an invalid content type ${JSON.stringify(a.contentType)}.`, {
        field: 'attachments',
        index: i,
      });
    }
    if (!Buffer.isBuffer(a.content) && (a.content === null || typeof a.content !== 'object' || typeof a.content.pipe !== 'function')) {
      throw fail(`Attachment ${JSON.stringify(a.filename)} has no content (a Buffer or a readable stream).`, {
        field: 'attachments',
        index: i,
      });
    }
    // Always a file to save: nodemailer shows message/rfc822 parts (an archived .eml) inline
    // unless told otherwise, and readers then render the attached mail as body text.
    const part = { filename: a.filename, content: a.content, contentDisposition: 'attachment' as const };
    return a.contentType === undefined ? part : { ...part, contentType: a.contentType };
  });

  const messageId = messageIdFor(input.messageId, sender.address);
  const options: MailComposerOptions = {
    from: sender,
    to: to.header,
    subject: input.subject,
    messageId,
    date: input.date ?? new Date(),
    headers: checkHeaders(input.headers),
    attachments,
    newline: 'win',
    // Content comes from the caller as bytes; never let a string be read as a path or a URL.
    disableFileAccess: true,
    disableUrlAccess: true,
  };
  if (cc.header.length > 0) options.cc = cc.header;
  if (replyTo.header[0] !== undefined) options.replyTo = replyTo.header[0];
  if (input.text !== undefined) options.text = input.text;
  if (input.html !== undefined) options.html = input.html;
  // Bcc is deliberately not handed to the composer: it exists in the envelope only.

  let raw: Buffer;
  try {
    raw = await new MailComposer(options).compile().build();
  } catch (err) {
    throw new AppError('VALIDATION_FAILED', `The message could not be built: ${err instanceof Error ? err.message : String(err)}.`, {
      cause: err,
      details: { field: 'message' },
    });
  }

  return {
    raw,
    envelope: { from: sender.address, to: envelopeTo },
    messageId,
    needsSmtpUtf8: from.smtpUtf8 || to.smtpUtf8 || cc.smtpUtf8 || bcc.smtpUtf8 || replyTo.smtpUtf8,
  };
}
