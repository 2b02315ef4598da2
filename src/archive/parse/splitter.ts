import type { Transform, TransformCallback } from 'node:stream';
import mailsplit from '@zone-eu/mailsplit';
import type { MimeNode, SplitterOptions } from '@zone-eu/mailsplit';

/**
 * mailsplit's Splitter with a fast path for the body of a leaf part.
 *
 * mailsplit finds lines one byte at a time in JavaScript and hands each line, as a Buffer view,
 * to its line handler: for a 5 MB base64 attachment that is 70,000 lines and most of the parse
 * (docs/benchmarks.md, "Third round"). Inside a leaf part's body only a delimiter line can
 * change anything, and a delimiter line starts with "--" (RFC 2046 5.1.1; mailsplit also accepts
 * one behind a stray CR). So while mailsplit is in a leaf body, this class finds the next line
 * that could be a delimiter with Buffer#indexOf and emits the whole lines before it as body
 * itself, and lets mailsplit's own loop handle only the last of those lines, the possible
 * delimiter line and a little after it (see #cut). The output is the same sequence of nodes,
 * framing and body bytes as mailsplit's (test/archive/splitter.test.ts compares them on random
 * messages cut into random chunks); only body bytes come in fewer, larger chunks.
 *
 * Written by hand because no maintained splitter streams with mailsplit's semantics, which the
 * rest of the parser (structure.ts, the part numbers of decision 0007) is built on; the fast
 * path relies on a few fields mailsplit keeps on the instance (`SplitterState`), checked when a
 * splitter is made: a mailsplit that changes them gets its plain line loop, and the test that
 * counts fast-path bytes fails.
 */

/** The parts of mailsplit 5.4's Splitter state the fast path reads or changes. */
interface SplitterState {
  /** HEAD (1) while reading a node's header block, BODY (2) after it. */
  state: number;
  node: MimeNode;
  hasFailed: boolean;
  /** The pending line is the rest of an overlong line already flushed as content. */
  pendingLineTruncated: boolean;
  nodeCounter: number;
  maxChildNodes: number;
  /** The incomplete last line of the previous write (and a held-back line ending). */
  lineChunks: Buffer[];
  lineLength: number;
  takePendingLine(): Buffer | false;
}

type SplitterBase = Transform & SplitterState;
const Base = mailsplit.Splitter as unknown as new (config?: SplitterOptions) => SplitterBase;

const HEAD = 1;
const BODY = 2;
const LF = 0x0a;
const CR = 0x0d;
const DASH = 0x2d;
/** The most handed to mailsplit's line loop at once, so that a large leaf soon gets the fast path. */
const SLOW_PIECE = 64 * 1024;
/** Lines after a possible delimiter that mailsplit handles too, so that many such lines close together cost few hand-overs. */
const SLOW_AFTER_CANDIDATE = 4 * 1024;

/** How the fast path takes a write apart: body up to `bodyEnd`, then mailsplit's loop up to `slowEnd`. */
interface Cut {
  bodyEnd: number;
  slowEnd: number;
}

/**
 * Could the line starting at `start` (in `pending` followed by `chunk`) be a delimiter line to
 * mailsplit? Its checkBoundary skips one leading CR, LF or CRLF and then needs "--"; anything
 * longer or shorter is decided there, this only says when a line surely is none.
 */
function mayDelimit(pending: Buffer, chunk: Buffer, start: number): boolean {
  const at = (i: number): number | undefined => (start + i < pending.length ? pending[start + i] : chunk[start + i - pending.length]);
  const first = at(0);
  let skip = 0;
  if (first === CR || first === LF) skip = first === CR && at(1) === LF ? 2 : 1;
  return at(skip) === DASH && at(skip + 1) === DASH;
}

/** Start of the first line at or after `from` (a line start) that may be a delimiter; -1 if none. */
function firstCandidate(chunk: Buffer, from: number): number {
  for (let hit = chunk.indexOf('--', from, 'latin1'); hit >= 0; hit = chunk.indexOf('--', hit + 1, 'latin1')) {
    if (hit === from || chunk[hit - 1] === LF) return hit;
    if (chunk[hit - 1] === CR && (hit - 1 === from || chunk[hit - 2] === LF)) return hit - 1;
  }
  return -1;
}

/**
 * The first place at or after `from` where mailsplit's input can be cut without changing what
 * it finds: after a line ending, with neither of the next two lines starting with a CR. At a
 * cut inside a body mailsplit keeps the line ending back and prefixes it to the next line, and
 * then the line after; a delimiter behind a stray CR ("\r--b", which it accepts) is not seen
 * on those two lines. The end of the write where there is no such place.
 */
