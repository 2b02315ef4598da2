import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { AppError } from '../../src/errors/index.ts';
import {
  countMaildir,
  isSourceFailure,
  openSource,
  readDirectory,
  readMaildir,
  readMbox,
  readSource,
  type SourceEntry,
} from '../../src/archive/import/index.ts';

async function bytesOf(raw: Buffer | Readable): Promise<Buffer> {
  if (Buffer.isBuffer(raw)) return raw;
  const chunks: Buffer[] = [];
  for await (const c of raw) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function collect(entries: AsyncIterable<SourceEntry>): Promise<Array<{ file: string; bytes: Buffer; stream: boolean; error?: AppError }>> {
  const out: Array<{ file: string; bytes: Buffer; stream: boolean; error?: AppError }> = [];
  for await (const e of entries) {
    if (isSourceFailure(e)) out.push({ file: e.file, bytes: Buffer.alloc(0), stream: false, error: e.error });
    else out.push({ file: e.file, bytes: await bytesOf(e.raw), stream: !Buffer.isBuffer(e.raw) });
  }
  return out;
}

function msg(n: number, eol = '\n', body = `Body of message ${n}.`): string {
  return [`From: Sender ${n} <s${n}@example.test>`, `To: r@example.test`, `Subject: message ${n}`, `Message-ID: <m${n}@example.test>`, '', body, ''].join(eol);
}

/** mboxrd writer: envelope line, ">*From " lines quoted with one more ">", a blank line after each message. */
function mboxrd(messages: string[], eol = '\n'): string {
  return messages
    .map((m, i) => `From sender${i}@example.test Mon Jan  1 00:00:0${i % 10} 2024${eol}${m.split(eol).map((l) => (/^>*From /.test(l) ? `>${l}` : l)).join(eol)}${eol}`)
    .join('');
}

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'mr-import-'));
  dirs.push(d);
  return d;
}
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe('eml reader', () => {
  test('a single .eml file is one byte-exact message', async () => {
    const d = await tempDir();
    const file = join(d, 'one.eml');
    const content = Buffer.from(msg(1, '\r\n', 'Grüße — 日本語\r\nFrom here on\r\n'), 'utf8');
    await writeFile(file, content);
    const source = await openSource(file);
    assert.equal(source.kind, 'eml');
    assert.deepEqual(await source.totals(), { messages: 1, bytes: content.length });
    const got = await collect(source.messages());
    assert.equal(got.length, 1);
    assert.equal(got[0]!.file, file);
    assert.equal(got[0]!.stream, false);
    assert.deepEqual(got[0]!.bytes, content);
  });
});

