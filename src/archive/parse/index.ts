import { createHash } from 'node:crypto';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { parseAddresses } from './addresses.ts';
import { drain, hashContent } from './attachments.ts';
import { Base64Decoder } from './base64.ts';
import { decodeBytes, unlabelled, windows1252 } from './charset.ts';
import { parseMailDate } from './date.ts';
import { decodeRawText, decodeUnstructured, firstRawHeader, rawHeaderValues } from './header-text.ts';
import { unfoldFlowed } from './flowed.ts';
import { htmlToSearchText } from './html-text.ts';
import { parseInReplyTo, parseMessageId, parseReferences } from './message-id.ts';
import { splitMessage } from './split.ts';
import { StructureTracker, type PartInfo } from './structure.ts';
import type { Address, AttachmentSink, ParsedAttachment, ParsedMessage } from './types.ts';
import { quote, Warnings } from './warnings.ts';

export type { ParsedMessage, ParsedAttachment, Address, AttachmentSink } from './types.ts';
export { hashContent } from './attachments.ts';

export interface ParseOptions {
  /** How many levels of attached messages (message/rfc822 inside message/rfc822 ...) are parsed. */
  maxNesting?: number;
}

const DEFAULT_MAX_NESTING = 10;
/** Body text beyond this is not search material; it also bounds memory per part. */
const MAX_BODY_PART_BYTES = 8 * 1024 * 1024;
const MAX_ATTACHMENT_TEXT_BYTES = 1024 * 1024;

/** Attachments whose content is text for search although their type is not text/*. */
const TEXTUAL_TYPES = new Set([
  'message/delivery-status',
  'message/global-delivery-status',
  'message/disposition-notification',
  'message/global-disposition-notification',
  'message/rfc822-headers',
  'message/global-headers',
  'message/feedback-report',
  'application/json',
  'application/xml',
  'application/csv',
]);
/** Mailers label text files application/octet-stream; the extension tells. */
const TEXT_EXTENSIONS = /\.(txt|text|csv|tsv|log|md|json|xml|html?|ics|vcf|eml)$/i;
/** RFC 6532 section 3.7: message/global is an internationalized message/rfc822. */
const MESSAGE_TYPES = new Set(['message/rfc822', 'message/global']);

interface BodyPart {
  html: boolean;
  text: string;
  alternative: number;
}

function isBodyPart(info: PartInfo): boolean {
  if (info.contentType !== 'text/plain' && info.contentType !== 'text/html') return false;
  if (info.disposition === 'attachment') return false;
  // An inline text part with a file name is an attached file (Apple Mail sends .txt files
  // this way), except when it is the whole message.
  return info.filename === '' || info.isRoot;
}

function isTextual(info: PartInfo): boolean {
  if (info.contentType.startsWith('text/') || TEXTUAL_TYPES.has(info.contentType)) return true;
  return info.contentType === 'application/octet-stream' && TEXT_EXTENSIONS.test(info.filename);
}

/** HTML parts without a charset parameter often declare it in a <meta> tag. */
function sniffHtmlCharset(bytes: Buffer): string | null {
  const head = bytes.subarray(0, 2048).toString('latin1');
  const match = /<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)/i.exec(head);
  return match?.[1] ?? null;
}

/** CRLF (and bare CR from old Mac mailers) to LF; the string form is twice as fast as a regex. */
function toLf(text: string): string {
  const crlf = text.replaceAll('\r\n', '\n');
  return crlf.includes('\r') ? crlf.replaceAll('\r', '\n') : crlf;
}

/** A character cut at the text cap decodes to U+FFFD; a loop, since /\uFFFD+$/ can backtrack quadratically. */
function dropTrailingReplacement(text: string): string {
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 0xfffd) end--;
  return text.slice(0, end);
}

function capText(text: string, max: number): string {
  return text.length > max ? text.slice(0, max) : text;
}

/** One message (the outer one, or an attached one at some depth). */
class MessageParse {
  readonly #sink: AttachmentSink;
  readonly #depth: number;
  readonly #maxNesting: number;
  readonly #warnings: Warnings;
  readonly #tracker: StructureTracker;
  readonly #abort = new AbortController();
  readonly #bodies: BodyPart[] = [];
  readonly #attachments: ParsedAttachment[] = [];
  readonly #attachmentTexts: string[] = [];

  /** `path` is the part number of this message inside the outer one ('' for the outer message). */
  constructor(sink: AttachmentSink, depth: number, maxNesting: number, path: string) {
    this.#sink = sink;
    this.#depth = depth;
    this.#maxNesting = maxNesting;
    this.#warnings = new Warnings(path === '' ? '' : `attached message ${path}: `);
    this.#tracker = new StructureTracker(this.#warnings, path === '' ? '' : `${path}.`);
  }

