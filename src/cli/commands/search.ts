/** Full-text search over the archive. */
import type { Command } from 'commander';
import type { Io } from '../context.ts';
import { appAndOrg, cabinetNamed, formatAddress, jsonLine, parseDate, parseInteger, shortDate, table } from '../format.ts';

interface SearchOptions {
  cabinet?: string;
  from?: string;
  to?: string;
  after?: string;
  before?: string;
  hasAttachment?: boolean;
  limit: string;
  json?: boolean;
}

export function registerSearchCommand(program: Command, io: Io): void {
  program
    .command('search <query>')
    .description('search archived mail in full text, best matches first ("" for the newest documents)')
    .option('--cabinet <name>', 'only this file cabinet')
    .option('--from <text>', 'sender name or address contains this')
    .option('--to <text>', 'a To/Cc name or address contains this')
    .option('--after <date>', 'sent on or after this date (YYYY-MM-DD or ISO 8601, UTC)')
    .option('--before <date>', 'sent on or before this date (a day includes the whole day)')
    .option('--has-attachment', 'only documents with attachments')
    .option('--limit <n>', 'at most this many results (1-1000)', '50')
    .option('--json', 'print JSON Lines {"id","subject","from","date"}')
    .action(async (query: string, opts: SearchOptions, cmd: Command) => {
      const limit = parseInteger('--limit', opts.limit, 1, 1000);
      const dateFrom = opts.after === undefined ? undefined : parseDate('--after', opts.after);
      const dateTo = opts.before === undefined ? undefined : parseDate('--before', opts.before, true);
      const { app, org } = await appAndOrg(io, cmd);
      const cabinet = opts.cabinet === undefined ? undefined : await cabinetNamed(app, org, opts.cabinet);
      const result = await app.archive.search(org.id, {
        q: query,
        cabinetId: cabinet?.id,
        from: opts.from,
        to: opts.to,
        dateFrom,
        dateTo,
        hasAttachment: opts.hasAttachment ? true : undefined,
        limit,
      });
      if (opts.json) {
        for (const d of result.documents) jsonLine(io, { id: d.id, subject: d.subject, from: d.from, date: d.date });
        return;
      }
      if (result.documents.length === 0) {
        io.out('No documents found.');
        return;
      }
      table(io, [
        { header: 'DATE', value: (d) => shortDate(d.date) },
        { header: 'FROM', value: (d) => formatAddress(d.from), max: 40 },
        { header: 'SUBJECT', value: (d) => d.subject, max: 60 },
        { header: 'ID', value: (d) => d.id },
      ], result.documents);
      const shown = result.documents.length;
      io.out(shown < result.total ? `${shown} of ${result.total} documents (raise --limit to see more).` : `${shown} document${shown === 1 ? '' : 's'}.`);
    });
}
