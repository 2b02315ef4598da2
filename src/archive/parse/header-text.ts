import { isUtf8 } from 'node:buffer';
import type { Charset } from './charset.ts';
import { decodeEncodedWords } from './encoded-words.ts';

/** A header line as mailsplit keeps it: lower-case key, the raw line as a binary (latin1) string. */
export interface HeaderLine {
  key: string;
  line: string;
}

const iso2022jp = new TextDecoder('iso-2022-jp');

/** The part after "Name:", unfolded (RFC 5322 section 2.2.3), still one char per byte. */
export function rawHeaderValue(line: string): string {
  const colon = line.indexOf(':');
  const value = colon >= 0 ? line.slice(colon + 1) : line;
  return value.replace(/\r?\n[ \t]|\r?\n|\r/g, ' ').trim();
}

/** Raw values of every header with this (lower-case) key, in order. */
export function rawHeaderValues(lines: readonly HeaderLine[], key: string): string[] {
  const values: string[] = [];
  for (const entry of lines) if (entry.key === key) values.push(rawHeaderValue(entry.line));
  return values;
}

export function firstRawHeader(lines: readonly HeaderLine[], key: string): string | null {
  for (const entry of lines) if (entry.key === key) return rawHeaderValue(entry.line);
  return null;
}

/**
 * Turns raw header bytes into text before any MIME decoding. RFC 6532 allows raw UTF-8; bytes
 * that are not valid UTF-8 come from legacy mailers that wrote their local charset undeclared,
 * so they are read with the fallback (windows-1252 unless the message hints otherwise). Old
 * Japanese mailers put raw ISO-2022-JP escape sequences into 7-bit headers.
 */
export function decodeRawText(binary: string, fallback: Charset): string {
  if (!/[\x80-\xff]/.test(binary)) {
    if (binary.includes('\x1b$') || binary.includes('\x1b(')) return iso2022jp.decode(Buffer.from(binary, 'latin1'));
    return binary;
  }
  const bytes = Buffer.from(binary, 'latin1');
  return isUtf8(bytes) ? bytes.toString('utf8') : fallback.decode(bytes);
}

/** Control characters other than tab and line breaks do not belong in indexed text (and NUL breaks PostgreSQL text columns). */
export function stripControls(text: string): string {
  return text.replace(/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/g, '');
}

/** An unstructured header (Subject and the like): raw bytes, then RFC 2047 words. */
export function decodeUnstructured(binary: string, fallback: Charset, onUnknownCharset: (label: string) => void): string {
  const text = decodeEncodedWords(decodeRawText(binary, fallback), onUnknownCharset);
  return stripControls(text.replace(/\t/g, ' ')).trim();
}
