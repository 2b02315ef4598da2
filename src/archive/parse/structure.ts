import { scanChunk } from './base64.ts';
import { resolveCharset, windows1252, type Charset } from './charset.ts';
import { firstRawHeader, stripControls, type HeaderLine } from './header-text.ts';
import type { SplitChunk, SplitData, SplitNode } from './split.ts';
import { parseStructured } from './params.ts';
import { quote, type Warnings } from './warnings.ts';

/** What we know about one leaf part, from its raw headers. */
export interface PartInfo {
  /** IMAP-style part number ('1.2'); '1' for the body of a single-part message (RFC 3501 6.4.5). */
  path: string;
  isRoot: boolean;
  contentType: string;
  charset: string | null;
  disposition: string;
  filename: string;
  /** Identifies the nearest enclosing multipart/alternative (0: none), see index.ts bodyText. */
  alternative: number;
  /** text/plain; format=flowed (RFC 3676), and whether DelSp=yes. */
  flowed: boolean;
  delSp: boolean;
}

interface Base64Check {
  path: string;
  invalid: number;
  significant: number;
}

interface MultipartInfo {
  boundary: string;
  path: string;
}

/**
 * Body charsets that say nothing about raw header bytes: Unicode ones (raw UTF-8 headers are
 * recognised as such), and Latin-1 relatives, for which windows-1252 is the better reading.
 */
const NO_HEADER_HINT = new Set(['utf8', 'unlabelled', 'utf7', 'utf16', 'utf16le', 'utf16be', 'windows1252', 'iso885915', 'iso885914', 'macroman']);

/** Deeper multipart nesting than this is reported; mailsplit's part limit bounds the work. */
const MULTIPART_DEPTH_WARNING = 64;
/** Content of a multipart without boundary is kept as text up to this many bytes. */
const MAX_ORPHAN_BYTES = 1024 * 1024;

/** 0 = invalid, 1 = base64 alphabet, 2 = padding, 3 = whitespace (RFC 2045 6.8). */
const BASE64_CLASS = (() => {
  const table = new Uint8Array(256);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  for (let i = 0; i < alphabet.length; i++) table[alphabet.charCodeAt(i)] = 1;
  table[0x3d] = 2;
  for (const ws of [0x20, 0x09, 0x0d, 0x0a]) table[ws] = 3;
  return table;
})();

/** IMAP part number (RFC 3501 6.4.5) of a node inside a multipart; '' for the message itself. */
function partKey(node: SplitNode): string {
  // mailsplit adds 'TEXT' markers for message bodies; they are not part of the number.
  if (!node._parentBoundary || !node.partNr) return '';
  return node.partNr.filter((nr): nr is number => typeof nr === 'number').join('.');
}

/**
 * Follows mailsplit's chunks of one message: records each leaf part's raw headers (so that
 * names and charsets are decoded by our rules, not re-read as UTF-8), checks base64 bodies and
 * multipart delimiters, and keeps the root header lines for the index fields.
 */
export class StructureTracker {
  rootHeaderLines: readonly HeaderLine[] = [];
  /**
   * Declared non-Western charset of the first text part: the best guess for undeclared 8-bit
   * headers (a KOI8-R or Shift_JIS body usually comes with raw headers in the same charset).
   */
  headerCharsetHint: Charset | null = null;
  /** Text of multiparts that had no boundary parameter (their content would be lost otherwise). */
  readonly orphanText: Buffer[] = [];
  /** False for a message that ends with its header (or is empty). */
  hasBody = false;

  readonly #warnings: Warnings;
  readonly #pathPrefix: string;
  readonly #base64 = new Map<SplitNode, Base64Check>();
  readonly #multiparts: MultipartInfo[] = [];
  readonly #closed = new Set<string>();
  readonly #orphans = new Set<SplitNode>();
  readonly #alternatives = new Map<SplitNode, number>();
  #orphanBytes = 0;
  #deepWarned = false;

  /** `pathPrefix` makes part paths absolute for attached messages ('2.' inside part 2). */
  constructor(warnings: Warnings, pathPrefix: string) {
    this.#warnings = warnings;
    this.#pathPrefix = pathPrefix;
  }

  /** Records a chunk; returns the info of the leaf part a node chunk starts (null for anything else). */
  observe(chunk: SplitChunk): PartInfo | null {
    if (chunk.type === 'node') return this.#onNode(chunk);
    this.#onContent(chunk);
    return null;
  }

