import type { FastifyReply } from 'fastify';

/**
 * `Content-Disposition: attachment` with the file name twice (RFC 6266 §4.3): an ASCII
 * fallback in `filename` for old clients, and the exact UTF-8 name in `filename*` (RFC 8187,
 * formerly RFC 5987), which every current browser prefers.
 */
export function contentDisposition(filename: string, fallbackName: string): string {
  const name = filename.replace(/[\u0000-\u001f\u007f]/g, '').trim() || fallbackName;
  const ascii = asciiFallback(name) || fallbackName;
  const header = `attachment; filename="${ascii}"`;
  return ascii === name ? header : `${header}; filename*=UTF-8''${encodeRfc8187(name)}`;
}

/** Diacritics dropped ("Grüße" -> "Grusse"), anything else non-ASCII or unsafe in a quoted string -> "_". */
export function asciiFallback(name: string): string {
  return name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/ß/g, 'ss')
    .replace(/[^\x20-\x7e]|["\\%]/g, '_')
    .trim();
}

/** attr-char of RFC 8187: ALPHA DIGIT and !#$&+-.^_`|~ stay, every other UTF-8 byte is %XX. */
export function encodeRfc8187(value: string): string {
  return encodeURIComponent(value).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

const MEDIA_TYPE = /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/i;

/** The stored content type if it is a plain `type/subtype`, else application/octet-stream. */
export function safeContentType(contentType: string): string {
  const base = contentType.split(';')[0]!.trim().toLowerCase();
  return MEDIA_TYPE.test(base) ? base : 'application/octet-stream';
}

/**
 * Headers for handing out archived bytes: always a download, never rendered by the browser on
 * our origin (an attached HTML file must not run script with the user's session).
 */
export function downloadHeaders(reply: FastifyReply, opts: { contentType: string; size: number; disposition: string }): FastifyReply {
  return reply
    .header('content-type', opts.contentType)
    .header('content-length', String(opts.size))
    .header('content-disposition', opts.disposition)
    .header('x-content-type-options', 'nosniff')
    .header('content-security-policy', "default-src 'none'; sandbox")
    .header('cache-control', 'private, no-store');
}
