import type { ParsedMessage } from './parse/index.ts';
import { indexTermLines } from './search/terms.ts';

/** A parsed message with its full-text terms: the CPU-bound part of archiving a message. */
export interface PreparedMessage {
  parsed: ParsedMessage;
  /** Index terms in order, joined by line feeds (see indexTermLines). */
  terms: string;
}

/** What a message is found by: subject, people, attachment names, body and attachment text. */
export function searchText(p: ParsedMessage): string {
  const people = [p.from, ...p.to, ...p.cc].filter((a) => a !== null).map((a) => `${a.name} ${a.address}`);
  return [p.subject, people.join(' '), p.attachments.map((a) => a.filename).join(' '), p.bodyText, p.attachmentText].join('\n');
}

export function prepared(parsed: ParsedMessage): PreparedMessage {
  return { parsed, terms: indexTermLines(searchText(parsed)) };
}
