import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FsBlobStore } from '../../src/store/index.ts';
import { archive, ATTACHMENT_BYTES, jsonLines, run, sampleMessage, tempDataDir } from './helpers.ts';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

interface ListLine {
  id: string;
  messageId: string | null;
  sha256: string;
  subject: string;
  source: string;
}

describe('mailroom doc / search', () => {
  let data: Awaited<ReturnType<typeof tempDataDir>>;
  const invoice = sampleMessage({ messageId: 'invoice-1@example.org', subject: 'Rechnung März 2024 für Köln' });
  const other = sampleMessage({ messageId: 'note-2@example.org', subject: 'Lunch on Friday', from: 'Ann <ann@example.net>', body: 'Pizza or sushi?', date: 'Fri, 10 Jan 2025 09:00:00 +0000' });
  let invoiceId: string;
  let otherId: string;

  before(async () => {
    data = await tempDataDir();
    // Creates the default organisation and the key file through the CLI first.
    const r = await run(data.dir, ['cabinets', 'add', 'Invoices']);
    assert.equal(r.code, 0, r.err);
    [invoiceId, otherId] = (await archive(data.dir, 'default', 'Invoices', [invoice, other])) as [string, string];
  });
  after(async () => {
    await data.cleanup();
  });

  it('lists every document as JSON Lines', async () => {
    const r = await run(data.dir, ['doc', 'list', '--json']);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.err, '');
    const lines = jsonLines<ListLine>(r.out);
    assert.equal(lines.length, 2);
    const byId = new Map(lines.map((l) => [l.id, l]));
    assert.deepEqual(byId.get(invoiceId), { id: invoiceId, messageId: 'invoice-1@example.org', sha256: sha256(invoice), subject: 'Rechnung März 2024 für Köln', source: 'test' });
    assert.equal(byId.get(otherId)?.subject, 'Lunch on Friday');

    const filtered = await run(data.dir, ['doc', 'list', '--cabinet', 'Invoices', '--json']);
    assert.equal(jsonLines(filtered.out).length, 2);

    const human = await run(data.dir, ['doc', 'list']);
    assert.equal(human.code, 0, human.err);
    assert.match(human.out, /^DATE\s+FROM\s+SUBJECT\s+ID$/m);
    assert.match(human.out, /Rechnung März 2024 für Köln/);
    assert.match(human.out, /2 documents\./);
  });

  it('shows a document with its index fields and attachments', async () => {
    const r = await run(data.dir, ['doc', 'show', invoiceId, '--json']);
    assert.equal(r.code, 0, r.err);
    const [doc] = jsonLines<{
      id: string;
      subject: string;
      from: { name: string; address: string };
      to: Array<{ name: string; address: string }>;
      date: string;
      sha256: string;
      size: number;
      cabinet: string;
      attachments: Array<{ index: number; filename: string; contentType: string; size: number; sha256: string }>;
    }>(r.out);
    assert.ok(doc);
    assert.equal(doc.id, invoiceId);
    assert.deepEqual(doc.from, { name: 'Jürgen Müller', address: 'juergen@example.org' });
    assert.deepEqual(doc.to, [{ name: 'Archive', address: 'archive@example.com' }]);
    assert.equal(doc.date, '2024-05-14T08:30:00.000Z');
    assert.equal(doc.size, invoice.length);
    assert.equal(doc.cabinet, 'Invoices');
    assert.equal(doc.attachments.length, 1);
    assert.equal(doc.attachments[0]!.index, 0);
    assert.equal(doc.attachments[0]!.filename, 'rechnung.pdf');
    assert.equal(doc.attachments[0]!.sha256, sha256(ATTACHMENT_BYTES));

    const human = await run(data.dir, ['doc', 'show', invoiceId]);
    assert.equal(human.code, 0, human.err);
    assert.match(human.out, /^Subject:\s+Rechnung März 2024 für Köln$/m);
    assert.match(human.out, /^From:\s+Jürgen Müller <juergen@example\.org>$/m);
    assert.match(human.out, /^0\s+rechnung\.pdf\s+application\/pdf\s+3000\s+[0-9a-f]{64}$/m);
  });

  it('writes the original byte for byte and an attachment exactly', async () => {
    const eml = await run(data.dir, ['doc', 'eml', invoiceId]);
    assert.equal(eml.code, 0, eml.err);
    assert.equal(sha256(eml.stdout), sha256(invoice));
    assert.ok(eml.stdout.equals(invoice));

    const att = await run(data.dir, ['doc', 'attachment', invoiceId, '0']);
    assert.equal(att.code, 0, att.err);
    assert.ok(att.stdout.equals(ATTACHMENT_BYTES));

    const missing = await run(data.dir, ['doc', 'attachment', invoiceId, '1']);
    assert.equal(missing.code, 2);
    assert.equal(missing.out, '');
    assert.match(missing.err, /^error \[ATTACHMENT_NOT_FOUND\]: .*numbered from 0/m);

    const bad = await run(data.dir, ['doc', 'attachment', invoiceId, 'first']);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /^error \[VALIDATION_FAILED\]: The attachment index/m);
  });

  it('searches with ranked JSON Lines and filters', async () => {
    const r = await run(data.dir, ['search', 'märz köln', '--json']);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(jsonLines(r.out), [
      { id: invoiceId, subject: 'Rechnung März 2024 für Köln', from: { name: 'Jürgen Müller', address: 'juergen@example.org' }, date: '2024-05-14T08:30:00.000Z' },
    ]);
    // Diacritics fold: "grusse" finds "Grüße" in the body.
    assert.deepEqual(jsonLines<{ id: string }>((await run(data.dir, ['search', 'grusse', '--json'])).out).map((d) => d.id), [invoiceId]);
    // Empty query: newest first.
    assert.deepEqual(jsonLines<{ id: string }>((await run(data.dir, ['search', '', '--json'])).out).map((d) => d.id), [otherId, invoiceId]);
    const filtered = async (...args: string[]) => jsonLines<{ id: string }>((await run(data.dir, ['search', '', '--json', ...args])).out).map((d) => d.id);
    assert.deepEqual(await filtered('--from', 'ann@'), [otherId]);
    assert.deepEqual(await filtered('--after', '2025-01-01'), [otherId]);
    assert.deepEqual(await filtered('--before', '2024-12-31'), [invoiceId]);
    // A day includes the whole day; a timestamp is exact.
    assert.deepEqual(await filtered('--after', '2024-05-14', '--before', '2024-05-14'), [invoiceId]);
    assert.deepEqual(await filtered('--before', '2024-05-14T08:29:59Z'), []);
    assert.deepEqual(await filtered('--before', '2024-05-14T10:30:00+02:00'), [invoiceId]);
    assert.deepEqual(await filtered('--to', 'archive@example.com', '--limit', '1'), [otherId]);
    assert.deepEqual(await filtered('--has-attachment', '--cabinet', 'Invoices'), [otherId, invoiceId]);
    assert.deepEqual(await filtered('--from', 'nobody'), []);

    const human = await run(data.dir, ['search', 'pizza']);
    assert.equal(human.code, 0, human.err);
    assert.match(human.out, /Lunch on Friday/);
    assert.match(human.out, /1 document\./);

    const badDate = await run(data.dir, ['search', 'x', '--after', 'yesterday']);
    assert.equal(badDate.code, 2);
    assert.match(badDate.err, /^error \[VALIDATION_FAILED\]: --after must be a date/m);
    const badLimit = await run(data.dir, ['search', 'x', '--limit', '0']);
    assert.equal(badLimit.code, 2);
    assert.match(badLimit.err, /^error \[VALIDATION_FAILED\]: --limit/m);
  });

  it('names an unknown cabinet and how to create it', async () => {
    for (const args of [['search', 'x', '--cabinet', 'Nope'], ['doc', 'list', '--cabinet', 'Nope']]) {
      const r = await run(data.dir, args);
      assert.equal(r.code, 2, r.err);
      assert.equal(r.out, '');
      assert.match(r.err, /^error \[CABINET_NOT_FOUND\]: .*"Nope".*mailroom cabinets add "Nope"/m);
    }
  });

  it('keeps organisations apart (--org)', async () => {
    assert.equal((await run(data.dir, ['orgs', 'add', 'Acme'])).code, 0);
    const [acmeId] = (await archive(data.dir, 'Acme', 'Inbox', [sampleMessage({ messageId: 'acme-1@example.com', subject: 'Acme quarterly report', body: 'Widgets everywhere' })])) as [string];

    const fromAcme = await run(data.dir, ['--org', 'Acme', 'search', 'widgets', '--json']);
    assert.deepEqual(jsonLines<{ id: string }>(fromAcme.out).map((d) => d.id), [acmeId]);
    const fromDefault = await run(data.dir, ['search', 'widgets', '--json']);
    assert.equal(fromDefault.code, 0);
    assert.equal(fromDefault.out, '');
    // The global option works after the subcommand too.
    assert.deepEqual(jsonLines<{ id: string }>((await run(data.dir, ['doc', 'list', '--json', '--org', 'Acme'])).out).map((d) => d.id), [acmeId]);
    assert.equal(jsonLines((await run(data.dir, ['doc', 'list', '--json'])).out).length, 2);

    for (const args of [['doc', 'show', acmeId], ['doc', 'eml', acmeId], ['doc', 'attachment', acmeId, '0'], ['doc', 'verify', acmeId]]) {
      const r = await run(data.dir, args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
      assert.equal(r.out, '');
      assert.match(r.err, /^error \[DOCUMENT_NOT_FOUND\]/m);
    }
    const shown = await run(data.dir, ['--org', 'Acme', 'doc', 'show', invoiceId]);
    assert.equal(shown.code, 2);

    const cabinet = await run(data.dir, ['--org', 'Acme', 'search', 'x', '--cabinet', 'Invoices']);
    assert.equal(cabinet.code, 2);
    assert.match(cabinet.err, /mailroom --org "Acme" cabinets add "Invoices"/);

    const noOrg = await run(data.dir, ['--org', 'Ghost', 'doc', 'list']);
    assert.equal(noOrg.code, 2);
    assert.match(noOrg.err, /^error \[ORG_NOT_FOUND\]: .*"Ghost".*mailroom orgs list/m);
  });

  it('verifies stored bytes and detects a corrupted blob', async () => {
    const ok = await run(data.dir, ['doc', 'verify', invoiceId]);
    assert.equal(ok.code, 0, ok.out + ok.err);
    assert.match(ok.out, /all intact/);
    const all = await run(data.dir, ['doc', 'verify', '--all', '--json']);
    assert.equal(all.code, 0, all.err);
    assert.deepEqual(jsonLines<{ ok: boolean }>(all.out).map((r) => r.ok), [true, true]);

    // Flip one byte of the original message where it is stored under <data>/blobs/ (a pack).
    const hash = sha256(invoice);
    const blobs = new FsBlobStore(join(data.dir, 'blobs'));
    const at = blobs.locate(hash);
    await blobs.close();
    assert.ok(at?.packed);
    const bytes = await readFile(at.file);
    bytes[at.start + 100] = bytes[at.start + 100]! ^ 0x01;
    await writeFile(at.file, bytes);

    const bad = await run(data.dir, ['doc', 'verify', invoiceId]);
    assert.equal(bad.code, 1);
    assert.match(bad.out, new RegExp(`${invoiceId}: original message changed: expected sha256 ${hash}, found [0-9a-f]{64}`));
    const badAll = await run(data.dir, ['doc', 'verify', '--all', '--json']);
    assert.equal(badAll.code, 1);
    const results = jsonLines<{ id: string; ok: boolean; problems: string[] }>(badAll.out);
    assert.deepEqual(results.filter((r) => !r.ok).map((r) => r.id), [invoiceId]);
    assert.equal(results.find((r) => r.id === invoiceId)?.problems.length, 1);
    assert.equal(badAll.err, '');

    const neither = await run(data.dir, ['doc', 'verify']);
    assert.equal(neither.code, 2);
    assert.match(neither.err, /^error \[VALIDATION_FAILED\]/m);
  });
});