  async run(raw: Buffer | Readable): Promise<ParsedMessage> {
    try {
      const { stopped } = await splitMessage(raw, {
        observe: (chunk) => this.#tracker.observe(chunk),
        part: (info, content) => this.#handle(info, content),
      });
      // mailsplit's limits (part count, header size) end the parse; what was read is kept.
      if (stopped) this.#warnings.add(`message structure only partly parsed: ${stopped.message}`);
    } catch (err) {
      // Parts still streaming (a nested parse, a sink) stop instead of waiting for input.
      this.#abort.abort();
      throw err;
    }
    return this.#result();
  }

  #handle(info: PartInfo, content: Readable): Promise<void> {
    return isBodyPart(info) ? this.#readBody(content, info) : this.#storeAttachment(content, info);
  }

  async #readBody(content: Readable, info: PartInfo): Promise<void> {
    const drained = await drain(content, [], MAX_BODY_PART_BYTES, this.#abort.signal);
    if (drained.truncated) this.#warnings.add(`part ${info.path}: body text longer than ${MAX_BODY_PART_BYTES} bytes was truncated`);
    this.#bodies.push({ html: info.contentType === 'text/html', text: this.#decodeText(drained.kept, info), alternative: info.alternative });
  }

  #decodeText(bytes: Buffer, info: PartInfo): string {
    let label = info.charset;
    if (label === null && info.contentType === 'text/html') label = sniffHtmlCharset(bytes);
    let text = decodeBytes(bytes, label, (unknown) => this.#warnings.add(`unknown charset ${quote(unknown)} in part ${info.path}; decoded as windows-1252`));
    if (text.includes('\0')) {
      this.#warnings.add(`part ${info.path}: NUL bytes removed from text`);
      text = text.replace(/\0/g, '');
    }
    text = toLf(text);
    return info.flowed ? unfoldFlowed(text, info.delSp) : text;
  }

  async #storeAttachment(content: Readable, info: PartInfo): Promise<void> {
    const record: ParsedAttachment = { filename: info.filename, contentType: info.contentType, size: 0, sha256: '', partPath: info.path };
    this.#attachments.push(record);
    const textual = isTextual(info);
    if (content instanceof Base64Decoder && this.#sink === hashContent && !textual && !MESSAGE_TYPES.has(info.contentType)) {
      // The default sink only digests, and nothing else reads this part: digest it as it is
      // decoded, without a stream to the sink and a buffer per chunk (most of a mailbox's
      // bytes are such attachments). Before any await: the decoder gets no input until then.
      const digest = createHash('sha256');
      content.digestInto((bytes) => {
        digest.update(bytes);
        record.size += bytes.length;
      });
      await drain(content, [], 0, this.#abort.signal);
      record.sha256 = digest.digest('hex');
      return;
    }

    const toSink = new PassThrough();
    // A failing sink reports through its promise; the stream error must not go unhandled.
    toSink.on('error', () => undefined);
    const stored = this.#sink(toSink, info.path);
    // A sink that gives up early must not stall the parse: drop its stream, or drain it.
    stored.then(
      () => toSink.resume(),
      () => toSink.destroy(),
    );
    const outputs: Writable[] = [toSink];

    let nested: Promise<ParsedMessage> | null = null;
    if (MESSAGE_TYPES.has(info.contentType)) {
      if (this.#depth < this.#maxNesting) {
        // The attached message's bytes stream through a nested parse while going to the sink.
        const input = new PassThrough();
        outputs.push(input);
        nested = new MessageParse(this.#sink, this.#depth + 1, this.#maxNesting, info.path).run(input);
        nested.catch(() => input.destroy());
      } else {
        this.#warnings.add(`part ${info.path}: attached message not parsed, nesting limit of ${this.#maxNesting} reached`);
      }
    }

    const drained = await drain(content, outputs, textual ? MAX_ATTACHMENT_TEXT_BYTES : 0, this.#abort.signal);
    const [ref, inner] = await Promise.all([stored, nested]);
    record.size = ref.size;
    record.sha256 = ref.sha256;

    if (textual && drained.kept.length > 0) {
      let text = this.#decodeText(drained.kept, info);
      if (drained.truncated) text = dropTrailingReplacement(text);
      if (info.contentType === 'text/html' || /\.html?$/i.test(info.filename)) text = htmlToSearchText(text).text;
      this.#attachmentTexts.push(text.trim());
    }
    if (inner) this.#mergeNested(inner);
  }

  #mergeNested(inner: ParsedMessage): void {
    this.#attachments.push(...inner.attachments);
    const from = inner.from ? `${inner.from.name} <${inner.from.address}>` : '';
    const text = [inner.subject, from, inner.bodyText, inner.attachmentText].filter((s) => s !== '').join('\n');
    if (text !== '') this.#attachmentTexts.push(capText(text, MAX_ATTACHMENT_TEXT_BYTES));
    // Already prefixed with the attached message's path, see the constructor.
    for (const warning of inner.warnings) this.#warnings.addVerbatim(warning);
  }

  /**
   * The text/plain parts in order, plus every HTML part for which no plain text stands in:
   * an HTML part is skipped only when its multipart/alternative (RFC 2046 5.1.4) has a
   * non-empty text/plain version. An HTML part outside any alternative (HTML-only mail, a
   * forwarded HTML part beside a plain body) is content of its own, as mailparser treats it.
   */
  #bodyText(): string {
    const hasPlain = (b: BodyPart): boolean => !b.html && b.text.trim() !== '';
    const plainAlternatives = new Set(this.#bodies.filter((b) => hasPlain(b) && b.alternative !== 0).map((b) => b.alternative));
    const texts: string[] = [];
    for (const body of this.#bodies) {
      if (hasPlain(body)) {
        texts.push(body.text);
      } else if (body.html && (body.alternative === 0 || !plainAlternatives.has(body.alternative))) {
        const converted = htmlToSearchText(body.text);
        if (converted.degraded) this.#warnings.add('HTML body too deeply nested for conversion; tags were stripped instead');
        texts.push(converted.text);
      }
    }
    const orphan = this.#tracker.orphanText;
    if (orphan.length > 0) texts.push(toLf(unlabelled.decode(Buffer.concat(orphan))));
    return texts.join('\n');
  }

  #result(): ParsedMessage {
    const tracker = this.#tracker;
    tracker.finish();
    const lines = tracker.rootHeaderLines;
    // Undeclared 8-bit header bytes that are not UTF-8 are read as windows-1252, unless the
    // message declares a non-Western charset for its text (see StructureTracker).
    const fallback = tracker.headerCharsetHint ?? windows1252;
    const unknownIn = (field: string) => (label: string) =>
      this.#warnings.add(`unknown charset ${quote(label)} in the ${field} header; decoded as windows-1252`);
    // From and Date of an attached message are not indexed; forwarded drafts and bounces often
    // lack them, and a note about it would only bury the notes about the outer message.
    const noteField = (note: string): void => {
      if (this.#depth === 0) this.#warnings.add(note);
    };

    if (!lines.some((line) => /^[!-9;-~]+$/.test(line.key))) this.#warnings.add('message has no header');
    else if (lines.some((line) => line.line.includes('\0'))) this.#warnings.add('NUL bytes in the header');
    if (!tracker.hasBody) this.#warnings.add('message has no body');

    const subject = decodeUnstructured(firstRawHeader(lines, 'subject') ?? '', fallback, unknownIn('Subject'));

    const fromValues = rawHeaderValues(lines, 'from');
    let from: Address | null = null;
    if (fromValues.length === 0) {
      noteField('missing From header');
    } else {
      from = parseAddresses(fromValues.slice(0, 1), fallback, unknownIn('From')).addresses[0] ?? null;
      if (from === null || from.address === '') noteField(`From header has no address: ${quote(decodeRawText(fromValues[0] ?? '', fallback))}`);
    }
    const to = parseAddresses(rawHeaderValues(lines, 'to'), fallback, unknownIn('To'));
    const cc = parseAddresses(rawHeaderValues(lines, 'cc'), fallback, unknownIn('Cc'));
    if (to.truncated || cc.truncated) this.#warnings.add('recipient list truncated to 1000 addresses');

    const rawDate = firstRawHeader(lines, 'date');
    let date: string | null = null;
    if (rawDate === null || rawDate === '') {
      noteField('missing Date header');
    } else {
      const parsed = parseMailDate(rawDate);
      if (parsed === null) noteField(`unparsable Date header ${quote(decodeRawText(rawDate, fallback))}`);
      else date = parsed.toISOString();
    }

    const idHeader = (key: string): string | null => {
      const value = firstRawHeader(lines, key);
      return value === null ? null : decodeRawText(value, fallback);
    };
    const references = parseReferences(rawHeaderValues(lines, 'references').map((v) => decodeRawText(v, fallback)));
    if (references.truncated) this.#warnings.add('References header truncated');

    const bodyText = this.#bodyText().replace(/\0/g, '').trim();
    return {
      messageId: parseMessageId(idHeader('message-id')),
      subject,
      from,
      to: to.addresses,
      cc: cc.addresses,
      date,
      inReplyTo: parseInReplyTo(idHeader('in-reply-to')),
      references: references.ids,
      bodyText,
      attachmentText: this.#attachmentTexts.join('\n\n').replace(/\0/g, ''),
      attachments: this.#attachments,
      warnings: this.#warnings.list(),
    };
  }
}

/**
 * Parses one raw message (RFC 5322 + MIME) for the archive index. Attachment bytes stream to
 * `sink` (each exactly once, attached messages and their attachments included; by default they
 * are only digested) and are never buffered whole. Malformed input never throws: damage is
 * tolerated and listed in `warnings`. The promise rejects only when the sink fails or the
 * input stream errors.
 */
export function parseMessage(raw: Buffer | Readable, sink: AttachmentSink = hashContent, options?: ParseOptions): Promise<ParsedMessage> {
  const maxNesting = Math.max(0, Math.floor(options?.maxNesting ?? DEFAULT_MAX_NESTING));
  return new MessageParse(sink, 0, maxNesting, '').run(raw);
}
