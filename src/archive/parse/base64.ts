import { Transform, type TransformCallback } from 'node:stream';

/** Anything but base64 letters and line breaks: padding, blanks, stray bytes. */
const NOT_PLAIN = /[^A-Za-z0-9+/\r\n]/;
/** What may follow the letters at the end of a body: the padding and line breaks. */
const FINAL_PADDING = /^=+[\r\n]*$/;

/** How many CR and LF characters `text` has (indexOf runs natively; a line is ~78 characters). */
export function countLineBreaks(text: string, end = text.length): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < end; i = text.indexOf('\n', i + 1)) n++;
  for (let i = text.indexOf('\r'); i !== -1 && i < end; i = text.indexOf('\r', i + 1)) n++;
  return n;
}

/**
 * A chunk as mailers write base64 bodies (RFC 2045 §6.8): letters and line breaks, maybe ended
 * by the padding. `letters` counts the letters before `end` (where the padding starts, else the
 * length), `padding` the '=' after it. Null for anything else (blanks, stray bytes, padding
 * followed by more letters).
 */
export interface PlainBase64 {
  letters: number;
  end: number;
  padding: number;
}

export function scanPlainBase64(text: string): PlainBase64 | null {
  return provePlainBase64(text) ?? scanPlainBase64ByRegex(text);
}

/** The exact scan: one regular expression over the text (~2 GB/s), then the padding's. */
export function scanPlainBase64ByRegex(text: string): PlainBase64 | null {
  const odd = text.search(NOT_PLAIN);
  if (odd === -1) return { letters: text.length - countLineBreaks(text), end: text.length, padding: 0 };
  const rest = text.slice(odd);
  if (!FINAL_PADDING.test(rest)) return null;
  return { letters: odd - countLineBreaks(text, odd), end: odd, padding: rest.length - countLineBreaks(rest) };
}

/** Where provePlainBase64 lets Node decode, reused (parsing is single-threaded per isolate). */
let proofScratch = Buffer.alloc(0);

/**
 * scanPlainBase64 without the regular expression, for the chunks mailers write (lines of one
 * length): null when it cannot prove the chunk plain, and then the regex decides. The proof is
 * Node's own decoder, which skips every character that is not a base64 letter (all 256 are
 * tried in test/archive/base64.test.ts) and stops at '=': if the chunk's characters other than
 * the line breaks counted here decode to exactly the bytes that many letters hold, none was
 * skipped. Only '-' and '_' (base64url, RFC 4648 §5) decode as letters, so they are looked for
 * apart. Counting letters L, a skipped character costs a byte unless L % 4 is 1 (the lone last
 * letter decodes to nothing either way), so then the last letter is left out of the decode and
 * checked on its own. Native searches and decoding: 6-7× faster than the regex on a 1 MiB
 * chunk (`npm run bench:parse`; docs/benchmarks.md, "Seventh round").
 */
export function provePlainBase64(text: string): PlainBase64 | null {
  const pad = text.indexOf('=');
  const end = pad === -1 ? text.length : pad;
  let padding = 0;
  if (pad !== -1) {
    const rest = text.slice(pad);
    if (!FINAL_PADDING.test(rest)) return null;
    padding = rest.length - countLineBreaks(rest);
  }
  const dash = text.indexOf('-');
  const underscore = text.indexOf('_');
  if ((dash !== -1 && dash < end) || (underscore !== -1 && underscore < end)) return null;
  const letters = end - lineBreaksAtLineEnds(text, end);
  let decoded = end;
  let checked = letters;
  if (letters % 4 === 1) {
    do decoded--;
    while (isLineBreak(text.charCodeAt(decoded)));
    if (!isLetter(text.charCodeAt(decoded))) return null;
    checked--;
  }
  const expected = Math.floor((checked * 3) / 4);
  if (proofScratch.length < expected) proofScratch = Buffer.allocUnsafeSlow(Math.max(expected, 64 * 1024));
  const written = proofScratch.write(decoded === text.length ? text : text.slice(0, decoded), 0, 'base64');
  return written === expected ? { letters, end, padding } : null;
}

