/** Running import rules now, their ledger, and browsing and archiving a mailbox by hand. */
import type { Command } from 'commander';
import type { Io } from '../context.ts';
import { appAndOrg, cabinetNamed, clean, formatAddress, jsonLine, parseInteger, shortDate, table } from '../format.ts';
import { createProgress } from '../progress.ts';


export function registerSyncCommands(program: Command, io: Io): void {
  program
    .command('sync <rule>')
    .description('run an import rule once, now')
    .option('--json', 'print one summary line as JSON')
    .action(async (ruleName: string, o: { json?: boolean }, cmd: Command) => {
      const { app, org } = await appAndOrg(io, cmd);
      const progress = createProgress(io, { messages: null, bytes: null });
      let summary;
      try {
        summary = await app.connect.sync(org.id, ruleName, (p) => progress.update({ messages: p.fetched, bytes: p.bytes, sourceBytes: p.bytes }));
      } finally {
        progress.stop();
      }
      const { busy, ...counts } = summary;
      if (o.json) jsonLine(io, counts);
      else {
        io.out(`${summary.rule}: ${summary.archived} archived, ${summary.duplicates} already archived, ${summary.failed} failed, ${summary.skipped} left out by filters (${summary.fetched} fetched in ${summary.seconds} s).`);
        if (summary.failed > 0) io.out(`See the failures with: mailroom ledger "${summary.rule}" --failed`);
      }
      if (busy.length > 0) io.err(`note: another run was already syncing ${busy.map((f) => JSON.stringify(f)).join(', ')}; those folders were left to it.`);
      if (summary.failed > 0) process.exitCode = 1;
    });

  program
    .command('ledger <rule>')
    .description("what an import rule did with each message: archived, duplicate, or failed with the reason")
    .option('--failed', 'only failures')
    .option('--reset', 'forget the entries (with --failed: only failures, retried from scratch; else all, and the next run rescans — nothing is archived twice)')
    .option('--json', 'print JSON Lines')
    .action(async (ruleName: string, o: { failed?: boolean; reset?: boolean; json?: boolean }, cmd: Command) => {
      const { app, org } = await appAndOrg(io, cmd);
      if (o.reset) {
        const r = await app.connect.resetLedger(org.id, ruleName, { failedOnly: Boolean(o.failed) });
        if (o.json) jsonLine(io, r);
        else io.out(`Removed ${r.removed} ledger entries of "${ruleName}"${o.failed ? ' (failures only)' : ''}.`);
        return;
      }
      const l = await app.connect.ledger(org.id, ruleName, { failedOnly: Boolean(o.failed) });
      if (o.json) {
        for (const e of l.entries) jsonLine(io, e);
        return;
      }
      io.out(`${l.rule}: ${l.counts.archived} archived, ${l.counts.duplicate} duplicates, ${l.counts.failed} failed`);
      table(io, [
        { header: 'FOLDER', value: (e) => e.folder, max: 30 },
        { header: 'UID', value: (e) => `${e.uidValidity}:${e.uid}` },
        { header: 'STATUS', value: (e) => e.status },
        { header: 'TRIES', value: (e) => String(e.attempts) },
        { header: 'SUBJECT', value: (e) => e.subject, max: 40 },
        { header: 'REASON / DOCUMENT', value: (e) => e.reason ?? e.documentId ?? '' },
      ], l.entries);
    });

  const mailbox = program.command('mailbox').description('browse a mailbox and archive messages by hand');

  mailbox
    .command('ls <account> [folder]')
    .description('list the folders of a mailbox, or the messages of a folder (newest first)')
    .option('--page <n>', 'page number, from 1', '1')
    .option('--limit <n>', 'messages per page', '50')
    .option('--json', 'print JSON Lines')
    .action(async (accountName: string, folder: string | undefined, o: { page: string; limit: string; json?: boolean }, cmd: Command) => {
      const { app, org } = await appAndOrg(io, cmd);
      const { source } = await app.connect.openAccount(org.id, accountName);
      try {
        if (folder === undefined) {
          const folders = await app.connect.mailbox.folders(source);
          if (o.json) for (const f of folders) jsonLine(io, { path: f.path, name: f.displayPath, specialUse: f.specialUse, selectable: f.selectable });
          else table(io, [
            { header: 'FOLDER', value: (f) => f.displayPath },
            { header: 'SPECIAL', value: (f) => f.specialUse ?? '' },
          ], folders);
          return;
        }
        const limit = parseInteger('--limit', o.limit, 1, 1000);
        const page = parseInteger('--page', o.page, 1, 1_000_000);
        const r = await app.connect.mailbox.list(org.id, source, folder, { offset: (page - 1) * limit, limit });
        if (o.json) {
          for (const m of r.messages) {
            jsonLine(io, { uid: m.uid, from: m.from, subject: m.subject, date: m.date, size: m.size, hasAttachments: m.hasAttachments, archived: m.archived, seen: m.seen });
          }
          return;
        }
        io.out(`${folder}: ${r.total} messages, page ${page} of ${Math.max(1, Math.ceil(r.total / limit))}`);
        table(io, [
          { header: 'UID', value: (m) => String(m.uid) },
          { header: 'DATE', value: (m) => shortDate(m.date ?? m.receivedAt) },
          { header: 'FROM', value: (m) => formatAddress(m.from), max: 30 },
          { header: 'SUBJECT', value: (m) => clean(m.subject), max: 50 },
          { header: 'SIZE', value: (m) => `${Math.ceil(m.size / 1024)}K` },
          { header: 'ATT', value: (m) => (m.hasAttachments ? 'yes' : '') },
          { header: 'ARCHIVED', value: (m) => (m.archived ? 'yes' : '') },
        ], r.messages);
      } finally {
        await source.close();
      }
    });

  mailbox
    .command('archive <account> <folder> <uid...>')
    .description('archive the chosen messages (by UID) into a cabinet')
    .requiredOption('--cabinet <cabinet>', 'the file cabinet')
    .option('--json', 'print JSON Lines')
    .action(async (accountName: string, folder: string, uids: string[], o: { cabinet: string; json?: boolean }, cmd: Command) => {
      const { app, org } = await appAndOrg(io, cmd);
      const cabinet = await cabinetNamed(app, org, o.cabinet);
      const numbers = uids.map((u) => parseInteger('UID', u, 1, 2 ** 32 - 1));
      const { source, accountName: name } = await app.connect.openAccount(org.id, accountName);
      let results;
      try {
        results = await app.connect.mailbox.archive(org.id, source, name, folder, numbers, cabinet.id);
      } finally {
        await source.close();
      }
      for (const r of results) {
        if (o.json) jsonLine(io, r);
        else if (r.ok) io.out(`${r.uid}: ${r.duplicate ? 'already archived as' : 'archived as'} ${r.id} (${clean(r.subject)})`);
        else io.out(`${r.uid}: failed [${r.error.code}] ${r.error.message}`);
      }
      if (results.some((r) => !r.ok)) process.exitCode = 1;
    });
}
