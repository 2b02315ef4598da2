import { MailParser } from 'mailparser';
import type { AttachmentStream, MailParserOptions, MessageText } from 'mailparser';
import type { HeaderLine } from './header-text.ts';

/**
 * The slice of mailsplit's MIME node (mailparser's splitter) this module reads. mailparser's
 * public API exposes neither the raw header lines of a part nor the multipart structure, and
 * both are needed: raw 8-bit filenames are lost once mailparser has re-read them as UTF-8, and
 * an unclosed boundary or broken base64 is invisible in the decoded output.
 */
export interface SplitNode {
  type: 'node';
  root: boolean;
  parentNode: SplitNode | false;
  partNr: ReadonlyArray<number | string> | false;
  contentType: string | false;
  encoding: string | false;
  multipart: string | false;
  _boundary: Buffer | false;
  _parentBoundary: Buffer | false;
  headers: { getList(): readonly HeaderLine[] } | false;
}

export interface SplitData {
  type: 'data' | 'body';
  node: SplitNode;
  value?: Buffer;
}

export type SplitChunk = SplitNode | SplitData;

/** The MailParser internals we depend on (checked at construction, see below). */
interface MailParserInternals {
  processChunk(chunk: SplitChunk, done: (err?: Error | null) => void): void;
  processHeaders(lines: readonly HeaderLine[]): Map<string, unknown>;
  textTypes: string[];
}

export type ParserItem = AttachmentStream | MessageText;

/** A parser the splitter feeds; 'data' events carry every leaf part as an AttachmentStream. */
export type ObservedParser = MailParser;

const OPTIONS: MailParserOptions = {
  // Attached messages are parsed by our own recursion (parseMessage on the part's bytes), so
  // they must reach us as one attachment each.
  ignoreEmbedded: true,
  // The sink hashes; mailparser's md5 would be wasted work.
  checksumAlgo: false,
  skipHtmlToText: true,
  skipTextToHtml: true,
  skipTextLinks: true,
  skipImageLinks: true,
  keepDeliveryStatus: true,
  // mailsplit charges every header line at least 64 bytes; the 1 MiB default rejects a header
  // of 16k short lines outright and then we would know nothing about the message. 16 MiB of
  // cost (about 250k lines) parses in a few hundred milliseconds.
  maxHeadSize: 16 * 1024 * 1024,
  maxChildNodes: 1000,
};

/**
 * Creates a MailParser that reports every splitter chunk to `observe` before handling it and
 * hands every leaf part (text bodies included) out as an attachment stream, so that charsets,
 * body selection and text extraction are decided here, with the part's raw headers at hand.
 *
 * The hooks use MailParser internals of the 3.x line (processChunk, processHeaders,
 * textTypes); the check below makes an incompatible mailparser fail loudly instead of
 * silently losing bodies.
 */
export function createObservedParser(observe: (chunk: SplitChunk) => void): ObservedParser {
  const parser = new MailParser(OPTIONS);
  const internals = parser as unknown as Partial<MailParserInternals>;
  const original = internals.processChunk;
  if (typeof original !== 'function' || typeof internals.processHeaders !== 'function' || !Array.isArray(internals.textTypes)) {
    throw new Error('unsupported mailparser version: MailParser.processChunk/processHeaders/textTypes not found');
  }
  // No part is "text" to mailparser: every leaf comes out as a stream, bodies included.
  internals.textTypes = [];
  // mailparser decodes every header of every part (addressparser, libmime) into a Map for its
  // own result object. We decode the raw lines ourselves and never read that Map; building it
  // was a quarter of the parse time. Only its Content-ID lookup reads it, for `cid`, unused here.
  internals.processHeaders = () => new Map<string, unknown>();
  internals.processChunk = (chunk: SplitChunk, done: (err?: Error | null) => void): void => {
    try {
      observe(chunk);
      original.call(parser, chunk, done);
    } catch (err) {
      // A throw here would escape through setImmediate and take the process down.
      done(err instanceof Error ? err : new Error(String(err)));
    }
  };
  return parser;
}

export function isAttachmentItem(item: ParserItem): item is AttachmentStream {
  return item.type === 'attachment';
}
