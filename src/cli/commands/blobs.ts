/** Operator commands for the blob store under <data>/blobs, where the original messages are. */
import type { Command } from 'commander';
import { useApp, type Io } from '../context.ts';
import { jsonLine } from '../format.ts';
import { createProgress, type Progress } from '../progress.ts';

export function registerBlobCommands(program: Command, io: Io): void {
  const blobs = program.command('blobs').description('the blob store under <data>/blobs (the original messages)');

  blobs
    .command('reindex')
    .description('rebuild the index of the pack files from the packs themselves (each record names its content), e.g. after the index was lost or damaged; adds what is missing, moves it off a damaged record to an intact copy in another pack, and reports records that do not check out')
    .option('--json', 'print the result as one JSON line')
    .action(async (opts: { json?: boolean }) => {
      const app = await useApp(io);
      let progress: Progress | null = null;
      const result = await app.blobs
        .reindex((p) => {
          progress ??= createProgress(io, { messages: null, bytes: p.totalBytes, label: 'reindexing' });
          progress.update({ messages: p.records, bytes: p.bytes, sourceBytes: p.bytes });
        })
        .finally(() => progress?.stop());
      const damaged = result.problems.filter((p) => p.kind === 'damaged');
      // A damaged record whose blob another pack holds intact loses nothing (the index points
      // at the copy); any other damage may have.
      const lost = damaged.filter((p) => !p.intactCopy);
      if (opts.json) jsonLine(io, result);
      else {
        for (const p of result.problems) io.out(`${lost.includes(p) ? 'PROBLEM' : 'NOTE   '}  ${p.pack} at byte ${p.at}: ${p.reason}`);
        io.out(
          `Read ${result.records} record${result.records === 1 ? '' : 's'} in ${result.packs} pack${result.packs === 1 ? '' : 's'}; ${result.added} added to the index` +
            (result.repointed > 0 ? `, ${result.repointed} moved from a damaged record to an intact copy.` : '.'),
        );
        if (damaged.length > lost.length) {
          const n = damaged.length - lost.length;
          io.err(`warning: ${n} damaged record${n === 1 ? '' : 's'} in the pack files, each with an intact copy in another pack (nothing is lost); bytes changed on the disk under the data directory: check that disk.`);
        }
      }
      if (lost.length > 0) {
        if (!opts.json) io.err(`error [BLOB_CORRUPT]: ${lost.length} damaged record${lost.length === 1 ? '' : 's'} in the pack files without an intact copy; what checks out is indexed, the rest needs its pack restored from a backup (then run this again).`);
        process.exitCode = 1;
      }
    });
}
