/**
 * Parser benchmark: `npm run bench:parse [-- --runs 8]`. Parses a message with a 5 MB base64
 * attachment (7.2 MB on the wire) from memory and from a file, as the sync's parse worker does
 * with a spooled message, and decodes the attachment of a 25 MB message from a file, as a
 * download does (src/archive/extract.ts), and times the check of a base64 body's chunks alone
 * (src/archive/parse/base64.ts: the native proof and the regular expression it stands in for, on
 * the 1 MiB chunks the parse worker reads). Prints MB/s and milliseconds; nothing is timed twice.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { extractPart } from '../src/archive/extract.ts';
import { scanPlainBase64, scanPlainBase64ByRegex } from '../src/archive/parse/base64.ts';
import { parseMessage } from '../src/archive/parse/index.ts';

const { values: args } = parseArgs({ options: { runs: { type: 'string', default: '8' } } });
const RUNS = Math.max(1, Number(args.runs));

function withAttachment(bytes: number): Buffer {
  const b64 = randomBytes(bytes).toString('base64').replace(/.{76}/g, '$&\r\n');
  return Buffer.from(
    'From: a@example.test\r\nSubject: big\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="mix"\r\n\r\n' +
      '--mix\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n' +
      `--mix\r\nContent-Type: application/pdf; name="x.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64}\r\n--mix--\r\n`,
  );
}

async function timed(label: string, bytes: number, once: () => Promise<unknown>): Promise<void> {
  await once(); // warm-up
  const t0 = performance.now();
  for (let i = 0; i < RUNS; i++) await once();
  const ms = (performance.now() - t0) / RUNS;
  process.stdout.write(`${label.padEnd(52)} ${ms.toFixed(1).padStart(7)} ms  ${(bytes / 1024 / 1024 / (ms / 1000)).toFixed(0).padStart(5)} MB/s\n`);
}

const dir = await mkdtemp(path.join(tmpdir(), 'mailroom-bench-parse-'));
try {
  const message = withAttachment(5 * 1024 * 1024);
  const file = path.join(dir, 'm.eml');
  await writeFile(file, message);
  const large = withAttachment(18 * 1024 * 1024);
  const largeFile = path.join(dir, 'large.eml');
  await writeFile(largeFile, large);
  process.stdout.write(`mailroom parse benchmark: ${RUNS} runs each, node ${process.version}\n`);
  await timed(`parse ${(message.length / 1e6).toFixed(1)} MB message from memory`, message.length, () => parseMessage(message));
  await timed(`parse ${(message.length / 1e6).toFixed(1)} MB message from a file`, message.length, () => parseMessage(createReadStream(file)));
  await timed(`attachment of a ${(large.length / 1e6).toFixed(1)} MB message, from a file`, large.length, async () => {
    for await (const _chunk of extractPart(createReadStream(largeFile), '2'));
  });
  // The attachment's base64 text in 1 MiB chunks, cut anywhere in a line, as the worker reads them.
  const text = message.toString('latin1');
  const body = text.slice(text.indexOf('\r\n\r\n', text.indexOf('base64')) + 4, text.lastIndexOf('\r\n--mix--'));
  const chunks: string[] = [];
  for (let at = 0; at + 1024 * 1024 <= body.length; at += 1024 * 1024) chunks.push(body.slice(at, at + 1024 * 1024));
  const chunkBytes = chunks.length * 1024 * 1024;
  for (const [label, scan] of [
    ['base64 check, native proof', scanPlainBase64],
    ['base64 check, regex', scanPlainBase64ByRegex],
  ] as const) {
    await timed(`${label}, ${chunks.length} x 1 MiB`, chunkBytes, async () => {
      for (const c of chunks) if (scan(c) === null) throw new Error('a plain chunk was not recognised as plain');
    });
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
