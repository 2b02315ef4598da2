/** RFC 2047 B-encoding for a header value with non-ASCII text; ASCII stays as it is. */
export function encodeWord(text: string): string {
  return /^[\x20-\x7e]*$/.test(text) ? text : `=?UTF-8?B?${Buffer.from(text, 'utf8').toString('base64')}?=`;
}
