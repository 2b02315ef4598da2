import type { ParsedMessage } from './parse/index.ts';
import { indexTermLines } from './search/terms.ts';

/** A parsed message without its texts, which live on only as the preview and the terms. */
export type IndexedMessage = Omit<ParsedMessage, 'bodyText' | 'attachmentText'>;

/**
 * A parsed message with its full-text terms and preview: the CPU-bound part of archiving a
 * message. The texts are dropped here (in the parse worker), so they are neither copied to the
 * main thread nor held there while a batch waits for its commit.
 */
export interface PreparedMessage {
  parsed: IndexedMessage;
  /** The first words of the body, whitespace collapsed. */
  preview: string;
  /** Index terms in order, joined by line feeds (see indexTermLines). */
  terms: string;
}

const PREVIEW_CHARS = 300;
/**
 * Prefixes tried for a preview, shortest first: 300 characters with whitespace collapsed
 * usually come from the first 512 (the regular expression over the whole body, or 4096
 * characters of it, was a noticeable part of a small message's parse).
 */
const PREVIEW_SCANS = [512, 4096];

/**
 * `text.replace(/\s+/g, ' ').trim().slice(0, PREVIEW_CHARS)` without scanning a long body
 * whole: when a prefix already collapses to more than PREVIEW_CHARS characters, the result is
 * its first PREVIEW_CHARS (collapsing a prefix gives a prefix, and the trailing trim can only
 * remove the last character of a run of whitespace, which is past the cut).
 */
export function previewOf(text: string): string {
  for (const scan of PREVIEW_SCANS) {
    if (text.length <= scan) break;
    const head = text.slice(0, scan).replace(/\s+/g, ' ').trimStart();
    if (head.length > PREVIEW_CHARS) return head.slice(0, PREVIEW_CHARS);
  }
  return text.replace(/\s+/g, ' ').trim().slice(0, PREVIEW_CHARS);
}

/** What a message is found by: subject, people, attachment names, body and attachment text. */
export function searchText(p: ParsedMessage): string {
  const people = [p.from, ...p.to, ...p.cc].filter((a) => a !== null).map((a) => `${a.name} ${a.address}`);
  return [p.subject, people.join(' '), p.attachments.map((a) => a.filename).join(' '), p.bodyText, p.attachmentText].join('\n');
}

export function prepared(message: ParsedMessage): PreparedMessage {
  const { bodyText, attachmentText: _attachmentText, ...parsed } = message;
  return { parsed, preview: previewOf(bodyText), terms: indexTermLines(searchText(message)) };
}
