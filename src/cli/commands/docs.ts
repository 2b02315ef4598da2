/** Archived documents: list, show, download the original and attachments, verify. */
import type { Readable } from 'node:stream';
import type { Command } from 'commander';
import type { DocumentView, VerifyResult } from '../../archive/index.ts';
import { AppError } from '../../errors/index.ts';
import type { Io } from '../context.ts';
import { appAndOrg, cabinetNamed, clean, formatAddress, jsonLine, parseInteger, shortDate, table, type Column } from '../format.ts';

/** Copies a stream to stdout unchanged, chunk by chunk, waiting for each write. */
async function copyToStdout(io: Io, stream: Readable): Promise<void> {
  for await (const chunk of stream) await io.writeRaw(chunk as Buffer);
}

function showDocument(io: Io, d: DocumentView, cabinetName: string): void {
  const addresses = (list: DocumentView['to']) => list.map(formatAddress).join(', ');
  const fields: Array<[string, string]> = [
    ['ID', d.id],
    ['Cabinet', cabinetName],
    ['Subject', d.subject],
    ['From', formatAddress(d.from)],
    ['To', addresses(d.to)],
    ['Cc', addresses(d.cc)],
    ['Date', d.date ?? '(none)'],
    ['Message-ID', d.messageId ?? '(none)'],
    ['In-Reply-To', d.inReplyTo ?? ''],
    ['References', d.references.join(' ')],
    ['Size', `${d.size} bytes`],
    ['SHA-256', d.sha256],
    ['Source', d.source],
    ['Archived', d.archivedAt],
  ];
  if (d.contentDiffers) fields.push(['Note', 'another document in this cabinet has the same Message-ID but different bytes']);
  for (const w of d.warnings) fields.push(['Warning', w]);
  const width = Math.max(...fields.map(([k]) => k.length));
  for (const [k, v] of fields) if (v !== '') io.out(`${(k + ':').padEnd(width + 1)} ${clean(v)}`);
  const attachments = d.attachments ?? [];
  io.out('');
  if (attachments.length === 0) {
    io.out('No attachments.');
  } else {
    io.out(`Attachments (save one with: mailroom doc attachment ${d.id} <index>):`);
    table(io, [
      { header: 'INDEX', value: (a) => String(a.index) },
      { header: 'NAME', value: (a) => a.filename || '(no name)', max: 60 },
      { header: 'TYPE', value: (a) => a.contentType },
      { header: 'SIZE', value: (a) => String(a.size) },
      { header: 'SHA-256', value: (a) => a.sha256 },
    ], attachments);
  }
  if (d.preview) {
    io.out('');
    io.out(clean(d.preview));
  }
}

export function registerDocCommands(program: Command, io: Io): void {
  const doc = program.command('doc').description('archived documents of the organisation given by --org');

  doc
    .command('list')
    .description('list every document, oldest archived first')
    .option('--cabinet <name>', 'only this file cabinet')
    .option('--json', 'print JSON Lines {"id","messageId","sha256","subject","source"}')
    .action(async (opts: { cabinet?: string; json?: boolean }, cmd: Command) => {
      const { app, org } = await appAndOrg(io, cmd);
      const cabinet = opts.cabinet === undefined ? undefined : await cabinetNamed(app, org, opts.cabinet);
      const documents = app.archive.listDocuments(org.id, cabinet?.id);
      if (opts.json) {
        // Streamed: an archive may hold millions of documents.
        for await (const d of documents) jsonLine(io, { id: d.id, messageId: d.messageId, sha256: d.sha256, subject: d.subject, source: d.source });
        return;
      }
      // Printed a page at a time with fixed column widths, so the columns line up throughout.
      const columns: Column<DocumentView>[] = [
        { header: 'DATE', value: (d) => shortDate(d.date), max: 16 },
        { header: 'FROM', value: (d) => formatAddress(d.from), max: 32 },
        { header: 'SUBJECT', value: (d) => d.subject, max: 50 },
        { header: 'ID', value: (d) => d.id },
      ];
      let count = 0;
      let page: DocumentView[] = [];
      for await (const d of documents) {
        page.push(d);
        if (page.length === 500) {
          table(io, columns, page, { header: count === 0, fixed: true });
          count += page.length;
          page = [];
        }
      }
      if (page.length > 0) table(io, columns, page, { header: count === 0, fixed: true });
      count += page.length;
      io.out(count === 0 ? 'No documents.' : `${count} document${count === 1 ? '' : 's'}.`);
    });

  doc
    .command('show <id>')
    .description('show a document: every index field and its attachments')
    .option('--json', 'print the document as JSON')
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      const { app, org } = await appAndOrg(io, cmd);
      const d = await app.archive.getDocument(org.id, id);
      const cabinet = await app.archive.cabinetById(org.id, d.cabinetId);
      if (opts.json) jsonLine(io, { ...d, cabinet: cabinet.name, attachments: d.attachments ?? [] });
      else showDocument(io, d, cabinet.name);
    });

  doc
    .command('eml <id>')
    .description('write the original message, byte for byte, to stdout (e.g. > message.eml)')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const { app, org } = await appAndOrg(io, cmd);
      const { stream } = await app.archive.openRaw(org.id, id);
      await copyToStdout(io, stream);
    });

  doc
    .command('attachment <id> <index>')
    .description('write one attachment, byte for byte, to stdout (index from 0, as doc show lists them)')
    .action(async (id: string, index: string, _opts: unknown, cmd: Command) => {
      const n = parseInteger('The attachment index', index, 0, 1_000_000);
      const { app, org } = await appAndOrg(io, cmd);
      const { stream } = await app.archive.openAttachment(org.id, id, n);
      await copyToStdout(io, stream);
    });

  doc
    .command('verify [id]')
    .description('re-read stored bytes and compare with their SHA-256; exit code 1 when any problem is found')
    .option('--all', 'verify every document of the organisation')
    .option('--json', 'print JSON Lines {"id","ok","problems"}')
    .action(async (id: string | undefined, opts: { all?: boolean; json?: boolean }, cmd: Command) => {
      if ((id === undefined) === !opts.all) {
        throw new AppError('VALIDATION_FAILED', 'Name one document to verify (mailroom doc verify <id>) or use --all, not both.');
      }
      const { app, org } = await appAndOrg(io, cmd);
      let checked = 0;
      let failed = 0;
      const report = (r: VerifyResult) => {
        checked++;
        if (!r.ok) failed++;
        if (opts.json) jsonLine(io, r);
        else if (r.ok) io.out(`ok       ${r.id}`);
        else for (const p of r.problems) io.out(`PROBLEM  ${r.id}: ${p}`);
      };
      if (id !== undefined) {
        report(await app.archive.verify(org.id, id));
      } else {
        // listDocuments pages with short queries, so no cursor stays open while blobs are read.
        for await (const d of app.archive.listDocuments(org.id)) report(await app.archive.verify(org.id, d.id));
      }
      if (!opts.json) {
        io.out(failed === 0 ? `Verified ${checked} document${checked === 1 ? '' : 's'}: all intact.` : `Verified ${checked} document${checked === 1 ? '' : 's'}: ${failed} with problems.`);
      }
      if (failed > 0) {
        if (!opts.json) io.err(`error [BLOB_CORRUPT]: ${failed} document${failed === 1 ? '' : 's'} failed verification; restore the affected files under the blob store from a backup.`);
        process.exitCode = 1;
      }
    });
}
