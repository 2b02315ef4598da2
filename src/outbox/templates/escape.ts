/**
 * The few helpers every template needs: HTML escaping, one-line header text, absolute links.
 * Variables are escaped exactly once, where they are put into HTML; the text part takes them as
 * they are (a title "A & B <C>" reads "A & B <C>" in text and "A &amp; B &lt;C&gt;" in HTML).
 */

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text → HTML text or attribute value. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}

/** Subjects are one header line: line breaks and other control characters become spaces. */
export function oneLine(text: string): string {
  return text
    .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

/** Text for a plain-text body: control characters other than line breaks and tabs removed. */
export function plain(text: string): string {
  return text.replace(/\r\n?/g, '\n').replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/gu, '');
}

/**
 * An absolute link below the public URL: `absoluteUrl('https://m.example/app', '/documents/x')`
 * → `https://m.example/app/documents/x`. Query values are percent-encoded.
 */
export function absoluteUrl(publicUrl: string, path: string, query: Record<string, string> = {}): string {
  const base = publicUrl.replace(/\/+$/, '');
  const p = path.startsWith('/') ? path : `/${path}`;
  const qs = Object.entries(query)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .join('&');
  return `${base}${p}${qs === '' ? '' : `?${qs}`}`;
}

/** Cuts text to `max` characters (whole code points) with an ellipsis. */
export function shorten(text: string, max: number): string {
  const chars = [...text];
  return chars.length <= max ? text : `${chars.slice(0, Math.max(max - 1, 0)).join('').trimEnd()}…`;
}