function quietCut(chunk: Buffer, from: number): number {
  for (let lf = chunk.indexOf(LF, from); lf >= 0; lf = chunk.indexOf(LF, lf + 1)) {
    const cut = lf + 1;
    if (cut === chunk.length) return cut;
    if (chunk[cut] === CR) continue;
    const next = chunk.indexOf(LF, cut);
    if (next < 0 || next + 1 === chunk.length || chunk[next + 1] !== CR) return cut;
  }
  return chunk.length;
}

function hasSplitterState(splitter: SplitterBase): boolean {
  return (
    splitter.state === HEAD &&
    Array.isArray(splitter.lineChunks) &&
    typeof splitter.lineLength === 'number' &&
    typeof splitter.takePendingLine === 'function' &&
    typeof splitter.pendingLineTruncated === 'boolean' &&
    typeof splitter.nodeCounter === 'number' &&
    typeof splitter.maxChildNodes === 'number'
  );
}

export class Splitter extends Base {
  /** Body bytes emitted by the fast path (tests check it is taken). */
  fastBytes = 0;
  readonly #fast: boolean;

  constructor(config: SplitterOptions) {
    super(config);
    this.#fast = hasSplitterState(this);
  }

  override _transform(chunk: Buffer, encoding: BufferEncoding, callback: TransformCallback): void {
    this.#write(chunk, encoding, callback);
  }

  #write(chunk: Buffer, encoding: BufferEncoding, callback: TransformCallback): void {
    let rest = chunk;
    while (rest.length > 0) {
      const cut = this.#fast ? this.#cut(rest) : null;
      let slowEnd: number;
      if (cut !== null) {
        this.#emitBody(rest.subarray(0, cut.bodyEnd));
        slowEnd = cut.slowEnd - cut.bodyEnd;
        rest = rest.subarray(cut.bodyEnd);
      } else {
        slowEnd = rest.length > SLOW_PIECE ? quietCut(rest, SLOW_PIECE) : rest.length;
      }
      const piece = rest.subarray(0, slowEnd);
      const after = rest.subarray(slowEnd);
      super._transform(piece, encoding, (err?: Error | null) => {
        if (err) callback(err);
        else this.#write(after, encoding, callback);
      });
      return;
    }
    callback();
  }

  /** The pending line and `body` as body content of the current leaf. */
  #emitBody(body: Buffer): void {
    const pending = this.takePendingLine();
    if (pending) this.push({ node: this.node, type: 'body', value: pending });
    if (body.length > 0) this.push({ node: this.node, type: 'body', value: body });
    this.fastBytes += (pending ? pending.length : 0) + body.length;
  }

  /**
   * The whole lines at the start of this write (the first one completing the pending line)
   * that mailsplit would emit as body of the current leaf, up to the last line with content
   * before the first line that may be a delimiter (or before the end of the write). mailsplit's
   * own loop gets that line together with what follows, so that it sees the line ending in
   * front of a delimiter line as it would in one write: it keeps that line ending back from the
   * body for the delimiter (RFC 2046 5.1.1) only then. Cut right after that line ending instead,
   * it does not recognise a delimiter behind a stray CR; cut so that its first line is an empty
   * one, it reports that line ending as body. Null when the fast path does not apply here.
   */
  #cut(chunk: Buffer): Cut | null {
    if (this.hasFailed || this.state !== BODY || this.node.multipart || this.pendingLineTruncated) return null;
    // mailsplit reports an exceeded part limit on the line after; let it.
    if (this.nodeCounter > this.maxChildNodes) return null;
    const firstLf = chunk.indexOf(LF);
    if (firstLf < 0) return null;
    const pending = this.lineLength > 0 ? Buffer.concat(this.lineChunks, this.lineLength) : Buffer.alloc(0);
    if (mayDelimit(pending, chunk, 0)) return null;
    const candidate = firstCandidate(chunk, firstLf + 1);
    const lastLf = candidate >= 0 ? candidate - 1 : chunk.lastIndexOf(LF);
    // Back over empty lines to the last line with content; nothing to emit if that is the first line.
    let end = lastLf;
    let bodyEnd = 0;
    while (bodyEnd === 0) {
      if (end === firstLf) return null;
      const start = chunk.lastIndexOf(LF, end - 1) + 1;
      if (end - start > 1 || (end - start === 1 && chunk[start] !== CR)) bodyEnd = start;
      else end = start - 1;
    }
    const slowEnd = candidate >= 0 ? quietCut(chunk, Math.max(candidate, lastLf + SLOW_AFTER_CANDIDATE)) : chunk.length;
    return { bodyEnd, slowEnd };
  }
}
