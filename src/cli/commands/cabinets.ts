/** File cabinets of an organisation. */
import type { Command } from 'commander';
import type { Io } from '../context.ts';
import { appAndOrg, jsonLine, shortDate, table } from '../format.ts';

export function registerCabinetCommands(program: Command, io: Io): void {
  const cabinets = program.command('cabinets').description('file cabinets of the organisation given by --org');

  cabinets
    .command('add <name>')
    .description('create a file cabinet')
    .option('--json', 'print the cabinet as JSON')
    .action(async (name: string, opts: { json?: boolean }, cmd: Command) => {
      const { app, org } = await appAndOrg(io, cmd);
      const cabinet = await app.archive.createCabinet(org.id, name);
      if (opts.json) jsonLine(io, cabinet);
      else io.out(`Created file cabinet "${cabinet.name}" in organisation "${org.name}" (${cabinet.id}).`);
    });

  cabinets
    .command('list')
    .description('list file cabinets with their document counts')
    .option('--json', 'print JSON Lines')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const { app, org } = await appAndOrg(io, cmd);
      const list = await app.archive.listCabinets(org.id);
      if (opts.json) {
        for (const c of list) jsonLine(io, c);
      } else if (list.length === 0) {
        io.out(`Organisation "${org.name}" has no file cabinets; create one with: mailroom cabinets add <name>`);
      } else {
        table(io, [
          { header: 'NAME', value: (c) => c.name, max: 60 },
          { header: 'DOCUMENTS', value: (c) => String(c.documentCount ?? 0) },
          { header: 'CREATED', value: (c) => shortDate(c.createdAt) },
          { header: 'ID', value: (c) => c.id },
        ], list);
      }
    });
}
