import { Transform, type TransformCallback } from 'node:stream';

/** Anything but base64 letters and line breaks: padding, blanks, stray bytes. */
const NOT_PLAIN = /[^A-Za-z0-9+/\r\n]/;

/** How many CR and LF characters `text` has (indexOf runs natively; a line is ~78 characters). */
export function countLineBreaks(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++;
  for (let i = text.indexOf('\r'); i !== -1; i = text.indexOf('\r', i + 1)) n++;
  return n;
}

/**
 * Letters and line breaks only, as mailers write base64 bodies (RFC 2045 §6.8): then the number
 * of base64 characters is the length less the line breaks. Null for anything else.
 */
export function plainBase64Length(text: string): number | null {
  return NOT_PLAIN.test(text) ? null : text.length - countLineBreaks(text);
}

/**
 * Base64 transfer decoding of a part's body with exactly the output of mailsplit's decoder
 * (libbase64), at native speed for the input nearly every mailer writes. libbase64 turns each
 * chunk into a string, strips it with a regular expression and decodes it; for a chunk of
 * letters and line breaks alone, Node's decoder (which skips line breaks) does the same in one
 * call, up to the last whole group of four letters, the rest carried to the next chunk. The
 * large attachments of a mailbox are almost all such chunks (docs/benchmarks.md). From the
 * first chunk with anything else (padding, blanks, stray bytes) the part goes on through
 * libbase64's decoder (`slowDecoder`), which gets the carried letters first, so odd input
 * decodes exactly as before.
 */
export class Base64Decoder extends Transform {
  readonly #slowDecoder: () => Transform;
  /** Letters (fewer than four) not decoded yet. */
  #carry = '';
  #slow: Transform | null = null;
  #slowDone: ((err?: Error | null) => void) | null = null;

  constructor(slowDecoder: () => Transform) {
    super();
    this.#slowDecoder = slowDecoder;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    if (this.#slow === null) {
      const text = chunk.toString('latin1');
      const letters = plainBase64Length(text);
      if (letters !== null) {
        this.#decodePlain(text, letters);
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
      if (this.#carry !== '') this.push(Buffer.from(this.#carry, 'base64'));
      done();
      return;
    }
    this.#slowDone = done;
    this.#slow.end();
  }

  #decodePlain(text: string, letters: number): void {
    let keep = (this.#carry.length + letters) % 4;
    if (this.#carry.length + letters < 4) {
      // Too little for a whole group: everything waits for the next chunk.
      this.#carry += text.replace(/[\r\n]/g, '');
      return;
    }
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
    const head = this.#carry + text.slice(0, cut);
    this.#carry = tail;
    this.push(Buffer.from(head, 'base64'));
  }

  #startSlow(): void {
    const slow = this.#slowDecoder();
    slow.on('data', (data: Buffer) => this.push(data));
    slow.once('error', (err: Error) => (this.#slowDone ? this.#slowDone(err) : this.destroy(err)));
    slow.once('end', () => this.#slowDone?.());
    // Fewer than four letters: libbase64 keeps them for its next chunk, as we did.
    if (this.#carry !== '') slow.write(Buffer.from(this.#carry, 'latin1'));
    this.#carry = '';
    this.#slow = slow;
  }
}
