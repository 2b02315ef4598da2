/** `mailroom import <path>`: archive the messages of an .eml file, a directory, an mbox or a Maildir. */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import {
  addToSummary,
  emptySummary,
  importMessages,
  openSource,
  type ImportResult,
  type ImportSummary,
  type ReaderOptions,
  type SourceKind,
} from '../../archive/import/index.ts';
import { resolveOrg, useApp, type Io } from '../context.ts';
import { createProgress } from '../progress.ts';

const DEFAULT_CABINET = 'Mail';
/** Skipped files named one by one before only their number is reported. */
const SKIPS_SHOWN = 20;
/** JSON lines written to stdout at once (and awaited, so a slow reader slows the import). */
const JSON_FLUSH_LINES = 200;

/** The JSON Lines record of one message; the shape is a contract with scripts. */
export function resultJson(r: ImportResult): Record<string, unknown> {
  if (!r.ok) return { file: r.file, error: { code: r.error.code, message: r.error.message } };
  const p = r.parsed;
  return {
    file: r.file,
    id: r.id,
    messageId: p.messageId,
    subject: p.subject,
    from: p.from === null ? null : { name: p.from.name, address: p.from.address },
    to: p.to.map((a) => ({ name: a.name, address: a.address })),
    date: p.date,
    attachments: p.attachments.map((a) => ({ filename: a.filename, contentType: a.contentType, size: a.size })),
    duplicate: r.duplicate,
    warnings: p.warnings,
  };
}

/** Names from mail and file systems may hold control characters; never send them to a terminal. */
function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/gu, '?');
}

const KIND_NAMES: Record<SourceKind, string> = { eml: 'message file', mbox: 'mbox', maildir: 'Maildir', directory: 'directory' };

function summaryLines(s: ImportSummary, seconds: number, where: string): string[] {
  const rate = seconds > 0 ? ` (${Math.round(s.messages / seconds)} msgs/s, ${(s.bytes / 1024 / 1024 / seconds).toFixed(1)} MB/s)` : '';
  return [
    `Read ${s.messages} message${s.messages === 1 ? '' : 's'} from ${where} in ${seconds.toFixed(1)} s${rate}:`,
    `  imported:   ${s.imported}`,
    `  duplicates: ${s.duplicates}${s.duplicates > 0 ? ' (already in the cabinet; reported, not stored again)' : ''}`,
    `  flagged:    ${s.contentDiffers}${s.contentDiffers > 0 ? ' (same Message-ID as an archived message but different content; both kept)' : ''}`,
    `  failed:     ${s.failed}${s.failed > 0 ? ' (listed above; fix the cause and import again: archived messages are reported as duplicates)' : ''}`,
  ];
}

export function registerImportCommand(program: Command, io: Io): void {
  program
    .command('import <path>')
    .description('archive the messages of an .eml file, a directory of them, an mbox file or a Maildir (detected automatically)')
    .option('--cabinet <name>', 'file cabinet to archive into (created if missing)', DEFAULT_CABINET)
    .option('--json', 'print one JSON object per message on stdout (JSON Lines), nothing else')
    .action(async (sourcePath: string, opts: { cabinet: string; json?: boolean }, cmd: Command) => {
      const started = Date.now();
      let skipped = 0;
      const log: { line: (text: string) => void } = { line: (text) => io.err(text) };
      const readerOptions: ReaderOptions = {
        onSkip: (file, reason) => {
          skipped++;
          if (skipped <= SKIPS_SHOWN) log.line(`skipped ${printable(file)}: ${reason}`);
        },
      };
      // The source is checked before the app is opened, so a mistyped path changes nothing.
      const source = await openSource(sourcePath, readerOptions);

      const app = await useApp(io);
      const orgOption: unknown = cmd.optsWithGlobals()['org'];
      const org = await resolveOrg(app, typeof orgOption === 'string' ? orgOption : undefined);
      const cabinet = await app.archive.ensureCabinet(org.id, opts.cabinet);
      // Huge mbox messages are spilled next to the data, not to a possibly memory-backed /tmp.
      readerOptions.spillDir = path.join(app.config.dataDir, 'tmp');
      await mkdir(readerOptions.spillDir, { recursive: true });

      const totals = io.stderrIsTty ? await source.totals() : { messages: null, bytes: null };
      const progress = createProgress(io, totals);
      log.line = (text) => progress.log(text);

      const summary = emptySummary();
      let pending: string[] = [];
      const flush = async (): Promise<void> => {
        if (pending.length === 0) return;
        const text = pending.join('\n') + '\n';
        pending = [];
        await io.writeRaw(text);
      };
      try {
        const results = importMessages(app.archive, source.messages(), {
          orgId: org.id,
          cabinetId: cabinet.id,
          sourcePrefix: 'import:',
          onProgress: (p) => progress.update(p),
        });
        for await (const r of results) {
          addToSummary(summary, r);
          if (opts.json) {
            pending.push(JSON.stringify(resultJson(r)));
            if (pending.length >= JSON_FLUSH_LINES) await flush();
          } else if (!r.ok) {
            progress.log(`failed: ${printable(r.file)}: [${r.error.code}] ${printable(r.error.message)}`);
          }
        }
        await flush();
      } finally {
        progress.stop();
      }

      if (skipped > SKIPS_SHOWN) io.err(`skipped ${skipped - SKIPS_SHOWN} more files that are not mail`);
      const seconds = (Date.now() - started) / 1000;
      const where = `${KIND_NAMES[source.kind]} ${printable(sourcePath)} into cabinet "${printable(cabinet.name)}" of organisation "${printable(org.name)}"`;
      if (!opts.json) for (const line of summaryLines(summary, seconds, where)) io.out(line);
      else if (io.stderrIsTty) for (const line of summaryLines(summary, seconds, where)) io.err(line);
      if (summary.failed > 0) process.exitCode = 1;
    });
}
