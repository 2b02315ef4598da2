/**
 * The sending commands as a user runs them (`bin/mailroom` in a child process): send (with
 * --wait, --json, --attach), outbox show/list/cancel/retry, components set/list, services test
 * --to.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { createServices } from '../../src/connect/services.ts';
import { freePort } from '../support/peers/apt.ts';
import { jsonLines, openTestApp, run, tempDataDir } from '../cli/helpers.ts';


describe('sending commands', () => {
  let data: { dir: string; cleanup(): Promise<void> };
  let server: SMTPServer;
  let port: number;
  const received: Buffer[] = [];

  before(async () => {
    server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onRcptTo(address, _s, cb) {
        if (address.address.startsWith('refuse')) cb(Object.assign(new Error('No such user here'), { responseCode: 550 }));
        else cb();
      },
      onData(stream, _s, cb) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          received.push(Buffer.concat(chunks));
          cb(null, `Ok: queued as CLI${received.length}`);
        });
      },
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.server.address() as AddressInfo).port;
    data = await tempDataDir();
    const app = await openTestApp(data.dir);
    try {
      const org = await app.orgs.ensureOrg('default');
      const services = createServices(app.store, app.secrets);
      await services.create(org.id, { name: 'out', kind: 'smtp', host: '127.0.0.1', port, security: 'none', fromAddress: 'workflow@peters-engineering.example', fromName: 'Peters Engineering' });
      await services.create(org.id, { name: 'dead', kind: 'smtp', host: '127.0.0.1', port: await freePort(), security: 'none', fromAddress: 'dead@example.test' });
    } finally {
      await app.close();
    }
  });
  after(async () => {
    await data?.cleanup();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  test('without a workflows service, send says how to fix it', async () => {
    const r = await run(data.dir, ['send', '--to', 'a@example.test', '--subject', 's', '--text', 't', '--wait', '--json']);
    assert.equal(r.code, 2, r.err);
    assert.match(r.err, /SMTP_NOT_CONFIGURED/);
    assert.match(r.err, /mailroom components set workflows <service>/);
    const list = jsonLines<{ component: string; effective: { source: string } }>((await run(data.dir, ['components', 'list', '--json'])).out);
    assert.deepEqual(list.map((c) => [c.component, c.effective.source]), [['notifications', 'none'], ['workflows', 'none']]);
  });

  test('components set, then send --wait --json prints {id, status, reply} with the server reply', async () => {
    const set = await run(data.dir, ['components', 'set', 'workflows', 'out']);
    assert.equal(set.code, 0, set.err);
    assert.match(set.out, /workflows\s+service: out; sends through: out <workflow@peters-engineering\.example>/);
    const bad = await run(data.dir, ['components', 'set', 'billing', 'out']);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /Unknown component "billing": choose notifications or workflows/);

    const file = join(data.dir, 'Rechnung März.pdf');
    await writeFile(file, Buffer.from('%PDF-1.4 März'));
    const r = await run(data.dir, ['send', '--to', 'kunde@example.test', '--to', 'Zweite Kundin <zwei@example.test>', '--cc', 'cc@example.test', '--subject', 'Grüße – Rechnung', '--text', 'Anbei die Rechnung.', '--attach', file, '--wait', '--json']);
    assert.equal(r.code, 0, r.err);
    const [out] = jsonLines<{ id: string; status: string; reply: string }>(r.out);
    assert.deepEqual(Object.keys(out!), ['id', 'status', 'reply']);
    assert.equal(out!.status, 'sent');
    assert.match(out!.reply, /^250 .*queued as CLI\d+/);
    const parsed = await simpleParser(received.at(-1)!);
    assert.equal(parsed.subject, 'Grüße – Rechnung');
    assert.equal(parsed.from?.value[0]?.name, 'Peters Engineering');
    assert.deepEqual(parsed.attachments.map((a) => a.filename), ['Rechnung März.pdf']);

    const show = await run(data.dir, ['outbox', 'show', out!.id]);
    assert.equal(show.code, 0, show.err);
    assert.match(show.out, /Status:\s+sent/);
    assert.match(show.out, /queued\s/);
    assert.match(show.out, /sent\s+1\s/);
    const json = jsonLines<{ status: string; events: Array<{ type: string }> }>((await run(data.dir, ['outbox', 'show', out!.id, '--json'])).out)[0]!;
    assert.deepEqual(json.events.map((e) => e.type), ['queued', 'sent']);
  });

  test('send --service --from without --wait queues; list, cancel and retry', async () => {
    const r = await run(data.dir, ['send', '--service', 'out', '--from', 'Ich <me@example.test>', '--to', 'a@example.test', '--subject', 'later', '--text', 'x', '--json']);
    assert.equal(r.code, 0, r.err);
    const [q] = jsonLines<{ id: string; status: string; reply: null }>(r.out);
    assert.deepEqual(q, { id: q!.id, status: 'queued', reply: null });
    const listed = jsonLines<{ id: string; status: string; from: string }>((await run(data.dir, ['outbox', 'list', '--status', 'queued', '--json'])).out);
    assert.deepEqual(listed.map((m) => [m.id, m.status, m.from]), [[q!.id, 'queued', 'me@example.test']]);
    const table = await run(data.dir, ['outbox', 'list']);
    assert.match(table.out, /^ID\s+STATUS\s+QUEUED/);
    const cancel = await run(data.dir, ['outbox', 'cancel', q!.id]);
    assert.equal(cancel.code, 0, cancel.err);
    const again = await run(data.dir, ['outbox', 'cancel', q!.id]);
    assert.equal(again.code, 2);
    assert.match(again.err, /OUTBOX_STATE_CONFLICT.*cancelled; only queued or deferred/);
    const retry = await run(data.dir, ['outbox', 'retry', q!.id]);
    assert.equal(retry.code, 2);
    assert.match(retry.err, /OUTBOX_STATE_CONFLICT/);
    const missing = await run(data.dir, ['outbox', 'show', '00000000-0000-4000-8000-000000000000']);
    assert.equal(missing.code, 2);
    assert.match(missing.err, /OUTBOX_MESSAGE_NOT_FOUND/);
  });

  test('send --wait: a 5xx fails (exit 1), an unreachable server defers (exit 0, status deferred)', async () => {
    const failed = await run(data.dir, ['send', '--to', 'refuse@example.test', '--subject', 's', '--text', 't', '--wait', '--json']);
    assert.equal(failed.code, 1, failed.err);
    const [f] = jsonLines<{ status: string; reply: string }>(failed.out);
    assert.equal(f!.status, 'failed');
    assert.match(f!.reply, /550/);
    const deferred = await run(data.dir, ['send', '--service', 'dead', '--to', 'a@example.test', '--subject', 's', '--text', 't', '--wait']);
    assert.equal(deferred.code, 0, deferred.err);
    assert.match(deferred.out, /^Deferred \(will be retried\): .*cannot be reached/);
  });

  test('services test <name> --to sends a test message through the outbox and prints the reply', async () => {
    const r = await run(data.dir, ['services', 'test', 'out', '--to', 'admin@example.test']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^Sent: 250 .*queued as CLI\d+/);
    const parsed = await simpleParser(received.at(-1)!);
    assert.equal(parsed.subject, 'Mailroom test message via "out"');
  });
});