describe('mbox reader', () => {
  test('splits an mboxrd file, strips envelopes and separators, unquotes >From lines', async () => {
    const d = await tempDir();
    const messages = [
      msg(1, '\n', 'Hello\n\nFrom the desk of the director:\n>From quoted once\n>>From quoted twice\n> plain quote\nFrom: not a header here'),
      msg(2, '\n', 'Ends with a blank line\n'),
      msg(3, '\n', 'A line "From x" inside a paragraph\nFrom me, unquoted after a non-blank line (mboxo)'),
      msg(4),
    ];
    const text = mboxrd(messages).replace('>From me, unquoted', 'From me, unquoted');
    // The mboxo line above is left unquoted on purpose: without a blank line before it, it is no separator.
    const file = join(d, 'mail.mbox');
    await writeFile(file, text);
    const source = await openSource(file);
    assert.equal(source.kind, 'mbox');
    const got = await collect(source.messages());
    assert.deepEqual(got.map((g) => g.file), [1, 2, 3, 4].map((n) => `${file}#${n}`));
    assert.deepEqual(got.map((g) => g.bytes.toString('utf8')), messages);
    const first = got[0]!.bytes.toString();
    assert.ok(first.includes('\nFrom the desk') && first.includes('\n>From quoted once\n>>From quoted twice\n'));
    assert.ok(text.includes('\n>From the desk') && text.includes('\n>>From quoted once\n>>>From quoted twice\n'), 'the file itself is quoted');
  });

  test('reads CRLF mboxes byte-exactly', async () => {
    const d = await tempDir();
    const messages = [msg(1, '\r\n', 'line one\r\n\r\nFrom a quoted line\r\n'), msg(2, '\r\n', 'Übergröße'), msg(3, '\r\n')];
    const file = join(d, 'crlf.mbox');
    await writeFile(file, mboxrd(messages, '\r\n'));
    const got = await collect(readMbox(file));
    assert.deepEqual(got.map((g) => g.bytes.toString('utf8')), messages);
  });

  test('gives the same messages whatever the read size (boundaries inside separators and quotes)', async () => {
    const d = await tempDir();
    const messages = [msg(1, '\n', 'x\n\n>From a\n'), msg(2, '\n', '>>>From b\n\n'), msg(3, '\n', 'From c'), msg(4, '\n', '')];
    const lf = join(d, 'lf.mbox');
    const crlf = join(d, 'crlf.mbox');
    await writeFile(lf, mboxrd(messages));
    const crlfMessages = messages.map((m) => m.replace(/\n/g, '\r\n'));
    await writeFile(crlf, mboxrd(crlfMessages, '\r\n'));
    for (let chunkSize = 1; chunkSize <= 48; chunkSize++) {
      const a = await collect(readMbox(lf, { chunkSize }));
      assert.deepEqual(a.map((g) => g.bytes.toString()), messages, `LF, chunk size ${chunkSize}`);
      const b = await collect(readMbox(crlf, { chunkSize }));
      assert.deepEqual(b.map((g) => g.bytes.toString()), crlfMessages, `CRLF, chunk size ${chunkSize}`);
    }
  });

  test('a file without a trailing blank line keeps its last message whole; empty messages are skipped', async () => {
    const d = await tempDir();
    const file = join(d, 'tail.mbox');
    await writeFile(file, `From a\n${msg(1)}\nFrom b\n\nFrom c\n${msg(3)}`);
    const got = await collect(readMbox(file));
    assert.deepEqual(got.map((g) => g.file), [`${file}#1`, `${file}#3`]);
    assert.deepEqual(got.map((g) => g.bytes.toString()), [msg(1), msg(3)]);
  });

  test('a message above 8 MiB comes as a stream backed by a temporary file, not as a Buffer', async () => {
    const d = await tempDir();
    const spillDir = join(d, 'spill');
    await mkdir(spillDir);
    const line = `${'0123456789abcdef'.repeat(4)}\n`;
    const huge = msg(2, '\n', `start\n>From inside the big one\n${line.repeat(Math.ceil((9 * 1024 * 1024) / line.length))}end`);
    const messages = [msg(1), huge, msg(3)];
    const file = join(d, 'big.mbox');
    await writeFile(file, mboxrd(messages));
    const seen: Array<{ file: string; isBuffer: boolean; size: number; bytes: Buffer }> = [];
    for await (const m of readMbox(file, { spillDir })) {
      const isBuffer = Buffer.isBuffer(m.raw);
      seen.push({ file: m.file, isBuffer, size: m.size, bytes: await bytesOf(m.raw) });
    }
    assert.deepEqual(seen.map((s) => s.isBuffer), [true, false, true]);
    assert.equal(seen[1]!.size, Buffer.byteLength(huge));
    assert.ok(seen[1]!.size > 8 * 1024 * 1024);
    assert.equal(seen[1]!.bytes.toString(), huge);
    assert.deepEqual(seen.map((s) => s.bytes.toString()), messages);
    // The spill file was unlinked as soon as it was opened: nothing is left behind.
    assert.deepEqual(await readdir(spillDir), []);
  });

  test('a file that is not an mbox is refused with IMPORT_SOURCE_INVALID', async () => {
    const d = await tempDir();
    const file = join(d, 'not.mbox');
    await writeFile(file, msg(1));
    await assert.rejects(collect(readMbox(file)), (err: unknown) => err instanceof AppError && err.code === 'IMPORT_SOURCE_INVALID' && err.message.includes(file));
  });
});

