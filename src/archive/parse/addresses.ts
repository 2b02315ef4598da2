import addressparser from 'nodemailer/lib/addressparser';
import type { Charset } from './charset.ts';
import { decodeEncodedWords } from './encoded-words.ts';
import { decodeRawText, stripControls } from './header-text.ts';
import type { Address } from './types.ts';

/** A run of RFC 2047 words separated only by whitespace. */
const WORD_RUN = /=\?[^?\s]{1,100}\?[BbQq]\?[^?]*\?=(?:[ \t\r\n]*=\?[^?\s]{1,100}\?[BbQq]\?[^?]*\?=)*/g;
const PLACEHOLDER = /\uFDD0(\d+)\uFDD1/g;
const HAS_PLACEHOLDER = /\uFDD0\d+\uFDD1/;
/** Hostile headers list hundreds of thousands of recipients; nobody searches past this. */
export const MAX_ADDRESSES = 1000;

/**
 * Parses address headers with nodemailer's addressparser (quoting, comments, groups, missing ">"),
 * but decodes the display names with our RFC 2047 decoder, which knows more charsets and joins
 * words that split a character. Encoded words are swapped for placeholders (Unicode
 * noncharacters, which no header carries) before parsing, so that a decoded name containing
 * "," or "<" cannot change the structure; the decoded text is put back afterwards. RFC 2047
 * section 5 allows encoded words in display names only, also inside quoted strings in practice.
 */
export function parseAddresses(
  rawValues: readonly string[],
  fallback: Charset,
  onUnknownCharset: (label: string) => void,
): { addresses: Address[]; truncated: boolean } {
  const addresses: Address[] = [];
  for (const raw of rawValues) {
    const decoded: string[] = [];
    const text = decodeRawText(raw, fallback)
      .replace(/[\uFDD0\uFDD1]/g, '')
      .replace(WORD_RUN, (run) => {
        decoded.push(decodeEncodedWords(run, onUnknownCharset));
        return `\uFDD0${decoded.length - 1}\uFDD1`;
      });
    const restore = (value: string): string => value.replace(PLACEHOLDER, (_m, n: string) => decoded[Number(n)] ?? '');
    let parsed: Array<{ name?: string; address?: string }>;
    try {
      parsed = addressparser(text, { flatten: true });
    } catch {
      parsed = [];
    }
    for (const entry of parsed) {
      const name = stripControls(restore(entry.name ?? '')).replace(/\s+/g, ' ').trim();
      let address = (entry.address ?? '').trim();
      if (HAS_PLACEHOLDER.test(address)) {
        // An encoded word in the addr-spec is forbidden (RFC 2047 section 5); accept it only
        // when it decodes to a plain local@domain.
        const candidate = restore(address);
        address = /^[^\s@<>",]+@[^\s@<>",]+$/.test(candidate) ? candidate : '';
      }
      address = stripControls(address);
      if (name === '' && address === '') continue;
      if (addresses.length >= MAX_ADDRESSES) return { addresses, truncated: true };
      addresses.push({ name, address });
    }
  }
  return { addresses, truncated: false };
}
