/**
 * The worker against an in-process SMTP server (smtp-server): a 5xx fails at once, a 4xx defers
 * with the reply logged, components and the system default decide the sender, the claim race
 * between two workers on one SQLite file, and stop/start keeps nothing half-done.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { simpleParser } from 'mailparser';
import { isAppError } from '../../src/errors/index.ts';
import { fakeSender, harness, smtpService, sleep, type Harness } from './support.ts';

interface Captured {
  from: string;
  to: string[];
  raw: Buffer;
}

/** An SMTP server that captures messages and rejects recipients matching `reject` with `code`. */
async function startSmtp(opts: { reject?: RegExp; code?: number; reply?: string } = {}): Promise<{ port: number; messages: Captured[]; close(): Promise<void> }> {
  const messages: Captured[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onRcptTo(address, _session, callback) {
      if (opts.reject?.test(address.address)) {
        const err = Object.assign(new Error(opts.reply ?? 'mailbox unavailable'), { responseCode: opts.code ?? 550 });
        callback(err);
        return;
      }
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        messages.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks),
        });
        callback(null, `Ok: queued as Q${messages.length}`);
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return { port, messages, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe('outbox worker (smtp-server)', () => {
  let h: Harness;
  let smtp: Awaited<ReturnType<typeof startSmtp>>;

  before(async () => {
    smtp = await startSmtp({ reject: /^refuse/, code: 550, reply: 'No such user here' });
    h = await harness();
    await smtpService(h, 'out', smtp.port, { fromName: 'Rechnungsstelle Müller' });
    await h.outbox.components.set(h.orgId, 'workflows', 'out');
  });
  after(async () => {
    await h.cleanup();
    await smtp.close();
  });
  afterEach(() => {
    smtp.messages.length = 0;
  });

  test('sends through the workflows component; the reply and queue id are recorded as sent', async () => {
    const { id, messageId } = await h.outbox.send(h.orgId, { to: ['kunde@example.test'], subject: 'Rechnung', text: 'Anbei.' });
    const before = await h.outbox.get(h.orgId, id);
    assert.equal(before.status, 'queued');
    assert.deepEqual(before.events?.map((e) => e.type), ['queued']);
    const summary = await h.outbox.worker.drain();
    assert.deepEqual(summary, { sent: 1, deferred: 0, failed: 0 });
    const v = await h.outbox.get(h.orgId, id);
    assert.equal(v.status, 'sent');
    assert.match(v.reply ?? '', /^250 .*queued as Q1/);
    assert.equal(v.queueId, 'Q1');
    assert.equal(v.attempts, 1);
    assert.ok(v.sentAt);
    assert.equal(v.messageId, messageId);
    assert.deepEqual(v.events?.map((e) => e.type), ['queued', 'sent']);
    assert.equal(smtp.messages.length, 1);
    const parsed = await simpleParser(smtp.messages[0]!.raw);
    assert.equal(parsed.messageId, messageId);
    assert.equal(parsed.from?.value[0]?.name, 'Rechnungsstelle Müller');
    assert.equal(parsed.from?.value[0]?.address, 'out@sender.example');
    // The stored bytes are exactly what went over the wire.
    assert.deepEqual(smtp.messages[0]!.raw, await rawOf(h, id));
  });

  test('a 5xx reply fails the message at once, with the reply in its log', async () => {
    const { id } = await h.outbox.send(h.orgId, { to: ['refuse@example.test'], subject: '5xx', text: 'x' });
    await h.outbox.worker.drain();
    const v = await h.outbox.get(h.orgId, id);
    assert.equal(v.status, 'failed');
    assert.equal(v.attempts, 1);
    assert.equal(v.code, 'MAIL_SEND_PERMANENT');
    assert.match(v.reply ?? '', /550/);
    const failed = v.events?.find((e) => e.type === 'failed');
    assert.match(failed?.reply ?? '', /^550 .*No such user here/);
    assert.match(failed?.message ?? '', /refused the message permanently/);
    assert.equal(smtp.messages.length, 0);
    // Nothing is retried.
    assert.deepEqual(await h.outbox.worker.drain(), { sent: 0, deferred: 0, failed: 0 });
  });

  test('cancel: queued/deferred only, with a clear conflict otherwise; retry-now of a failed message', async () => {
    const { id } = await h.outbox.send(h.orgId, { to: ['a@example.test'], subject: 'cancel me', text: 'x' });
    const c = await h.outbox.cancel(h.orgId, id, { email: 'admin@a' });
    assert.equal(c.status, 'cancelled');
    await assert.rejects(h.outbox.cancel(h.orgId, id), (e: unknown) => isAppError(e) && e.code === 'OUTBOX_STATE_CONFLICT' && /cancelled; only queued or deferred/.test(e.message));
    await assert.rejects(h.outbox.retry(h.orgId, id), (e: unknown) => isAppError(e) && e.code === 'OUTBOX_STATE_CONFLICT');
    assert.deepEqual(await h.outbox.worker.drain(), { sent: 0, deferred: 0, failed: 0 }, 'a cancelled message is not sent');
    await assert.rejects(h.outbox.get(h.orgId, '00000000-0000-4000-8000-000000000000'), (e: unknown) => isAppError(e) && e.code === 'OUTBOX_MESSAGE_NOT_FOUND');
  });

  test('the claim race: two workers in one process on SQLite send each message once', async () => {
    // One process holds one SQLite connection (better-sqlite3 is synchronous: a second connection
    // in the same process would block the event loop in its busy handler while the first waits
    // for that loop to finish its transaction). The race between processes is in kill.test.ts.
    const record: string[] = [];
    const mine = h.another({ concurrency: 4, workerId: 'w1', claimBatch: 6 }, fakeSender(record, 3));
    const other = h.another({ concurrency: 4, workerId: 'w2', claimBatch: 6 }, fakeSender(record, 3));
    try {
      const ids: string[] = [];
      for (let i = 0; i < 120; i++) ids.push((await h.outbox.send(h.orgId, { to: [`r${i}@example.test`], subject: `race ${i}`, text: 'x' })).id);
      const [a, b] = await Promise.all([mine.worker.drain(), other.worker.drain()]);
      assert.equal(a.sent + b.sent, 120);
      assert.ok(a.sent > 0 && b.sent > 0, `both workers sent (${a.sent} + ${b.sent})`);
      assert.equal(record.length, 120, 'each message went out once');
      assert.equal(new Set(record).size, 120);
      const views = await Promise.all(ids.map((id) => h.outbox.get(h.orgId, id)));
      assert.ok(views.every((v) => v.status === 'sent' && v.events?.filter((e) => e.type === 'sent').length === 1));
    } finally {
      await mine.close();
      await other.close();
    }
  });

  test('the background worker picks up new messages at once and stops cleanly', async () => {
    h.outbox.worker.start();
    try {
      const { id } = await h.outbox.send(h.orgId, { to: ['bg@example.test'], subject: 'background', text: 'x' });
      const deadline = Date.now() + 5000;
      while ((await h.outbox.get(h.orgId, id)).status !== 'sent' && Date.now() < deadline) await sleep(20);
      assert.equal((await h.outbox.get(h.orgId, id)).status, 'sent');
    } finally {
      await h.outbox.worker.stop();
    }
    assert.equal(h.outbox.worker.running, false);
  });
});

describe('components and the system default SMTP', () => {
  let h: Harness;
  let smtp: Awaited<ReturnType<typeof startSmtp>>;
  let system: Awaited<ReturnType<typeof startSmtp>>;

  before(async () => {
    smtp = await startSmtp();
    system = await startSmtp();
  });
  after(async () => {
    await smtp.close();
    await system.close();
  });
  afterEach(async () => {
    await h.cleanup();
  });

  test('without a service or a system default, sending says which component and how to fix it', async () => {
    h = await harness();
    await assert.rejects(h.outbox.send(h.orgId, { to: ['a@example.test'], subject: 'x', text: 'x' }), (e: unknown) => {
      assert.ok(isAppError(e));
      assert.equal(e.code, 'SMTP_NOT_CONFIGURED');
      assert.equal(e.httpStatus, 409);
      assert.match(e.message, /workflows/);
      assert.match(e.message, /mailroom components set workflows <service>/);
      return true;
    });
    await assert.rejects(h.outbox.resolveSender(h.orgId, 'notifications'), /mailroom components set notifications <service>/);
    await assert.rejects(h.outbox.resolveSender(h.orgId, 'billing'), /Unknown component "billing"/);
    assert.equal((await h.outbox.counts(h.orgId)).queued, 0, 'nothing was queued');
  });

  test('components are separate and enabled each on its own; a disabled one falls back to the system default', async () => {
    h = await harness({ env: { MAILROOM_SMTP_HOST: '127.0.0.1', MAILROOM_SMTP_PORT: String(system.port), MAILROOM_SMTP_SECURITY: 'none', MAILROOM_SMTP_FROM: 'system@hub.example', MAILROOM_SMTP_FROM_NAME: 'Mailroom' } });
    await smtpService(h, 'org-out', smtp.port);
    await assert.rejects(h.outbox.components.set(h.orgId, 'workflows', 'nope'), /No mail service named "nope"/);
    await h.outbox.components.set(h.orgId, 'workflows', 'org-out');
    await h.outbox.components.set(h.orgId, 'notifications', 'org-out', { enabled: false });
    const list = await h.outbox.components.list(h.orgId);
    assert.deepEqual(
      list.map((c) => [c.component, c.service?.name, c.enabled, c.effective.source, c.effective.from]),
      [
        ['notifications', 'org-out', false, 'system', 'system@hub.example'],
        ['workflows', 'org-out', true, 'organisation', 'org-out@sender.example'],
      ],
    );
    assert.equal((await h.outbox.resolveSender(h.orgId, 'workflows')).serviceName, 'org-out');
    const sys = await h.outbox.resolveSender(h.orgId, 'notifications');
    assert.deepEqual([sys.source, sys.serviceId, sys.from], ['system', null, { name: 'Mailroom', address: 'system@hub.example' }]);

    await h.outbox.enqueue({ orgId: h.orgId, component: 'notifications', to: ['user@example.test'], subject: 'Passwort zurücksetzen', text: 'x' });
    await h.outbox.send(h.orgId, { to: ['kunde@example.test'], subject: 'Rechnung', text: 'x' });
    await h.outbox.worker.drain();
    assert.equal(system.messages.length, 1);
    assert.equal(smtp.messages.length, 1);
    assert.equal(system.messages[0]!.from, 'system@hub.example');
    assert.match(system.messages[0]!.raw.toString('utf8'), /^Auto-Submitted: auto-generated\r$/m, 'notifications are marked auto-generated (RFC 3834)');
    assert.equal(smtp.messages[0]!.from, 'org-out@sender.example');
    assert.doesNotMatch(smtp.messages[0]!.raw.toString('utf8'), /Auto-Submitted/);
  });

  test('an IMAP service cannot be assigned; the config reports a bad system default by its variable names', async () => {
    h = await harness();
    await h.services.create(h.orgId, { name: 'in', kind: 'imap', host: 'imap.example', port: 993, security: 'tls' });
    await assert.rejects(h.outbox.components.set(h.orgId, 'workflows', 'in'), /"in" is an imap service; mail is sent through SMTP services/);
    const { loadConfig } = await import('../../src/config/index.ts');
    assert.throws(() => loadConfig({ MAILROOM_DATA: h.dataDir, MAILROOM_SMTP_PORT: '25' }), (e: unknown) => {
      assert.ok(isAppError(e));
      assert.match(e.message, /MAILROOM_SMTP_HOST: is required/);
      assert.match(e.message, /MAILROOM_SMTP_FROM: is required/);
      return true;
    });
    assert.throws(() => loadConfig({ MAILROOM_DATA: h.dataDir, MAILROOM_SMTP_HOST: 'h', MAILROOM_SMTP_FROM: 'a@b', MAILROOM_SMTP_SECURITY: 'ssl' }), /MAILROOM_SMTP_SECURITY: must be tls, starttls or none/);
    assert.throws(() => loadConfig({ MAILROOM_DATA: h.dataDir, MAILROOM_SMTP_HOST: 'h', MAILROOM_SMTP_FROM: 'a@b', MAILROOM_SMTP_PASSWORD: 'hunter2-secret' }), (e: unknown) => {
      assert.ok(isAppError(e));
      assert.match(e.message, /MAILROOM_SMTP_USER: is required when a password is set/);
      assert.ok(!e.message.includes('hunter2'), 'the password is never in the message');
      return true;
    });
    const c = loadConfig({ MAILROOM_DATA: h.dataDir, MAILROOM_SMTP_HOST: 'mail.example', MAILROOM_SMTP_FROM: 'a@b.example', MAILROOM_SMTP_PORT: '465' });
    assert.deepEqual([c.smtp?.security, c.smtp?.port, c.smtp?.tlsInsecure, c.outbox.concurrency], ['tls', 465, false, 8]);
  });
});

async function rawOf(h: Harness, id: string): Promise<Buffer> {
  const rows = await h.store.db.kysely.selectFrom('outbox').select('raw').where('id', '=', id).execute();
  return Buffer.from(rows[0]!.raw);
}