describe('directory reader', () => {
  let root = '';
  const skipped: Array<[string, string]> = [];
  before(async () => {
    root = await tempDir();
    await mkdir(join(root, 'b', 'nested'), { recursive: true });
    await mkdir(join(root, '.hidden'));
    await writeFile(join(root, 'm2.eml'), msg(2));
    await writeFile(join(root, 'm10.eml'), msg(10));
    await writeFile(join(root, 'm1.EML'), msg(1));
    await writeFile(join(root, 'notes.txt'), 'shopping list');
    await writeFile(join(root, 'old.msg'), Buffer.from([0xd0, 0xcf, 0x11, 0xe0]));
    await writeFile(join(root, '.DS_Store'), 'junk');
    await writeFile(join(root, '.hidden', 'x.eml'), msg(99));
    await writeFile(join(root, 'b', 'nested', 'deep.eml'), msg(5));
    await writeFile(join(root, 'b', 'archive.mbox'), mboxrd([msg(6), msg(7)]));
    await writeFile(join(root, 'b', '12'), msg(12)); // an MH-style message without extension
    await writeFile(join(root, 'b', 'README'), 'This directory holds mail.');
    await writeFile(join(root, 'b', 'empty.eml'), '');
  });

  test('walks recursively in natural order, reads .eml, mbox and extensionless messages, skips the rest', async () => {
    const source = await openSource(root, { onSkip: (file, reason) => skipped.push([file, reason]) });
    assert.equal(source.kind, 'directory');
    const got = await collect(source.messages());
    assert.deepEqual(
      got.map((g) => g.file),
      [join(root, 'b', '12'), join(root, 'b', 'archive.mbox#1'), join(root, 'b', 'archive.mbox#2'), join(root, 'b', 'nested', 'deep.eml'), join(root, 'm1.EML'), join(root, 'm2.eml'), join(root, 'm10.eml')],
    );
    assert.deepEqual(got.map((g) => g.bytes.toString()), [msg(12), msg(6), msg(7), msg(5), msg(1), msg(2), msg(10)]);
    assert.deepEqual(skipped.map(([f]) => f).sort(), [join(root, 'b', 'README'), join(root, 'b', 'empty.eml'), join(root, 'notes.txt'), join(root, 'old.msg')].sort());
    assert.match(skipped.find(([f]) => f.endsWith('old.msg'))![1], /Outlook/);
    const totals = await source.totals();
    assert.equal(totals.messages, null, 'an mbox inside makes the message count unknown');
    assert.ok(totals.bytes !== null && totals.bytes > 0);
  });

  test('a file that cannot be read is a failure in place, and the walk goes on', async () => {
    const d = await tempDir();
    await writeFile(join(d, 'a.eml'), msg(1));
    await symlink(join(d, 'missing-target.eml'), join(d, 'b.eml'));
    await writeFile(join(d, 'c.eml'), msg(3));
    const got = await collect(readDirectory(d));
    assert.deepEqual(got.map((g) => g.file), [join(d, 'a.eml'), join(d, 'b.eml'), join(d, 'c.eml')]);
    assert.equal(got[1]!.error?.code, 'IMPORT_SOURCE_INVALID');
    assert.match(got[1]!.error!.message, /b\.eml.*does not exist/);
    assert.deepEqual(got[2]!.bytes.toString(), msg(3));
  });
});

