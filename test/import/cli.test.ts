/**
 * `mailroom import` end to end: bin/mailroom in a child process with its own MAILROOM_DATA.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { openApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config/index.ts';
import { createLogger } from '../../src/log/index.ts';

const BIN = resolve(import.meta.dirname, '..', '..', 'bin', 'mailroom');
const FIXTURES = resolve(import.meta.dirname, '..', 'fixtures', 'import');

interface Run {
  code: number | null;
  out: string;
  err: string;
}

function mailroom(dataDir: string, args: string[]): Promise<Run> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('MAILROOM_')) env[k] = v;
  env.MAILROOM_DATA = dataDir;
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', fail);
    child.on('close', (code) => done({ code, out: Buffer.concat(out).toString('utf8'), err: Buffer.concat(err).toString('utf8') }));
  });
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function lines(text: string): Array<Record<string, unknown>> {
  assert.ok(text === '' || text.endsWith('\n'), 'stdout ends with a newline');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

const MESSAGE_KEYS = ['file', 'id', 'messageId', 'subject', 'from', 'to', 'date', 'attachments', 'duplicate', 'warnings'];

const plain = [
  'From: "Ann Example" <ann@example.test>',
  'To: Bob <bob@example.test>, carol@example.test',
  'Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgTcO8bmNoZW4=?=',
  'Date: Tue, 2 Jan 2024 10:00:00 +0100',
  'Message-ID: <plain-1@example.test>',
  'MIME-Version: 1.0',
  'Content-Type: text/plain; charset=utf-8',
  '',
  'Hello Bob,',
  '',
  'From here on, all is quoted in the mbox.',
  '',
].join('\n');

const withAttachment = [
  'From: Dan <dan@example.test>',
  'To: ann@example.test',
  'Subject: the invoice',
  'Date: Wed, 3 Jan 2024 09:30:00 +0000',
  'Message-ID: <att-1@example.test>',
  'MIME-Version: 1.0',
  'Content-Type: multipart/mixed; boundary="XX"',
  '',
  '--XX',
  'Content-Type: text/plain; charset=us-ascii',
  '',
  'Invoice attached.',
  '--XX',
  'Content-Type: application/pdf; name="invoice.pdf"',
  'Content-Disposition: attachment; filename="invoice.pdf"',
  'Content-Transfer-Encoding: base64',
  '',
  Buffer.from('%PDF-1.4 tiny').toString('base64'),
  '--XX--',
  '',
].join('\n');

function mboxrd(messages: string[]): string {
  return messages.map((m, i) => `From sender@example.test Mon Jan  1 00:00:0${i} 2024\n${m.replace(/^(>*From )/gm, '>$1')}\n`).join('');
}

describe('mailroom import', () => {
  let work = '';
  let mbox = '';
  let broken = '';
  let expectedBroken: Buffer;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'mr-import-cli-'));
    broken = await readFile(join(FIXTURES, 'broken.eml'), 'latin1');
    expectedBroken = Buffer.from(broken, 'latin1');
    mbox = join(work, 'inbox.mbox');
    await writeFile(mbox, mboxrd([plain, withAttachment, broken]), 'latin1');
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  test('--json prints one record per message, exactly the documented fields; a re-import reports duplicates with the same ids', async () => {
    const data = join(work, 'data-json');
    const first = await mailroom(data, ['import', mbox, '--json']);
    assert.equal(first.code, 0, first.err);
    const records = lines(first.out);
    assert.equal(records.length, 3);
    for (const r of records) assert.deepEqual(Object.keys(r), MESSAGE_KEYS);
    assert.deepEqual(records.map((r) => r.file), [`${mbox}#1`, `${mbox}#2`, `${mbox}#3`]);
    assert.deepEqual(records[0], {
      file: `${mbox}#1`,
      id: records[0]!.id,
      messageId: 'plain-1@example.test',
      subject: 'Grüße aus München',
      from: { name: 'Ann Example', address: 'ann@example.test' },
      to: [
        { name: 'Bob', address: 'bob@example.test' },
        { name: '', address: 'carol@example.test' },
      ],
      date: '2024-01-02T09:00:00.000Z',
      attachments: [],
      duplicate: false,
      warnings: [],
    });
    assert.match(String(records[0]!.id), /^[0-9a-f-]{36}$/);
    assert.deepEqual(records[1]!.attachments, [{ filename: 'invoice.pdf', contentType: 'application/pdf', size: 13 }]);
    // The broken message is archived all the same, with what was wrong with it.
    const bad = records[2]!;
    assert.equal(bad.from, null);
    assert.equal(bad.date, null);
    assert.equal(bad.duplicate, false);
    assert.ok(Array.isArray(bad.warnings) && bad.warnings.length >= 2, JSON.stringify(bad.warnings));
    assert.ok((bad.warnings as string[]).some((w) => /From/.test(w)));

    // The original bytes were kept exactly (mbox quoting undone).
    const app = await openApp(loadConfig({ MAILROOM_DATA: data }), createLogger('silent'));
    try {
      const org = await app.orgs.ensureOrg('default');
      assert.deepEqual(await readAll((await app.archive.openRaw(org.id, String(records[0]!.id))).stream), Buffer.from(plain, 'latin1'));
      assert.deepEqual(await readAll((await app.archive.openRaw(org.id, String(bad.id))).stream), expectedBroken);
      const cabinets = await app.archive.listCabinets(org.id);
      assert.deepEqual(cabinets.map((c) => [c.name, c.documentCount]), [['Mail', 3]]);
    } finally {
      await app.close();
    }

    const again = await mailroom(data, ['import', mbox, '--json']);
    assert.equal(again.code, 0, again.err);
    const dup = lines(again.out);
    assert.deepEqual(dup.map((r) => r.duplicate), [true, true, true]);
    assert.deepEqual(dup.map((r) => r.id), records.map((r) => r.id));
    assert.deepEqual(dup.map((r) => r.file), records.map((r) => r.file));
    assert.equal(again.err, '');
  });

  test('a directory: files named by path; an unreadable one is a failed record and exit code 1', async () => {
    const dir = join(work, 'dir');
    await mkdir(join(dir, 'sub'), { recursive: true });
    await writeFile(join(dir, 'a.eml'), plain);
    await writeFile(join(dir, 'sub', 'b.eml'), withAttachment);
    await writeFile(join(dir, 'notes.txt'), 'not mail');
    await symlink(join(dir, 'gone.eml'), join(dir, 'c.eml'));
    const run = await mailroom(join(work, 'data-dir'), ['import', dir, '--json', '--cabinet', 'Projects']);
    assert.equal(run.code, 1, run.err);
    const records = lines(run.out);
    assert.deepEqual(records.map((r) => r.file), [join(dir, 'a.eml'), join(dir, 'c.eml'), join(dir, 'sub', 'b.eml')]);
    const failed = records[1]!;
    assert.deepEqual(Object.keys(failed), ['file', 'error']);
    assert.deepEqual(Object.keys(failed.error as object), ['code', 'message']);
    assert.equal((failed.error as { code: string }).code, 'IMPORT_SOURCE_INVALID');
    assert.match((failed.error as { message: string }).message, /c\.eml/);
    assert.match(run.err, /skipped .*notes\.txt/);
  });

  test('without --json: a summary for people; a missing path is an error naming it, with nothing on stdout', async () => {
    const data = join(work, 'data-human');
    const run = await mailroom(data, ['--org', 'default', 'import', mbox]);
    assert.equal(run.code, 0, run.err);
    assert.match(run.out, /Read 3 messages from mbox/);
    assert.match(run.out, /imported: +3/);
    assert.match(run.out, /duplicates: +0/);
    assert.match(run.out, /flagged: +0/);
    assert.match(run.out, /failed: +0/);
    assert.match(run.out, / in \d+\.\d s/);

    const missing = join(work, 'nope.mbox');
    const bad = await mailroom(data, ['import', missing, '--json']);
    assert.equal(bad.code, 2);
    assert.equal(bad.out, '');
    assert.match(bad.err, /IMPORT_SOURCE_INVALID/);
    assert.ok(bad.err.includes(missing));
  });
});
