/** Sending: `send`, the outbox (`outbox show|list|cancel|retry`) and sending components (`components set|list`). */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Command } from 'commander';
import type { App } from '../../app.ts';
import { AppError } from '../../errors/index.ts';
import { OUTBOX_STATUSES, type ComponentView, type DeliveryOutcome, type Outbox, type OutboxMessageDetail } from '../../outbox/index.ts';
import type { Io } from '../context.ts';
import { appAndOrg, clean, jsonLine, shortDate, table } from '../format.ts';


const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** Prints where a message stands after --wait (or `services test`); failed sets exit code 1. */
export function printOutcome(io: Io, o: DeliveryOutcome, json: boolean): void {
  if (json) jsonLine(io, { id: o.id, status: o.status, reply: o.reply });
  else if (o.status === 'sent') io.out(`Sent: ${clean(o.reply ?? '')}`);
  else if (o.status === 'deferred') io.out(`Deferred (will be retried): ${clean(o.reply ?? '')}\n  follow it with: mailroom outbox show ${o.id}`);
  else if (o.status === 'failed') io.out(`Failed: ${clean(o.reply ?? '')}`);
  else io.out(`Status: ${o.status}; follow it with: mailroom outbox show ${o.id}`);
  if (o.status === 'failed') process.exitCode = 1;
}

function showMessage(io: Io, m: OutboxMessageDetail): void {
  const fields: Array<[string, string]> = [
    ['ID', m.id],
    ['Status', m.status],
    ['Reply', m.reply ?? ''],
    ['Code', m.code ?? ''],
    ['Attempts', String(m.attempts)],
    ['Subject', m.subject],
    ['From', m.from],
    ['To', m.to.join(', ')],
    ['Message-ID', m.messageId],
    ['Component', m.component],
    ['Size', `${m.size} bytes`],
    ['Queued', m.createdAt],
    ['Sent', m.sentAt ?? ''],
    ['Queue id', m.queueId ?? ''],
    ['Next attempt', m.nextAttemptAt ?? ''],
  ];
  const width = Math.max(...fields.map(([k]) => k.length));
  for (const [k, v] of fields) if (v !== '') io.out(`${(k + ':').padEnd(width + 1)} ${clean(v)}`);
  io.out('');
  io.out('Events:');
  table(io, [
    { header: 'AT', value: (e) => e.at.replace('T', ' ').slice(0, 19) },
    { header: 'EVENT', value: (e) => e.type },
    { header: 'ATTEMPT', value: (e) => (e.attempt === null ? '' : String(e.attempt)) },
    {
      header: 'DETAIL',
      value: (e) =>
        [e.code ? `[${e.code}]` : '', e.message ?? '', e.reply && !(e.message ?? '').includes(e.reply) ? `reply: ${e.reply}` : ''].filter((x) => x !== '').join(' '),
      max: 400,
    },
  ], m.events);
}

function describeComponent(c: ComponentView): string {
  const assigned = c.service ? `${c.service.name}${c.enabled ? '' : ' (disabled)'}` : '(none)';
  const effective = c.effective.source === 'none' ? 'NOT CONFIGURED' : `${c.effective.service} <${c.effective.from}>`;
  return `${c.component.padEnd(13)} service: ${assigned}; sends through: ${effective}`;
}

