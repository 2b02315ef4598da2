/**
 * Modified UTF-7 for IMAP mailbox names (RFC 3501 §5.1.3; kept by RFC 9051 for servers that are
 * not in UTF8=ACCEPT mode).
 *
 * Printable US-ASCII other than "&" stands for itself, "&" is written "&-", and every other run
 * of characters is "&" + base64 of its UTF-16BE code units (with "," instead of "/", no padding)
 * + "-". Mailbox names on the wire are therefore pure ASCII, which is why a raw name can always
 * be told from a decoded one that contains non-ASCII text.
 */

const PRINTABLE = /^[\x20-\x25\x27-\x7e]$/; // printable ASCII minus "&"

/** Decodes a raw mailbox name; returns null when it is not valid modified UTF-7. */
export function decodeModifiedUtf7(raw: string): string | null {
  let out = '';
  let i = 0;
  while (i < raw.length) {
    const ch = raw[i]!;
    if (ch !== '&') {
      out += ch;
      i++;
      continue;
    }
    const end = raw.indexOf('-', i + 1);
    if (end < 0) return null;
    if (end === i + 1) {
      out += '&';
      i = end + 1;
      continue;
    }
    const b64 = raw.slice(i + 1, end);
    if (!/^[A-Za-z0-9+,]+$/.test(b64)) return null;
    const bytes = Buffer.from(b64.replace(/,/g, '/'), 'base64');
    // A shift sequence holds whole UTF-16 code units; an odd byte count is not modified UTF-7.
    if (bytes.length === 0 || bytes.length % 2 !== 0) return null;
    let units = '';
    for (let j = 0; j < bytes.length; j += 2) units += String.fromCharCode(bytes.readUInt16BE(j));
    out += units;
    i = end + 1;
  }
  return out;
}

/** Encodes a Unicode mailbox name as modified UTF-7 (the inverse of decodeModifiedUtf7). */
export function encodeModifiedUtf7(name: string): string {
  let out = '';
  let pending = '';
  const flush = (): void => {
    if (pending === '') return;
    const bytes = Buffer.alloc(pending.length * 2);
    for (let j = 0; j < pending.length; j++) bytes.writeUInt16BE(pending.charCodeAt(j), j * 2);
    out += '&' + bytes.toString('base64').replace(/=+$/, '').replace(/\//g, ',') + '-';
    pending = '';
  };
  for (let i = 0; i < name.length; i++) {
    const ch = name[i]!;
    if (ch === '&') {
      flush();
      out += '&-';
    } else if (PRINTABLE.test(ch)) {
      flush();
      out += ch;
    } else {
      pending += ch; // UTF-16 code unit; surrogate pairs stay together in one run
    }
  }
  flush();
  return out;
}
