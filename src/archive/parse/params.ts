import { decodeBytes, type Charset } from './charset.ts';
import { decodeEncodedWords } from './encoded-words.ts';
import { decodeRawText } from './header-text.ts';

/** A Content-Type or Content-Disposition value with its decoded parameters (lower-case names). */
export interface StructuredValue {
  value: string;
  params: Map<string, string>;
}

interface Segment {
  index: number;
  extended: boolean;
  raw: string;
}

/** Reads `;`-separated parameters from a raw (binary) header value; tolerant of missing quotes. */
function splitParams(binary: string): { value: string; raw: Array<[string, string]> } {
  const semicolon = binary.indexOf(';');
  const value = (semicolon >= 0 ? binary.slice(0, semicolon) : binary).trim();
  const raw: Array<[string, string]> = [];
  let i = semicolon >= 0 ? semicolon + 1 : binary.length;
  const n = binary.length;
  while (i < n) {
    while (i < n && (binary[i] === ';' || binary[i] === ' ' || binary[i] === '\t')) i++;
    const nameStart = i;
    while (i < n && binary[i] !== '=' && binary[i] !== ';') i++;
    const name = binary.slice(nameStart, i).trim().toLowerCase();
    if (i >= n || binary[i] === ';') continue;
    i++; // "="
    while (i < n && (binary[i] === ' ' || binary[i] === '\t')) i++;
    let paramValue = '';
    if (binary[i] === '"') {
      i++;
      while (i < n && binary[i] !== '"') {
        // RFC 5322 quoted-pair; Windows paths in filenames ("C:\dir\a.pdf") are written unescaped,
        // so a backslash only escapes a quote or another backslash.
        if (binary[i] === '\\' && (binary[i + 1] === '"' || binary[i + 1] === '\\')) i++;
        paramValue += binary[i];
        i++;
      }
      i++; // closing quote, or past the end when it is missing
      while (i < n && binary[i] !== ';') i++; // junk after the quoted string
    } else {
      const start = i;
      while (i < n && binary[i] !== ';') i++;
      paramValue = binary.slice(start, i).trim();
    }
    if (name !== '') raw.push([name, paramValue]);
  }
  return { value, raw };
}

function percentDecode(text: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0x25 && /^[0-9a-fA-F]{2}$/.test(text.slice(i + 1, i + 3))) {
      bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(code & 0xff);
    }
  }
  return Buffer.from(bytes);
}

/**
 * Parses a Content-Type / Content-Disposition value.
 *
 * RFC 2231 parameters (`name*=charset'lang'%XX`, continuations `name*0*=`, `name*1=`) are
 * joined as bytes before charset decoding, so a character split over two segments survives.
 * Plain parameters get RFC 2047 decoding as well: Outlook, Gmail and QQ put encoded words
 * into quoted `name=` / `filename=` values although RFC 2047 section 5 forbids it.
 */
export function parseStructured(binary: string, fallback: Charset, onUnknownCharset: (label: string) => void): StructuredValue {
  const { value, raw } = splitParams(binary);
  const plain = new Map<string, string>();
  const extended = new Map<string, Segment[]>();
  for (const [name, paramValue] of raw) {
    const m = /^(.*?)\*(\d{1,3})?(\*)?$/.exec(name);
    if (m === null || m[1] === '') {
      if (!plain.has(name)) plain.set(name, paramValue);
      continue;
    }
    const base = m[1] ?? name;
    const segments = extended.get(base) ?? [];
    // "name*" alone is extended; "name*0" is a literal continuation, "name*0*" an extended one.
    const isExtended = m[2] === undefined || m[3] === '*';
    segments.push({ index: m[2] === undefined ? 0 : Number(m[2]), extended: isExtended, raw: paramValue });
    extended.set(base, segments);
  }

  const params = new Map<string, string>();
  for (const [name, rawValue] of plain) {
    params.set(name, decodeEncodedWords(decodeRawText(rawValue, fallback), onUnknownCharset));
  }
  for (const [name, segments] of extended) {
    segments.sort((a, b) => a.index - b.index);
    let charset: string | null = null;
    const chunks: Buffer[] = [];
    const seen = new Set<number>();
    for (const segment of segments) {
      if (seen.has(segment.index)) continue;
      seen.add(segment.index);
      let text = segment.raw;
      if (segment.extended && chunks.length === 0) {
        // RFC 2231 section 4: charset'language'value, only in the first segment.
        const m = /^([^']*)'([^']*)'/.exec(text);
        if (m) {
          charset = (m[1] ?? '').trim() || null;
          text = text.slice(m[0].length);
        }
      }
      chunks.push(segment.extended ? percentDecode(text) : Buffer.from(text, 'latin1'));
    }
    const bytes = Buffer.concat(chunks);
    // Without a declared charset the bytes are as unlabelled as a raw header; encoded words
    // split across literal continuations (name*0="=?utf-8?B?..."; name*1="...?=") are joined here.
    const decoded = charset === null ? decodeEncodedWords(decodeRawText(bytes.toString('latin1'), fallback), onUnknownCharset) : decodeBytes(bytes, charset, onUnknownCharset);
    params.set(name, decoded);
  }
  return { value: value.toLowerCase(), params };
}