  /** Warnings that can only be given once the whole message has been seen. */
  finish(): void {
    for (const check of this.#base64.values()) {
      if (check.invalid > 0) {
        this.#warnings.add(`part ${check.path}: invalid base64 (${check.invalid} characters outside the base64 alphabet were skipped)`);
      } else if (check.significant % 4 !== 0) {
        this.#warnings.add(`part ${check.path}: invalid base64 (length is not a multiple of 4; content truncated?)`);
      }
    }
    for (const multipart of this.#multiparts) {
      if (!this.#closed.has(multipart.boundary)) this.#warnings.add(`multipart boundary ${quote(multipart.boundary)} was never closed`);
    }
  }

  #onNode(node: SplitNode): PartInfo | null {
    const lines = node.headers ? node.headers.getList() : [];
    const key = partKey(node);
    const path = this.#pathPrefix + (key === '' ? '1' : key);
    if (node.root) this.rootHeaderLines = lines;
    else this.hasBody = true;
    const depth = node.partNr ? node.partNr.length : 0;
    if (depth > MULTIPART_DEPTH_WARNING && !this.#deepWarned) {
      this.#deepWarned = true;
      this.#warnings.add(`multipart nesting deeper than ${MULTIPART_DEPTH_WARNING} levels`);
    }
    if (node.multipart) {
      if (node._boundary) {
        this.#multiparts.push({ boundary: node._boundary.toString('latin1'), path });
      } else {
        this.#orphans.add(node);
        this.#warnings.add(`part ${path}: multipart/${node.multipart} without a boundary parameter; content kept as plain text`);
      }
      return null;
    }

    const onUnknown = (label: string): void => this.#warnings.add(`unknown charset ${quote(label)} in the file name of part ${path}; decoded as windows-1252`);
    const typeHeader = firstRawHeader(lines, 'content-type');
    let contentType = typeHeader === null ? null : parseStructured(typeHeader, windows1252, onUnknown);
    const charsetLabel = contentType?.params.get('charset')?.trim() || null;
    // Raw 8-bit file names are most likely in the part's own charset when it declares one.
    const declared = charsetLabel === null ? null : resolveCharset(charsetLabel);
    const nameCharset = declared && declared.name !== 'utf8' && declared.name !== 'unlabelled' ? declared : windows1252;
    if (typeHeader !== null && nameCharset !== windows1252 && /[\x80-\xff]/.test(typeHeader)) {
      contentType = parseStructured(typeHeader, nameCharset, onUnknown);
    }
    const dispositionHeader = firstRawHeader(lines, 'content-disposition');
    const disposition = dispositionHeader === null ? null : parseStructured(dispositionHeader, nameCharset, onUnknown);
    const filename = stripControls(disposition?.params.get('filename') ?? contentType?.params.get('name') ?? '').trim();

    let type = (node.contentType || 'text/plain').toLowerCase();
    // "Content-Type: text" (no subtype) from old mailers means text/plain.
    if (type === 'text') type = 'text/plain';
    const info: PartInfo = {
      path,
      isRoot: node.root,
      contentType: type,
      charset: charsetLabel,
      disposition: disposition?.value ?? '',
      filename,
      alternative: this.#alternativeOf(node),
      flowed: type === 'text/plain' && contentType?.params.get('format')?.trim().toLowerCase() === 'flowed',
      delSp: contentType?.params.get('delsp')?.trim().toLowerCase() === 'yes',
    };
    if (this.headerCharsetHint === null && declared !== null && type.startsWith('text/') && !NO_HEADER_HINT.has(declared.name)) {
      this.headerCharsetHint = declared;
    }
    if (node.encoding === 'base64') this.#base64.set(node, { path, invalid: 0, significant: 0 });
    // "multipart/" without a subtype is no multipart to mailsplit, which still splits it at
    // its boundary parameter; its own body is at most a preamble (RFC 2046 5.1.1), not content.
    return type.startsWith('multipart/') ? null : info;
  }

  #alternativeOf(node: SplitNode): number {
    for (let parent = node.parentNode; parent; parent = parent.parentNode) {
      if (parent.multipart !== 'alternative') continue;
      let id = this.#alternatives.get(parent);
      if (id === undefined) {
        id = this.#alternatives.size + 1;
        this.#alternatives.set(parent, id);
      }
      return id;
    }
    return 0;
  }

  #onContent(chunk: SplitData): void {
    const value = chunk.value;
    if (!value || value.length === 0) return;
    this.hasBody = true;
    if (chunk.type === 'body') {
      const check = this.#base64.get(chunk.node);
      if (check) this.#checkBase64(check, value);
      return;
    }
    if (this.#orphans.has(chunk.node) && this.#orphanBytes < MAX_ORPHAN_BYTES) {
      const room = MAX_ORPHAN_BYTES - this.#orphanBytes;
      const kept = value.length > room ? value.subarray(0, room) : value;
      this.orphanText.push(Buffer.from(kept));
      this.#orphanBytes += kept.length;
    }
    if (this.#multiparts.length > 0 && value.includes('--')) this.#scanDelimiters(value);
  }

  #checkBase64(check: Base64Check, value: Buffer): void {
    // Most chunks are letters and line breaks (and the final padding): counted without a loop
    // over every byte.
    const { plain } = scanChunk(value);
    if (plain !== null) {
      check.significant += plain.letters + plain.padding;
      return;
    }
    let invalid = 0;
    let significant = 0;
    for (let i = 0; i < value.length; i++) {
      const cls = BASE64_CLASS[value[i] ?? 0];
      if (cls === 0) invalid++;
      else if (cls !== 3) significant++;
    }
    check.invalid += invalid;
    check.significant += significant;
  }

  /** Finds closing delimiters ("--boundary--", RFC 2046 5.1.1) among multipart framing lines. */
  #scanDelimiters(value: Buffer): void {
    const text = value.toString('latin1');
    for (const line of text.split('\n')) {
      // trimEnd, not /\s+$/: that regex is quadratic on long inner whitespace runs.
      const trimmed = line.trimEnd();
      if (trimmed.length >= 4 && trimmed.startsWith('--') && trimmed.endsWith('--')) {
        this.#closed.add(trimmed.slice(2, -2));
      }
    }
  }
}
