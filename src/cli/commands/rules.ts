/** Import rules: which folders of which mailbox go into which cabinet, and what happens after. */
import type { Command } from 'commander';
import type { Io } from '../context.ts';
import { appAndOrg, cabinetNamed, jsonLine, table } from '../format.ts';
import { parseAction, parseDuration, parseMatch } from '../options.ts';
import type { FieldMapping, Rule, RuleFilters } from '../../connect/index.ts';
import { AppError } from '../../errors/index.ts';
import type { App } from '../../app.ts';

function describeAction(r: Rule): string {
  const a = r.action;
  return a.type === 'move' ? `move:${a.folder}` : a.type === 'keyword' ? `keyword:${a.keyword}` : a.type;
}

async function describe(app: App, orgId: string, r: Rule): Promise<string[]> {
  const account = await app.connect.accounts.byId(orgId, r.accountId);
  const cabinet = await app.archive.cabinetById(orgId, r.cabinetId);
  return [
    `${r.name} (${r.enabled ? 'enabled' : 'disabled'})`,
    `  id: ${r.id}`,
    `  from: account "${account.name}", folders ${r.folders.map((f) => JSON.stringify(f)).join(', ')}${r.includeSubfolders ? ' with subfolders' : ''}`,
    `  into: cabinet "${cabinet.name}"`,
    `  filters: ${Object.keys(r.filters).length === 0 ? 'none' : JSON.stringify(r.filters)}`,
    `  fields: ${Object.keys(r.mapping).length === 0 ? 'none' : JSON.stringify(r.mapping)}`,
    `  after archiving: ${describeAction(r)}`,
    `  schedule: every ${r.intervalSeconds} s${r.useIdle ? ' and at once on IMAP IDLE' : ''}`,
  ];
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function registerRuleCommands(program: Command, io: Io): void {
  const rules = program.command('rules').description('import rules: mailbox folders → file cabinet');

  rules
    .command('add <name>')
    .requiredOption('--account <account>', 'the mail account to read')
    .requiredOption('--folder <folder>', 'a folder to read (repeatable)', collect)
    .requiredOption('--cabinet <cabinet>', 'the file cabinet to archive into')
    .option('--subfolders', 'also read the subfolders of each folder')
    .option('--after <action>', 'after archiving: none, seen, flag, keyword:NAME, move:FOLDER or delete', 'none')
    .option('--from <pattern>', 'only senders containing this text, or matching /regex/')
    .option('--to <pattern>', 'only recipients containing this text, or matching /regex/')
    .option('--subject <pattern>', 'only subjects containing this text, or matching /regex/')
    .option('--has-attachment', 'only messages with attachments')
    .option('--attachment-type <type>', 'only messages with an attachment of this extension or MIME type (repeatable)', collect)
    .option('--max-age <duration>', 'only messages received within this time, e.g. 30d')
    .option('--unread', 'only unread messages')
    .option('--field <name=value>', 'cabinet index field: a fixed value, or @subject, @from.address, @from.name, @to, @date, @messageId, @folder, @account (repeatable)', collect)
    .option('--interval <duration>', 'how often to run, e.g. 5m', '5m')
    .option('--no-idle', 'do not use IMAP IDLE for near-real-time archiving')
    .option('--disabled', 'create the rule disabled')
    .option('--json', 'print the rule as JSON')
    .action(async (name: string, o: Record<string, unknown>, cmd: Command) => {
      const { app, org } = await appAndOrg(io, cmd);
      const account = await app.connect.accounts.byName(org.id, String(o['account']));
      const cabinet = await cabinetNamed(app, org, String(o['cabinet']));
      // Shapes are checked by the rule schema (zod) in connect; here they are only assembled.
      const mapping: Record<string, { from: string } | { value: string }> = {};
      for (const f of (o['field'] as string[] | undefined) ?? []) {
        const eq = f.indexOf('=');
        const key = eq > 0 ? f.slice(0, eq) : '';
        const value = eq > 0 ? f.slice(eq + 1) : '';
        if (!key) throw new AppError('VALIDATION_FAILED', `--field must look like name=value or name=@subject, not "${f}".`);
        mapping[key] = value.startsWith('@') ? { from: value.slice(1) } : { value };
      }
      const filters: RuleFilters = {};
      if (o['from']) filters['from'] = parseMatch(String(o['from']));
      if (o['to']) filters['to'] = parseMatch(String(o['to']));
      if (o['subject']) filters['subject'] = parseMatch(String(o['subject']));
      if (o['hasAttachment']) filters['hasAttachment'] = true;
      if (o['attachmentType']) filters['attachmentTypes'] = o['attachmentType'] as string[];
      if (o['maxAge']) filters['maxAgeDays'] = Math.max(1, Math.ceil(parseDuration('--max-age', String(o['maxAge'])) / 86400));
      if (o['unread']) filters['unreadOnly'] = true;
      const rule = await app.connect.rules.create(org.id, {
        name,
        accountId: account.id,
        cabinetId: cabinet.id,
        folders: o['folder'] as string[],
        includeSubfolders: Boolean(o['subfolders']),
        filters,
        mapping: mapping as FieldMapping,
        action: parseAction(String(o['after'])),
        intervalSeconds: parseDuration('--interval', String(o['interval'])),
        useIdle: o['idle'] !== false,
        enabled: !o['disabled'],
      });
      if (o['json']) jsonLine(io, rule);
      else for (const l of ['Created import rule:', ...(await describe(app, org.id, rule))]) io.out(l);
    });

  rules
    .command('list')
    .option('--json', 'print JSON Lines')
    .action(async (o: { json?: boolean }, cmd: Command) => {
      const { app, org } = await appAndOrg(io, cmd);
      const list = await app.connect.rules.list(org.id);
      if (o.json) for (const r of list) jsonLine(io, r);
      else if (list.length === 0) io.out('No import rules yet; add one with: mailroom rules add <name> --account A --folder F --cabinet C');
      else
        table(io, [
          { header: 'NAME', value: (r) => r.name, max: 40 },
          { header: 'STATE', value: (r) => (r.enabled ? 'enabled' : 'disabled') },
          { header: 'FOLDERS', value: (r) => r.folders.join(', '), max: 40 },
          { header: 'AFTER', value: (r) => describeAction(r) },
          { header: 'EVERY', value: (r) => `${r.intervalSeconds}s` },
        ], list);
    });

  rules
    .command('show <name>')
    .option('--json', 'print JSON')
    .action(async (name: string, o: { json?: boolean }, cmd: Command) => {
      const { app, org } = await appAndOrg(io, cmd);
      const r = await app.connect.rules.byName(org.id, name);
      if (o.json) jsonLine(io, r);
      else for (const l of await describe(app, org.id, r)) io.out(l);
    });

  for (const [verb, enabled] of [['enable', true], ['disable', false]] as const) {
    rules.command(`${verb} <name>`).action(async (name: string, _o: unknown, cmd: Command) => {
      const { app, org } = await appAndOrg(io, cmd);
      const r = await app.connect.rules.byName(org.id, name);
      await app.connect.rules.setEnabled(org.id, r.id, enabled);
      io.out(`Import rule "${name}" is ${enabled ? 'enabled' : 'disabled'}.`);
    });
  }

  rules.command('remove <name>').action(async (name: string, _o: unknown, cmd: Command) => {
    const { app, org } = await appAndOrg(io, cmd);
    const r = await app.connect.rules.byName(org.id, name);
    await app.connect.rules.remove(org.id, r.id);
    io.out(`Removed import rule "${name}" (its archived documents stay).`);
  });
}