describe('Maildir reader', () => {
  test('reads cur/ and new/ of the root and of Maildir++ subfolders, never tmp/', async () => {
    const root = await tempDir();
    const folders = ['', '.Sent', '.Archive.2024', '.Empty'];
    for (const f of folders) for (const sub of ['cur', 'new', 'tmp']) await mkdir(join(root, f, sub), { recursive: true });
    await writeFile(join(root, 'cur', '1700000001.M1P1.host:2,S'), msg(1));
    await writeFile(join(root, 'cur', '1700000002.M2P1.host:2,RS'), msg(2));
    await writeFile(join(root, 'new', '1700000003.M3P1.host'), msg(3));
    await writeFile(join(root, 'tmp', '1700000004.M4P1.host'), msg(4)); // delivery in progress
    await writeFile(join(root, 'dovecot-uidlist'), '3 V1 N4\n');
    await writeFile(join(root, '.Sent', 'cur', '1700000005.M5P1.host:2,S'), msg(5));
    await writeFile(join(root, '.Sent', 'maildirfolder'), '');
    await writeFile(join(root, '.Archive.2024', 'new', '1700000006.M6P1.host'), msg(6));
    await writeFile(join(root, '.Archive.2024', 'cur', '.hidden'), 'x');
    const source = await openSource(root);
    assert.equal(source.kind, 'maildir');
    assert.equal(await countMaildir(root), 5);
    const got = await collect(readMaildir(root));
    assert.deepEqual(
      got.map((g) => g.file),
      [
        join(root, 'cur', '1700000001.M1P1.host:2,S'),
        join(root, 'cur', '1700000002.M2P1.host:2,RS'),
        join(root, 'new', '1700000003.M3P1.host'),
        join(root, '.Archive.2024', 'new', '1700000006.M6P1.host'),
        join(root, '.Sent', 'cur', '1700000005.M5P1.host:2,S'),
      ],
    );
    assert.deepEqual(got.map((g) => g.bytes.toString()), [msg(1), msg(2), msg(3), msg(6), msg(5)]);
    // A Maildir inside a plain directory is read as one too.
    const outer = await tempDir();
    await writeFile(join(outer, 'a.eml'), msg(0));
    await rm(join(outer, 'box'), { recursive: true, force: true });
    await mkdir(join(outer, 'box', 'cur'), { recursive: true });
    await mkdir(join(outer, 'box', 'new'));
    await writeFile(join(outer, 'box', 'new', '1'), msg(9));
    const nested = await collect(readSource(outer));
    assert.deepEqual(nested.map((g) => g.bytes.toString()), [msg(0), msg(9)]);
  });
});

describe('source detection and errors', () => {
  test('a path that does not exist, an empty file and a bad path are IMPORT_SOURCE_INVALID naming the path', async () => {
    const d = await tempDir();
    const missing = join(d, 'nope.mbox');
    await assert.rejects(openSource(missing), (err: unknown) => err instanceof AppError && err.code === 'IMPORT_SOURCE_INVALID' && err.message.includes(missing) && /does not exist/.test(err.message));
    const empty = join(d, 'empty.eml');
    await writeFile(empty, '');
    await assert.rejects(openSource(empty), (err: unknown) => err instanceof AppError && err.code === 'IMPORT_SOURCE_INVALID' && err.message.includes(empty) && /empty/.test(err.message));
    const file = join(d, 'file.eml');
    await writeFile(file, msg(1));
    const through = join(file, 'child');
    await assert.rejects(openSource(through), (err: unknown) => err instanceof AppError && err.code === 'IMPORT_SOURCE_INVALID' && err.message.includes(through) && /not a directory/.test(err.message));
  });

  test('a file above 8 MiB is handed on as a stream', async () => {
    const d = await tempDir();
    const file = join(d, 'big.eml');
    const content = Buffer.from(msg(1, '\n', 'x'.repeat(9 * 1024 * 1024)));
    await writeFile(file, content);
    const got: SourceEntry[] = [];
    for await (const e of readSource(file)) got.push(e);
    assert.equal(got.length, 1);
    const m = got[0]!;
    assert.ok(!isSourceFailure(m));
    assert.ok(m.raw instanceof Readable && !Buffer.isBuffer(m.raw));
    assert.deepEqual(await bytesOf(m.raw), content);
  });
});
