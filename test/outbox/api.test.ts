/**
 * The sending API over a real App (temp data dir, SQLite) with an outbox attached the way
 * app.ts will hold it, and a recording fake sender: POST /api/send, GET /api/outbox/:id,
 * cancel, retry, the admin list, and tenant isolation.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildApi } from '../../src/api/index.ts';
import { openApp, type App } from '../../src/app.ts';
import { loadConfig } from '../../src/config/index.ts';
import { createServices } from '../../src/connect/services.ts';
import { createLogger } from '../../src/log/index.ts';
import { createOutbox, type Outbox } from '../../src/outbox/index.ts';
import { Client, createTenant, type Tenant, type TestServer } from '../api/support.ts';
import { fakeSender } from './support.ts';

const PASSWORD = 'smtp-password-never-shown';

describe('sending API', () => {
  let server: TestServer;
  let outbox: Outbox;
  let a: Tenant;
  let b: Tenant;
  let c: Tenant;
  let dataDir: string;
  const sent: string[] = [];
  const texts: string[] = [];

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'mr-outbox-api-'));
    const config = loadConfig({ MAILROOM_DATA: dataDir, MAILROOM_SECRET_KEY: randomBytes(32).toString('base64') });
    const log = createLogger('silent');
    const base = await openApp(config, log);
    const services = createServices(base.store, base.secrets);
    outbox = createOutbox({ store: base.store, secrets: base.secrets, log, services, config, archive: base.archive, openSender: fakeSender(sent) }, { leaseMs: 5000 });
    const app: App & { outbox: Outbox } = { ...base, outbox, close: async () => { await outbox.close(); await base.close(); } };
    const api = await buildApi(app);
    await api.listen({ port: 0, host: '127.0.0.1' });
    server = {
      app,
      api,
      baseUrl: `http://127.0.0.1:${(api.server.address() as AddressInfo).port}`,
      close: async () => {
        await api.close();
        await app.close();
        await rm(dataDir, { recursive: true, force: true });
      },
    };
    a = await createTenant(server, 'Alpha');
    b = await createTenant(server, 'Beta');
    c = await createTenant(server, 'Gamma');
    for (const t of [a, b]) {
      await services.create(t.orgId, { name: 'out', kind: 'smtp', host: 'smtp.example.test', port: 587, security: 'starttls', username: 'u', password: PASSWORD, fromAddress: `out@${t.orgId.slice(0, 8)}.example` });
      await outbox.components.set(t.orgId, 'workflows', 'out');
    }
  });
  after(async () => {
    await server?.close();
  });

  test('POST /api/send with the minimal body answers 202 {id}; GET /api/outbox/:id follows it to sent', async () => {
    const res = await a.user.post('/api/send', { to: ['a@example.com'], subject: 'Rechnung 42', text: 'Anbei.' });
    assert.equal(res.status, 202, res.text);
    assert.deepEqual(Object.keys(res.json), ['id']);
    const id = res.json.id as string;
    const queued = await a.user.get(`/api/outbox/${id}`);
    assert.equal(queued.status, 200, queued.text);
    assert.equal(queued.json.status, 'queued');
    assert.equal(queued.json.reply, null);
    assert.equal(queued.json.attempts, 0);
    assert.deepEqual(queued.json.to, ['a@example.com']);
    assert.deepEqual(queued.json.events.map((e: { type: string }) => e.type), ['queued']);
    assert.equal(queued.json.createdBy, a.userId);

    await outbox.worker.drain();
    const done = await a.user.get(`/api/outbox/${id}`);
    assert.equal(done.json.status, 'sent');
    assert.match(done.json.reply, /^250 2\.0\.0 Ok: queued as FAKE\d+$/);
    assert.match(done.json.queueId, /^FAKE\d+$/);
    assert.equal(done.json.attempts, 1);
    assert.ok(done.json.sentAt);
    assert.deepEqual(Object.keys(done.json).sort(), ['attempts', 'code', 'component', 'createdAt', 'createdBy', 'events', 'from', 'giveUpAt', 'id', 'messageId', 'nextAttemptAt', 'queueId', 'reply', 'sentAt', 'serviceId', 'size', 'status', 'subject', 'to', 'updatedAt']);
    assert.deepEqual(done.json.events.map((e: { type: string }) => e.type), ['queued', 'sent']);
    assert.ok(sent.includes(done.json.messageId));
    texts.push(queued.text, done.text);
  });

  test("another organisation's message is 404 for every route, exactly like an unknown id", async () => {
    const { json } = await a.user.post('/api/send', { to: ['x@example.com'], subject: 'private', text: 'x' });
    const id = json.id as string;
    const unknown = '00000000-0000-4000-8000-000000000000';
    for (const target of [id, unknown]) {
      for (const client of [b.user, b.admin]) {
        const got = await client.get(`/api/outbox/${target}`);
        assert.equal(got.status, 404, got.text);
        assert.equal(got.json.code, 'OUTBOX_MESSAGE_NOT_FOUND');
        for (const action of ['cancel', 'retry']) {
          const r = await client.post(`/api/outbox/${target}/${action}`);
          assert.equal(r.status, 404, `${action}: ${r.text}`);
          assert.equal(r.json.code, 'OUTBOX_MESSAGE_NOT_FOUND');
        }
      }
    }
    const list = await b.admin.get('/api/outbox');
    assert.equal(list.status, 200);
    assert.ok(!list.text.includes(id), "B's list never shows A's messages");
    // Still queued: B's cancel did nothing.
    assert.equal((await a.user.get(`/api/outbox/${id}`)).json.status, 'queued');
    const cancelled = await a.user.post(`/api/outbox/${id}/cancel`);
    assert.equal(cancelled.status, 200, cancelled.text);
    assert.equal(cancelled.json.status, 'cancelled');
    assert.deepEqual(cancelled.json.events.map((e: { type: string; message: string }) => e.type), ['queued', 'cancelled']);
    assert.match(cancelled.json.events[1].message, new RegExp(a.userEmail.replace('.', '\\.')));
    const again = await a.user.post(`/api/outbox/${id}/cancel`);
    assert.equal(again.status, 409);
    assert.equal(again.json.code, 'OUTBOX_STATE_CONFLICT');
    texts.push(list.text, cancelled.text);
  });

  test('attaching a document of another organisation is 404; documents of your own are attached', async () => {
    const cabinet = await server.app.archive.createCabinet(a.orgId, 'Post');
    const raw = Buffer.from('From: x@example.test\r\nTo: y@example.test\r\nSubject: Beleg März\r\nMessage-ID: <beleg@example.test>\r\n\r\nInhalt\r\n');
    const [o] = await server.app.archive.ingest(a.orgId, cabinet.id, [{ raw, source: 'test' }]);
    assert.ok(o?.ok);
    const foreign = await b.user.post('/api/send', { to: ['z@example.com'], subject: 's', text: 't', attachments: [{ documentId: o.id }] });
    assert.equal(foreign.status, 404, foreign.text);
    assert.equal(foreign.json.code, 'DOCUMENT_NOT_FOUND');
    const own = await a.user.post('/api/send', {
      to: [{ name: 'Kundin Groß', address: 'kundin@example.com' }],
      subject: 'Beleg',
      text: 'Anbei.',
      attachments: [{ documentId: o.id }, { filename: 'notiz.txt', contentBase64: Buffer.from('Notiz').toString('base64') }],
    });
    assert.equal(own.status, 202, own.text);
    const v = await a.user.get(`/api/outbox/${own.json.id}`);
    assert.match(v.json.events[0].message, /1 recipient/);
    const rows = await server.app.store.db.kysely.selectFrom('outbox').select('raw').where('id', '=', own.json.id).executeTakeFirstOrThrow();
    const text = Buffer.from(rows.raw).toString('utf8');
    assert.ok(text.includes(raw.toString('utf8')), 'the archived original is in the message unchanged');
    assert.match(text, /filename\*0\*=utf-8''Beleg%20M%C3%A4rz\.eml/);
  });

  test('bad requests name the field; templates are not supported yet', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ subject: 's', text: 't' }, /to/],
      [{ to: [], subject: 's' }, /to/],
      [{ to: ['a@example.com'], subject: 's', template: 'welcome' }, /templates are not supported yet/],
      [{ to: ['a@example.com'], subject: 's', from: 'me@example.com' }, /from|Unrecognized/i],
      [{ to: ['not an address'], subject: 's' }, /Invalid to address/],
      [{ to: ['a@example.com'], subject: 's', attachments: [{ filename: 'x', contentBase64: '!!!' }] }, /contentBase64 is not base64/],
      [{ to: ['a@example.com'], subject: 's', attachments: [{ documentId: 'nope' }] }, /attachments/],
    ];
    for (const [body, want] of cases) {
      const r = await a.user.post('/api/send', body);
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
      assert.equal(r.json.code, 'VALIDATION_FAILED');
      assert.match(r.json.message, want);
    }
  });

  test('an organisation without an SMTP service (and no system default) gets 409 SMTP_NOT_CONFIGURED with the fix', async () => {
    const r = await c.user.post('/api/send', { to: ['a@example.com'], subject: 's', text: 't' });
    assert.equal(r.status, 409, r.text);
    assert.equal(r.json.code, 'SMTP_NOT_CONFIGURED');
    assert.match(r.json.message, /mailroom components set workflows <service>/);
  });

  test('admins list their messages by status with counts; plain users may not list', async () => {
    assert.equal((await a.user.get('/api/outbox')).status, 403);
    const all = await a.admin.get('/api/outbox');
    assert.equal(all.status, 200, all.text);
    assert.ok(all.json.messages.length >= 3);
    assert.equal(all.json.counts.sent, 1);
    assert.equal(all.json.counts.cancelled, 1);
    const onlySent = await a.admin.get('/api/outbox?status=sent');
    assert.deepEqual(onlySent.json.messages.map((m: { status: string }) => m.status), ['sent']);
    assert.equal('events' in onlySent.json.messages[0], false);
    const bad = await a.admin.get('/api/outbox?status=lost');
    assert.equal(bad.status, 400);
    // Retry now: a queued message stays queued and due; the log says who asked.
    const queuedId = all.json.messages.find((m: { status: string }) => m.status === 'queued').id as string;
    const r = await a.admin.post(`/api/outbox/${queuedId}/retry`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.events.at(-1).type, 'retry');
    texts.push(all.text, r.text);
  });

  test('no answer carries the SMTP password', () => {
    for (const t of texts) assert.ok(!t.includes(PASSWORD));
    assert.ok(texts.length > 0);
  });

  test('anonymous callers get 401 on every sending route', async () => {
    const anon = new Client(server.baseUrl);
    for (const [method, path] of [['POST', '/api/send'], ['GET', '/api/outbox'], ['GET', '/api/outbox/00000000-0000-4000-8000-000000000000'], ['POST', '/api/outbox/00000000-0000-4000-8000-000000000000/cancel'], ['POST', '/api/outbox/00000000-0000-4000-8000-000000000000/retry']] as const) {
      const r = await anon.request(method, path, method === 'POST' ? { json: {} } : {});
      assert.equal(r.status, 401, `${method} ${path}`);
    }
  });
});
