/**
 * The splitter of src/archive/parse/splitter.ts (mailsplit with a fast path for leaf bodies)
 * emits what mailsplit's own Splitter emits: the same nodes with the same headers, and the same
 * framing and body bytes per node, for random messages built to tempt the fast path (lines
 * that start like delimiters, delimiters behind a stray CR, with trailing blanks, of ancestors,
 * never closed; CRLF, LF and mixed line endings; overlong lines; base64 and text bodies) and
 * for the MIME fixtures, however the input is cut into chunks. Only body bytes may come in
 * other chunks, so consecutive chunks of one kind and node are compared joined. The node that
 * framing ('data') is reported on is not compared: mailsplit itself reports epilogue lines
 * after an ancestor's closing delimiter on one node or another depending on where its input
 * was cut (seen in 4 of 200 random cuts of one generated message), and the fast path cuts
 * mailsplit's input elsewhere; structure.ts reads framing only for its text and delimiters.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Transform } from 'node:stream';
import { describe, test } from 'node:test';
import mailsplit from '@zone-eu/mailsplit';
import type { SplitterChunk, SplitterOptions } from '@zone-eu/mailsplit';
import { Splitter } from '../../src/archive/parse/splitter.ts';

let seed = 7_2026_11_29;
function random(): number {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648;
}
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
const int = (n: number): number => Math.floor(random() * n);

type Entry = { kind: 'node'; id: number; parent: number; headers: string; multipart: string | false } | { kind: 'body' | 'data'; id: number; value: string };

interface Outcome {
  entries: Entry[];
  error: string | null;
}

async function split(splitter: Transform, chunks: Buffer[]): Promise<Outcome> {
  const ids = new Map<object, number>();
  const idOf = (node: object | false): number => {
    if (node === false) return -1;
    let id = ids.get(node);
    if (id === undefined) {
      id = ids.size;
      ids.set(node, id);
    }
    return id;
  };
  const entries: Entry[] = [];
  splitter.on('data', (chunk: SplitterChunk) => {
    if (chunk.type === 'node') {
      const headers = chunk.headers ? chunk.headers.getList().map((h) => h.line).join('\n') : '';
      entries.push({ kind: 'node', id: idOf(chunk), parent: idOf(chunk.parentNode), headers, multipart: chunk.multipart });
      return;
    }
    if (!chunk.value || chunk.value.length === 0) return;
    const id = chunk.type === 'body' ? idOf(chunk.node) : -1;
    const value = chunk.value.toString('latin1');
    const last = entries.at(-1);
    if (last && last.kind === chunk.type && last.id === id) last.value += value;
    else entries.push({ kind: chunk.type, id, value });
  });
  const error = await new Promise<string | null>((resolve) => {
    splitter.once('end', () => resolve(null));
    splitter.once('error', (err: Error) => resolve(err.message));
    // Written as a pipe writes them: the next chunk once the splitter has taken the last.
    const write = (i: number): void => {
      if (i === chunks.length) {
        splitter.end();
        return;
      }
      if (splitter.write(chunks[i])) setImmediate(() => write(i + 1));
      else splitter.once('drain', () => write(i + 1));
    };
    write(0);
  });
  return { entries, error };
}

const plainSplitter = (options: SplitterOptions): Transform => new mailsplit.Splitter(options) as unknown as Transform;

async function assertSame(input: Buffer, chunks: Buffer[], options: SplitterOptions, label: string): Promise<Splitter> {
  const ours = new Splitter(options);
  const [expected, actual] = [await split(plainSplitter(options), chunks), await split(ours, chunks)];
  assert.deepEqual(actual, expected, `${label}: ${input.length} bytes in ${chunks.length} chunks`);
  return ours;
}

function cut(input: Buffer, sizes: readonly number[]): Buffer[] {
  const chunks: Buffer[] = [];
  for (let i = 0; i < input.length; ) {
    const n = 1 + int(pick(sizes));
    chunks.push(input.subarray(i, i + n));
    i += n;
  }
  return chunks;
}

function chunkings(input: Buffer): Array<{ name: string; chunks: Buffer[] }> {
  const out = [
    { name: 'whole', chunks: [input] },
    { name: 'random sizes', chunks: cut(input, [2, 9, 80, 700, 5000, 70_000]) },
    { name: '64 KiB reads', chunks: Array.from({ length: Math.ceil(input.length / 65536) }, (_, i) => input.subarray(i * 65536, (i + 1) * 65536)) },
  ];
  if (input.length < 20_000) out.push({ name: 'bytes', chunks: cut(input, [1]) });
  return out;
}

const WORDS = ['Rechnung', 'invoice', 'Grüße', 'naïve', 'счёт', '請求書', 'x', '', '--', '-', '---', '-- ', '=3D', '\t'];

/** Body lines; some look like delimiters of `boundaries` (own and ancestors') without being them, some are. */
function textLines(boundaries: string[], eol: () => string): string {
  let out = '';
  const n = int(40);
  for (let i = 0; i < n; i++) {
    const b = boundaries.length > 0 ? pick(boundaries) : 'none';
    const line = pick([
      () => Array.from({ length: int(12) }, () => pick(WORDS)).join(' '),
      () => '--',
      () => '-- ',
      () => '-----Original Message-----',
      () => `--${b}x`,
      () => `--${b.slice(0, -1)}`,
      () => `-${b}`,
      () => ` --${b}`,
      () => `\r--${b}X`,
      () => `--${b}--x`,
      () => '\r',
      () => '',
      () => 'A'.repeat(int(3) === 0 ? 70_000 + int(5000) : 1 + int(200)),
    ])();
    out += line + eol();
  }
  return out;
}