/**
 * The CR and LF characters before `end` that sit where lines of the chunk's first line length
 * end, plus those ending the chunk: the count of all its line breaks for text as mailers write
 * it. A break anywhere else is left uncounted (provePlainBase64 then sees a skipped character).
 */
function lineBreaksAtLineEnds(text: string, end: number): number {
  const first = text.indexOf('\n');
  if (first === -1 || first >= end) return trailingLineBreaks(text, end, -1);
  const second = text.indexOf('\n', first + 1);
  const period = second === -1 || second >= end ? end : second - first;
  const crlf = first > 0 ? text.charCodeAt(first - 1) === 0x0d : second !== -1 && text.charCodeAt(second - 1) === 0x0d;
  let count = 0;
  let last = -1;
  for (let at = first; at < end; at += period) {
    if (text.charCodeAt(at) !== 0x0a) break;
    if (crlf && at > 0) {
      if (text.charCodeAt(at - 1) !== 0x0d) break;
      count++;
    }
    count++;
    last = at;
  }
  return count + trailingLineBreaks(text, end, last);
}

/** Line breaks right before `end`, after position `after` (a chunk may end inside a CRLF). */
function trailingLineBreaks(text: string, end: number, after: number): number {
  let n = 0;
  for (let i = end - 1; i > after && isLineBreak(text.charCodeAt(i)); i--) n++;
  return n;
}

function isLineBreak(c: number): boolean {
  return c === 0x0a || c === 0x0d;
}

function isLetter(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2f;
}

/** A body chunk as text (latin1: one character per byte) and what scanPlainBase64 found in it. */
export interface ScannedChunk {
  text: string;
  plain: PlainBase64 | null;
}

/*
 * The structure check (structure.ts) and the decoder below see the very same Buffer of a base64
 * body one after the other (split.ts hands `chunk.value` to both): it is turned into text and
 * scanned once. The regular expression scan was the largest single cost of parsing a large
 * attachment (docs/benchmarks.md, "Third round"). Weak keys: an entry goes with its chunk.
 */
const scanned = new WeakMap<Buffer, ScannedChunk>();

export function scanChunk(chunk: Buffer): ScannedChunk {
  let scan = scanned.get(chunk);
  if (scan === undefined) {
    const text = chunk.toString('latin1');
    scan = { text, plain: scanPlainBase64(text) };
    scanned.set(chunk, scan);
  }
  return scan;
}

/**
 * Base64 transfer decoding of a part's body with exactly the output of mailsplit's decoder
 * (libbase64), at native speed for the input nearly every mailer writes. libbase64 turns each
 * chunk into a string, strips it with a regular expression and decodes it; for a chunk of
 * letters and line breaks (and the final padding), Node's decoder, which skips line breaks, does
 * the same in one call up to the last whole group of four letters, the rest carried to the next
 * chunk. The large attachments of a mailbox are almost all such chunks (docs/benchmarks.md).
 * From the first chunk with anything else (blanks, stray bytes, padding inside) the part goes on
 * through libbase64's decoder (`slowDecoder`), which gets the carried letters first, so odd
 * input decodes exactly as before.
 */
export class Base64Decoder extends Transform {
  readonly #slowDecoder: () => Transform;
  /** Letters (fewer than four) not decoded yet. */
  #carry = '';
  #slow: Transform | null = null;
  #slowDone: ((err?: Error | null) => void) | null = null;
  /** Set by digestInto(): where decoded bytes go instead of the stream. */
  #consume: ((bytes: Uint8Array) => void) | null = null;
  /** What #consume is handed views of, reused from chunk to chunk. */
  #scratch: Buffer | null = null;

  constructor(slowDecoder: () => Transform) {
    super();
    this.#slowDecoder = slowDecoder;
  }

