import { resolveCharset, windows1252, type Charset } from './charset.ts';

/**
 * RFC 2047 encoded words. The encoded text may not contain "?" but broken mailers leave spaces
 * in Q words, so anything up to the next "?" is accepted.
 */
const ENCODED_WORD = /=\?([^?\s]{1,100})\?([BbQq])\?([^?]*)\?=/g;
const ONLY_WHITESPACE = /^[ \t\r\n]*$/;

const BASE64_VALUES = (() => {
  const table = new Int8Array(256).fill(-1);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  for (let i = 0; i < alphabet.length; i++) table[alphabet.charCodeAt(i)] = i;
  // RFC 4648 base64url, which some webmail encoders emit in headers.
  table[0x2d] = 62;
  table[0x5f] = 63;
  return table;
})();

/**
 * Base64 that survives what encoders do to headers: words cut at any character (not at a
 * 4-character quantum) and padded segments glued together ("YQ==Yg=="). Padding ends a quantum,
 * invalid characters are skipped.
 */
export function decodeLenientBase64(text: string): Buffer {
  const out = Buffer.allocUnsafe(Math.ceil((text.length * 3) / 4));
  let length = 0;
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0x3d) {
      acc = 0;
      bits = 0;
      continue;
    }
    const value = code < 256 ? (BASE64_VALUES[code] ?? -1) : -1;
    if (value < 0) continue;
    acc = ((acc << 6) | value) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[length++] = (acc >> bits) & 0xff;
    }
  }
  return out.subarray(0, length);
}

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x41 && code <= 0x46) return code - 0x37;
  if (code >= 0x61 && code <= 0x66) return code - 0x57;
  return -1;
}

/** RFC 2047 section 4.2: "_" is a space, "=XX" a byte; a stray "=" stays literal. */
export function decodeQ(text: string): Buffer {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0x5f) {
      out.push(0x20);
    } else if (code === 0x3d && i + 2 < text.length && hexValue(text.charCodeAt(i + 1)) >= 0 && hexValue(text.charCodeAt(i + 2)) >= 0) {
      out.push(hexValue(text.charCodeAt(i + 1)) * 16 + hexValue(text.charCodeAt(i + 2)));
      i += 2;
    } else if (code < 0x80) {
      out.push(code);
    } else {
      // Raw non-ASCII inside a word (it was already decoded from UTF-8 or windows-1252):
      // keep the character by re-encoding it as UTF-8.
      for (const byte of Buffer.from(text[i] ?? '', 'utf8')) out.push(byte);
    }
  }
  return Buffer.from(out);
}

interface Run {
  label: string;
  charset: Charset | null;
  /** Base64 text not yet decoded, see decodeEncodedWords. */
  base64: string;
  chunks: Buffer[];
}

function sameCharset(run: Run, label: string, charset: Charset | null): boolean {
  if (charset === null) return run.charset === null && run.label.toLowerCase() === label.toLowerCase();
  return run.charset !== null && run.charset.name === charset.name;
}

function decodeRun(run: Run, onUnknownCharset: (label: string) => void): string {
  if (run.base64.length > 0) run.chunks.push(decodeLenientBase64(run.base64));
  const bytes = run.chunks.length === 1 && run.chunks[0] ? run.chunks[0] : Buffer.concat(run.chunks);
  if (run.charset) return run.charset.decode(bytes);
  onUnknownCharset(run.label);
  return windows1252.decode(bytes);
}

/**
 * Decodes every RFC 2047 encoded word in an already-unfolded header value.
 *
 * Adjacent words (only whitespace between them, which RFC 2047 section 6.2 says to drop) with
 * the same charset are joined byte-wise before charset decoding, because Outlook, Apple Mail
 * and many webmailers split one multi-byte character across two words; base64 text of such a
 * run is concatenated before decoding since some encoders even cut inside a 4-character quantum.
 */
export function decodeEncodedWords(value: string, onUnknownCharset: (label: string) => void): string {
  if (!value.includes('=?')) return value;
  let out = '';
  let last = 0;
  let run: Run | null = null;
  for (const match of value.matchAll(ENCODED_WORD)) {
    const index = match.index ?? 0;
    const between = value.slice(last, index);
    const label = match[1] ?? '';
    const charset = resolveCharset(label);
    if (run !== null && (!ONLY_WHITESPACE.test(between) || !sameCharset(run, label, charset))) {
      out += decodeRun(run, onUnknownCharset);
      run = null;
    }
    if (run === null) {
      // Whitespace between two encoded words is dropped even when their charsets differ.
      out += last > 0 && ONLY_WHITESPACE.test(between) ? '' : between;
      run = { label, charset, base64: '', chunks: [] };
    }
    const text = match[3] ?? '';
    if (match[2] === 'B' || match[2] === 'b') {
      run.base64 += text;
    } else {
      if (run.base64.length > 0) {
        run.chunks.push(decodeLenientBase64(run.base64));
        run.base64 = '';
      }
      run.chunks.push(decodeQ(text));
    }
    last = index + match[0].length;
  }
  if (run !== null) out += decodeRun(run, onUnknownCharset);
  out += value.slice(last);
  return out;
}