export function registerOutboxCommands(program: Command, io: Io): void {
  program
    .command('send')
    .description('send workflow mail through the outbox (composed and stored before the first attempt)')
    .option('--service <name>', "SMTP service to send through (default: the organisation's workflows component)")
    .option('--from <address>', "sender, e.g. 'Name <a@example.com>' (default: the service's sender)")
    .option('--to <address>', 'recipient (repeat for more)', collect, [])
    .option('--cc <address>', 'copy recipient (repeatable)', collect, [])
    .option('--bcc <address>', 'blind copy recipient (repeatable; envelope only)', collect, [])
    .requiredOption('--subject <text>', 'subject')
    .option('--text <text>', 'plain-text body')
    .option('--html <html>', 'HTML body')
    .option('--attach <file...>', 'attach files (repeatable)')
    .option('--wait', 'send it now, in this process, and wait until it is sent, failed or deferred')
    .option('--json', 'print {"id","status","reply"}')
    .action(async (o: { service?: string; from?: string; to: string[]; cc: string[]; bcc: string[]; subject: string; text?: string; html?: string; attach?: string[]; wait?: boolean; json?: boolean }, cmd: Command) => {
      if (o.to.length === 0 && o.cc.length === 0 && o.bcc.length === 0) throw new AppError('VALIDATION_FAILED', 'Name at least one recipient with --to ADDRESS.');
      if (o.text === undefined && o.html === undefined) throw new AppError('VALIDATION_FAILED', 'Give the message a body with --text TEXT (and/or --html HTML).');
      const files = [];
      for (const file of o.attach ?? []) {
        try {
          files.push({ filename: basename(file), content: await readFile(file) });
        } catch (err) {
          throw new AppError('VALIDATION_FAILED', `Cannot read the attachment ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}.`, { cause: err });
        }
      }
      const { app, org } = await appAndOrg(io, cmd);
      const outbox = app.outbox;
      const { id, messageId } = await outbox.send(org.id, {
        to: o.to,
        cc: o.cc,
        bcc: o.bcc,
        subject: o.subject,
        ...(o.text !== undefined ? { text: o.text } : {}),
        ...(o.html !== undefined ? { html: o.html } : {}),
        files,
        ...(o.service !== undefined ? { service: o.service } : {}),
        ...(o.from !== undefined ? { from: o.from } : {}),
      });
      if (!o.wait) {
        if (o.json) jsonLine(io, { id, status: 'queued', reply: null });
        else io.out(`Queued ${id} (Message-ID ${messageId}); the server's worker sends it. Follow it with: mailroom outbox show ${id}`);
        return;
      }
      printOutcome(io, await outbox.waitFor(org.id, id), Boolean(o.json));
    });

  const outbox = program.command('outbox').description('outgoing messages of the organisation given by --org');

  outbox
    .command('show <id>')
    .description('status, server reply and the delivery log of one message')
    .option('--json', 'print JSON')
    .action(async (id: string, o: { json?: boolean }, cmd: Command) => {
      const { app, org } = await appAndOrg(io, cmd);
      const m = await app.outbox.get(org.id, id);
      if (o.json) jsonLine(io, m);
      else showMessage(io, m);
    });

  outbox
    .command('list')
    .description('outgoing messages, newest first')
    .option('--status <status>', `only this status: ${OUTBOX_STATUSES.join(', ')}`)
    .option('--limit <n>', 'at most this many', '100')
    .option('--json', 'print JSON Lines')
    .action(async (o: { status?: string; limit: string; json?: boolean }, cmd: Command) => {
      const { app, org } = await appAndOrg(io, cmd);
      const list = await app.outbox.list(org.id, { status: o.status, limit: Number.parseInt(o.limit, 10) || 100 });
      if (o.json) for (const m of list) jsonLine(io, m);
      else if (list.length === 0) io.out(o.status ? `No ${o.status} messages.` : 'The outbox is empty; send with: mailroom send --to ADDRESS --subject TEXT --text TEXT');
      else
        table(io, [
          { header: 'ID', value: (m) => m.id },
          { header: 'STATUS', value: (m) => m.status },
          { header: 'QUEUED', value: (m) => shortDate(m.createdAt) },
          { header: 'TO', value: (m) => m.to.join(', '), max: 40 },
          { header: 'SUBJECT', value: (m) => m.subject, max: 40 },
          { header: 'REPLY', value: (m) => m.reply ?? '', max: 60 },
        ], list);
    });

  outbox
    .command('cancel <id>')
    .description('cancel a queued or deferred message')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const { app, org } = await appAndOrg(io, cmd);
      await app.outbox.cancel(org.id, id);
      io.out(`Cancelled ${id}.`);
    });

  outbox
    .command('retry <id>')
    .description('try a queued, deferred or failed message again now')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const { app, org } = await appAndOrg(io, cmd);
      await app.outbox.retry(org.id, id);
      io.out(`${id} is due now; the server's worker sends it (or: mailroom outbox show ${id}).`);
    });

  const components = program.command('components').description('which SMTP service sends notifications and workflow mail');

  components
    .command('set <component> <service>')
    .description('send the component\'s mail (notifications or workflows) through an SMTP service')
    .option('--disable', 'keep the assignment but do not use it (the system default SMTP is used, if any)')
    .action(async (component: string, service: string, o: { disable?: boolean }, cmd: Command) => {
      const { app, org } = await appAndOrg(io, cmd);
      const c = await app.outbox.components.set(org.id, component, service, { enabled: !o.disable });
      io.out(describeComponent(c));
    });

  components
    .command('list')
    .option('--json', 'print JSON Lines')
    .action(async (o: { json?: boolean }, cmd: Command) => {
      const { app, org } = await appAndOrg(io, cmd);
      const list = await app.outbox.components.list(org.id);
      if (o.json) for (const c of list) jsonLine(io, c);
      else for (const c of list) io.out(describeComponent(c));
    });
}