  /**
   * Hands the decoded bytes to `consume` as they are decoded, instead of pushing them: for a
   * reader that only digests them (an attachment's SHA-256), with no buffer allocated per
   * chunk. `consume` gets views of one reused buffer, valid only during the call. The stream
   * then carries no data and ends with the part as before. Call it before the first write.
   */
  digestInto(consume: (bytes: Uint8Array) => void): void {
    this.#consume = consume;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    if (this.#slow === null) {
      const { text, plain } = scanChunk(chunk);
      if (plain !== null) {
        if (plain.padding === 0) this.#decodeLetters(text, plain.letters);
        else this.#decodePadded(text, plain);
        done();
        return;
      }
      this.#startSlow();
    }
    this.#slow!.write(chunk, (err) => done(err));
  }

  override _flush(done: TransformCallback): void {
    if (this.#slow === null) {
      // What libbase64 does with its last 1-3 letters: Node decodes what they hold.
      if (this.#carry !== '') this.#emit(this.#carry);
      done();
      return;
    }
    this.#slowDone = done;
    this.#slow.end();
  }

  /**
   * Completes the carried group with the chunk's first letters and returns where the rest of
   * the chunk starts. The rest is decoded from a slice of the scanned text: V8 slices without
   * copying, where a second `toString` would put another string of the chunk's size on the
   * heap (the worker's young generation fills with them, docs/benchmarks.md "Sixth round").
   */
  #completeCarry(text: string): number {
    let start = 0;
    let group = this.#carry;
    while (group.length < 4) {
      const c = text.charCodeAt(start);
      if (c !== 0x0a && c !== 0x0d) group += text[start];
      start++;
    }
    this.#carry = '';
    this.#emit(group);
    return start;
  }

  #decodeLetters(text: string, letters: number): void {
    if (this.#carry.length + letters < 4) {
      // Too little for a whole group: everything waits for the next chunk.
      this.#carry += text.replace(/[\r\n]/g, '');
      return;
    }
    let keep = (this.#carry.length + letters) % 4;
    const start = this.#carry === '' ? 0 : this.#completeCarry(text);
    // The last `keep` letters of the chunk (line breaks between them skipped) are carried.
    let cut = text.length;
    let tail = '';
    while (keep > 0) {
      cut--;
      const c = text.charCodeAt(cut);
      if (c !== 0x0a && c !== 0x0d) {
        tail = text[cut] + tail;
        keep--;
      }
    }
    this.#carry = tail;
    if (cut > start) this.#emit(start === 0 && cut === text.length ? text : text.slice(start, cut));
  }

  /**
   * A chunk that ends the body with its padding: libbase64 decodes everything it holds in one
   * go and carries nothing, and so does this.
   */
  #decodePadded(text: string, plain: PlainBase64): void {
    if (this.#carry.length + plain.letters + plain.padding < 4) {
      // A padded group that cannot be whole: exactly as libbase64 decodes such a remainder.
      const all = this.#carry + text.replace(/[\r\n]/g, '');
      this.#carry = '';
      this.#emit(all);
      return;
    }
    const start = this.#carry === '' ? 0 : this.#completeCarry(text);
    if (start < text.length) this.#emit(start === 0 ? text : text.slice(start));
  }

  /**
   * Decodes `letters` (base64 letters; Node's decoder skips the line breaks among them) and
   * passes the bytes on: pushed, or handed to the digest (digestInto).
   */
  #emit(letters: string): void {
    if (this.#consume === null) {
      const bytes = Buffer.from(letters, 'base64');
      if (bytes.length > 0) this.push(bytes);
      return;
    }
    // Node's decoder writes what the letters hold, at most three bytes per four of them.
    const most = Math.ceil((letters.length * 3) / 4);
    if (this.#scratch === null || this.#scratch.length < most) this.#scratch = Buffer.allocUnsafeSlow(Math.max(most, 64 * 1024));
    const written = this.#scratch.write(letters, 0, 'base64');
    if (written > 0) this.#consume(this.#scratch.subarray(0, written));
  }

  #startSlow(): void {
    const slow = this.#slowDecoder();
    slow.on('data', (data: Buffer) => (this.#consume ? this.#consume(data) : this.push(data)));
    slow.once('error', (err: Error) => (this.#slowDone ? this.#slowDone(err) : this.destroy(err)));
    slow.once('end', () => this.#slowDone?.());
    // Fewer than four letters: libbase64 keeps them for its next chunk, as we did.
    if (this.#carry !== '') slow.write(Buffer.from(this.#carry, 'latin1'));
    this.#carry = '';
    this.#slow = slow;
  }
}