function base64Lines(eol: () => string): string {
  const bytes = Buffer.from(Array.from({ length: int(int(4) === 0 ? 200_000 : 3000) }, () => int(256)));
  return (bytes.toString('base64').match(/.{1,76}/g) ?? []).map((l) => l + eol()).join('');
}

function entity(depth: number, boundaries: string[], eol: () => string): string {
  if (depth < 3 && int(3) === 0) {
    const boundary = pick(['b', 'b1', '==_mr', `--=_${int(1000)}`, `${boundaries.at(-1) ?? 'x'}-inner`, 'simple boundary']);
    const inner = [...boundaries, boundary];
    let out = `Content-Type: multipart/${pick(['mixed', 'alternative', 'related'])}; boundary="${boundary}"${eol()}${eol()}`;
    if (int(2) === 0) out += textLines([boundary], eol);
    const children = 1 + int(4);
    for (let i = 0; i < children; i++) {
      out += `${pick(['', '', '', '\r'])}--${boundary}${pick(['', '', ' ', '\t  '])}${eol()}`;
      out += entity(depth + 1, inner, eol);
      out += eol();
    }
    const close = int(5);
    if (close > 0) out += `--${boundary}--${pick(['', ' '])}${eol()}`;
    if (close > 1 && int(2) === 0) out += textLines(inner, eol);
    return out;
  }
  if (int(3) === 0) return `Content-Type: application/pdf${eol()}Content-Transfer-Encoding: base64${eol()}${eol()}${base64Lines(eol)}`;
  return `Content-Type: text/plain; charset=utf-8${eol()}${eol()}${textLines(boundaries, eol)}`;
}

function randomMessage(): Buffer {
  const style = pick(['crlf', 'lf', 'mixed']);
  const eol = (): string => (style === 'crlf' ? '\r\n' : style === 'lf' ? '\n' : pick(['\r\n', '\n']));
  const body = entity(0, [], eol);
  return Buffer.from(`From: a@example.test${eol()}Subject: split ${seed}${eol()}MIME-Version: 1.0${eol()}${body}`, 'latin1');
}

const OPTIONS: SplitterOptions = { ignoreEmbedded: true, maxHeadSize: 16 * 1024 * 1024, maxChildNodes: 1000 };

describe('leaf-body fast path of the MIME splitter', () => {
  test('random messages, cut into random chunks: what mailsplit emits', async () => {
    for (let i = 0; i < 120; i++) {
      const input = randomMessage();
      for (const { name, chunks } of chunkings(input)) await assertSame(input, chunks, OPTIONS, `message ${i}, ${name}`);
    }
  });

  test('the MIME fixtures: what mailsplit emits', async () => {
    const dir = path.join(import.meta.dirname, '../fixtures/mime');
    for (const file of readdirSync(dir)) {
      const input = readFileSync(path.join(dir, file));
      for (const { name, chunks } of chunkings(input)) await assertSame(input, chunks, OPTIONS, `${file}, ${name}`);
    }
  });

  test('a part limit ends the split where mailsplit ends it, with its error', async () => {
    const parts = Array.from({ length: 12 }, (_, i) => `--b\r\nContent-Type: text/plain\r\n\r\n${'line --b-not\r\n'.repeat(3000)}part ${i}\r\n`).join('');
    const input = Buffer.from(`Content-Type: multipart/mixed; boundary=b\r\n\r\n${parts}--b--\r\n`);
    for (const { name, chunks } of chunkings(input)) await assertSame(input, chunks, { ...OPTIONS, maxChildNodes: 5 }, name);
  });

  test('takes the fast path: a large base64 attachment is not split line by line', async () => {
    const attachment = Buffer.from(Array.from({ length: 3_000_000 }, (_, i) => (i * 7919) % 251));
    const body = (attachment.toString('base64').match(/.{1,76}/g) ?? []).join('\r\n');
    const input = Buffer.from(
      `Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nHallo\r\n--x\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n${body}\r\n--x--\r\n`,
    );
    for (const { name, chunks } of chunkings(input)) {
      const ours = await assertSame(input, chunks, OPTIONS, name);
      // Writes of a few bytes hold no whole line to skip; reads as a file or a socket gives them do.
      if (name === 'random sizes') continue;
      // All but what mailsplit's own loop handles: the headers, at most 64 KiB at a part's start
      // and the line around each write's end.
      assert.ok(ours.fastBytes > body.length - 140_000, `${name}: ${ours.fastBytes} of ${body.length} body bytes through the fast path`);
    }
  });
});
