/**
 * Connect to Mail over HTTP against a real Dovecot: mail services (administrators), mail
 * accounts with personal ones kept to their owner, import rules run on demand with their ledger,
 * browsing and archiving by hand; peer errors (502) through the one mapper; no answer ever holds
 * a mailbox password or a sealed secret; tenants stay apart on every new endpoint.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { dialects } from '../support/databases.ts';
import { startDovecot, type DovecotPeer } from '../support/peers/dovecot.ts';
import { invoiceMessage } from './messages.ts';
import { Client, createTenant, startServer, type Res, type Tenant, type TestServer } from './support.ts';

/** The sealed-secret prefix of the SecretBox: never in an answer. */
const SEALED_PREFIX = 'mr1:';

/** Every mailbox password any test here uses; a Client below refuses answers containing one. */
const passwords = new Set<string>();

/** A client that also checks every answer for mailbox passwords and sealed secrets. */
class Guarded extends Client {
  override async request(method: string, path: string, opts: Parameters<Client['request']>[2] = {}): Promise<Res> {
    const res = await super.request(method, path, opts);
    for (const s of [SEALED_PREFIX, ...passwords]) {
      assert.ok(!res.text.includes(s), `${method} ${path} answered with a secret (${s.slice(0, 4)}...) in its body`);
      for (const [name, value] of res.headers) assert.ok(!value.includes(s), `${method} ${path} answered with a secret in header ${name}`);
    }
    return res;
  }
}

interface Side {
  t: Tenant;
  admin: Guarded;
  user: Guarded;
  cabinetId: string;
}

async function tenant(server: TestServer, name: string): Promise<Side> {
  const t = await createTenant(server, name);
  const admin = new Guarded(server.baseUrl, t.admin.credentials);
  const user = new Guarded(server.baseUrl, t.user.credentials);
  const cab = await admin.post('/api/cabinets', { name: `Eingang ${name}` });
  assert.equal(cab.status, 201, cab.text);
  return { t, admin, user, cabinetId: cab.json.id };
}

/** A second plain user of the tenant's organisation, with an API token. */
async function secondUser(server: TestServer, side: Side, local: string): Promise<{ id: string; client: Guarded }> {
  const slug = side.t.userEmail.split('@')[1]!;
  const u = await server.app.orgs.addUser({ orgId: side.t.orgId, email: `${local}@${slug}`, role: 'user', password: side.t.password });
  const { token } = await server.app.orgs.createApiToken(u.id, 'tests');
  return { id: u.id, client: new Guarded(server.baseUrl, { token }) };
}

function imapService(dovecot: DovecotPeer, name: string): Record<string, unknown> {
  return { name, kind: 'imap', host: dovecot.host, port: dovecot.imapPort, security: 'none' };
}

let dovecot: DovecotPeer;

before(async () => {
  dovecot = await startDovecot();
});
after(async () => {
  await dovecot?.stop();
});

for (const dialect of dialects()) {
  describe(`connect to mail over HTTP (${dialect})`, () => {
    let server: TestServer;
    let a: Side;
    let mailUser = '';
    let mailPassword = '';
    let serviceId = '';
    let accountId = '';
    let ruleId = '';
    const subjects: string[] = [];

    before(async () => {
      server = await startServer(dialect);
      a = await tenant(server, 'Alpha');
      // A mailbox of its own per dialect: the runs must not see each other's mail.
      mailUser = `${dialect}-${randomBytes(3).toString('hex')}@example.test`;
      mailPassword = `mbx-${randomBytes(8).toString('hex')}`;
      passwords.add(mailPassword);
      await dovecot.addUser(mailUser, mailPassword);
    });
    after(async () => {
      await server?.close();
    });

    async function deliver(word: string): Promise<string> {
      const msg = invoiceMessage({ word, subject: `Rechnung ${word}` });
      subjects.push(msg.subject);
      await dovecot.deliver(mailUser, msg.raw);
      return msg.subject;
    }

    describe('mail services (administrators)', () => {
      test('an admin defines an IMAP service, lists it, shows it and tests it', async () => {
        const res = await a.admin.post('/api/mail-services', imapService(dovecot, 'Alpha IMAP'));
        assert.equal(res.status, 201, res.text);
        assert.equal(res.json.kind, 'imap');
        assert.equal(res.json.port, dovecot.imapPort);
        assert.equal(res.json.hasPassword, false);
        assert.ok(!('password' in res.json) && !('secret' in res.json));
        serviceId = res.json.id;

        const list = await a.admin.get('/api/mail-services');
        assert.equal(list.status, 200);
        assert.deepEqual(list.json.services.map((s: { id: string }) => s.id), [serviceId]);
        const imapOnly = await a.admin.get('/api/mail-services?kind=smtp');
        assert.deepEqual(imapOnly.json.services, []);

        const one = await a.admin.get(`/api/mail-services/${serviceId}`);
        assert.equal(one.status, 200);
        assert.equal(one.json.name, 'Alpha IMAP');
        assert.deepEqual(one.json.tls, { mode: 'verify', fingerprint: null });

        const probe = await a.admin.post(`/api/mail-services/${serviceId}/test`);
        assert.equal(probe.status, 200, probe.text);
        assert.equal(probe.json.ok, true);
        assert.ok(probe.json.capabilities.includes('IMAP4rev1'), probe.text);
        assert.equal(probe.json.tlsFingerprint256, null);
      });

      test('an SMTP service stores its password encrypted and only ever says hasPassword', async () => {
        const smtpPassword = `smtp-${randomBytes(8).toString('hex')}`;
        passwords.add(smtpPassword);
        const res = await a.admin.post('/api/mail-services', {
          name: 'Alpha SMTP', kind: 'smtp', host: '127.0.0.1', port: 2525, security: 'starttls',
          tlsFingerprint: dovecot.certFingerprint256, username: 'mailer', password: smtpPassword, fromAddress: 'archiv@alpha.example', fromName: 'Archiv',
          rateLimitPerMinute: 30,
        });
        assert.equal(res.status, 201, res.text);
        assert.equal(res.json.hasPassword, true);
        assert.equal(res.json.username, 'mailer');
        assert.deepEqual(res.json.tls, { mode: 'fingerprint', fingerprint: dovecot.certFingerprint256Hex });
        const row = await server.app.store.mailConfig.serviceById(a.t.orgId, res.json.id);
        assert.ok(row?.secret?.startsWith(SEALED_PREFIX), 'the password is sealed in the database');
        for (const r of [await a.admin.get('/api/mail-services'), await a.admin.get(`/api/mail-services/${res.json.id}`)]) {
          assert.equal(r.status, 200);
          assert.ok(r.text.includes('"hasPassword":true'));
        }
        const removed = await a.admin.delete(`/api/mail-services/${res.json.id}`);
        assert.equal(removed.status, 204);
        assert.equal((await a.admin.get(`/api/mail-services/${res.json.id}`)).status, 404);
      });

      test('validation errors name the field', async () => {
        const bad = await a.admin.post('/api/mail-services', { ...imapService(dovecot, 'Kaputt'), port: 'zweiundvierzig' });
        assert.equal(bad.status, 400);
        assert.equal(bad.json.code, 'VALIDATION_FAILED');
        assert.deepEqual(bad.json.details.fields.map((f: { in: string; field: string }) => `${f.in}:${f.field}`), ['body:port']);

        const unknown = await a.admin.post('/api/mail-services', { ...imapService(dovecot, 'Kaputt'), pasword: 'x' });
        assert.equal(unknown.status, 400);
        assert.match(unknown.json.message, /pasword/);

        // Cross-field rules are connect's; its message names the field as well.
        const noSender = await a.admin.post('/api/mail-services', { name: 'Ohne Absender', kind: 'smtp', host: 'smtp.example', port: 587, security: 'starttls' });
        assert.equal(noSender.status, 400);
        assert.equal(noSender.json.code, 'VALIDATION_FAILED');
        assert.match(noSender.json.message, /fromAddress/);

        const imapCreds = await a.admin.post('/api/mail-services', { ...imapService(dovecot, 'Mit Login'), username: 'x', password: 'y' });
        assert.equal(imapCreds.status, 400);
        assert.match(imapCreds.json.message, /username/);

        const dup = await a.admin.post('/api/mail-services', imapService(dovecot, 'Alpha IMAP'));
        assert.equal(dup.status, 409);
        assert.equal(dup.json.code, 'ALREADY_EXISTS');
      });

      test('a plain user gets 403 on every mail-service route', async () => {
        for (const [method, path, json] of [
          ['GET', '/api/mail-services', undefined],
          ['POST', '/api/mail-services', imapService(dovecot, 'Von Nutzer')],
          ['GET', `/api/mail-services/${serviceId}`, undefined],
          ['DELETE', `/api/mail-services/${serviceId}`, undefined],
          ['POST', `/api/mail-services/${serviceId}/test`, undefined],
        ] as const) {
          const res = await a.user.request(method, path, json === undefined ? {} : { json });
          assert.equal(res.status, 403, `${method} ${path}: ${res.text}`);
          assert.equal(res.json.code, 'FORBIDDEN');
        }
        assert.equal((await a.admin.get(`/api/mail-services/${serviceId}`)).status, 200, 'still there');
      });
    });

    describe('mail accounts (users)', () => {
      test('a user adds an account (owning it) and tests the login', async () => {
        const res = await a.user.post('/api/mail-accounts', { name: 'Buchhaltung', serviceId, username: mailUser, password: mailPassword });
        assert.equal(res.status, 201, res.text);
        assert.equal(res.json.ownerUserId, a.t.userId);
        assert.equal(res.json.shared, true);
        assert.equal(res.json.hasPassword, true);
        accountId = res.json.id;
        const row = await server.app.store.mailConfig.accountById(a.t.orgId, accountId);
        assert.ok(row?.secret?.startsWith(SEALED_PREFIX));

        const probe = await a.user.post(`/api/mail-accounts/${accountId}/test`);
        assert.equal(probe.status, 200, probe.text);
        assert.equal(probe.json.ok, true);
        assert.ok(probe.json.folders >= 1, probe.text);

        const list = await a.admin.get('/api/mail-accounts');
        assert.deepEqual(list.json.accounts.map((x: { id: string }) => x.id), [accountId]);
        const one = await a.user.get(`/api/mail-accounts/${accountId}`);
        assert.equal(one.status, 200);
        assert.equal(one.json.username, mailUser);
      });

      test('a wrong password: the 502 of the mail server passes through unchanged', async () => {
        const wrong = `falsch-${randomBytes(6).toString('hex')}`;
        passwords.add(wrong);
        const created = await a.user.post('/api/mail-accounts', { name: 'Vertippt', serviceId, username: mailUser, password: wrong });
        assert.equal(created.status, 201, created.text);
        const res = await a.user.post(`/api/mail-accounts/${created.json.id}/test`);
        assert.equal(res.status, 502, res.text);
        assert.equal(res.json.code, 'MAIL_AUTH_FAILED');
        assert.equal(typeof res.json.message, 'string');
        const folders = await a.user.get(`/api/mail-accounts/${created.json.id}/folders`);
        assert.equal(folders.status, 502);
        assert.equal(folders.json.code, 'MAIL_AUTH_FAILED');
        assert.equal((await a.user.delete(`/api/mail-accounts/${created.json.id}`)).status, 204);
      });

      test('accounts only on an IMAP service of the organisation; errors name the field', async () => {
        const missing = await a.user.post('/api/mail-accounts', { name: 'Ohne', serviceId: randomUUID(), username: 'x', password: 'y' });
        assert.equal(missing.status, 404);
        const bad = await a.user.post('/api/mail-accounts', { name: 'Kaputt', serviceId: 'kein-uuid', username: 'x' });
        assert.equal(bad.status, 400);
        assert.deepEqual(bad.json.details.fields.map((f: { field: string }) => f.field).sort(), ['password', 'serviceId']);
      });

      test("a personal account of one user is 404 for another user of the organisation, visible to admins", async () => {
        const personal = await a.user.post('/api/mail-accounts', { name: 'Privat', serviceId, username: mailUser, password: mailPassword, shared: false });
        assert.equal(personal.status, 201, personal.text);
        const pid = personal.json.id as string;
        const other = await secondUser(server, a, 'kollege');
        const nobody = randomUUID();
        for (const [method, path, json] of [
          ['GET', `/api/mail-accounts/${pid}`, undefined],
          ['DELETE', `/api/mail-accounts/${pid}`, undefined],
          ['POST', `/api/mail-accounts/${pid}/test`, undefined],
          ['GET', `/api/mail-accounts/${pid}/folders`, undefined],
          ['GET', `/api/mail-accounts/${pid}/messages?folder=INBOX`, undefined],
          ['POST', `/api/mail-accounts/${pid}/archive`, { folder: 'INBOX', uids: [1], cabinetId: a.cabinetId }],
        ] as const) {
          const opts = json === undefined ? {} : { json };
          const res = await other.client.request(method, path, opts);
          assert.equal(res.status, 404, `${method} ${path}: ${res.text}`);
          assert.ok(!res.text.includes('Privat'), res.text);
          const baseline = await other.client.request(method, path.replace(pid, nobody), opts);
          assert.equal(res.json.code, baseline.json.code);
          assert.equal(res.json.message.replace(pid, '<id>'), baseline.json.message.replace(nobody, '<id>'), `${method} ${path}`);
        }
        const theirs = await other.client.get('/api/mail-accounts');
        assert.deepEqual(theirs.json.accounts.map((x: { id: string }) => x.id), [accountId], 'only the shared account');
        const mine = await a.user.get('/api/mail-accounts');
        assert.deepEqual(mine.json.accounts.map((x: { id: string }) => x.id).sort(), [accountId, pid].sort());
        assert.equal((await a.admin.get(`/api/mail-accounts/${pid}`)).status, 200, 'administrators see it');
        // A shared account is visible to everyone, but only its owner or an admin removes it.
        const notMine = await other.client.delete(`/api/mail-accounts/${accountId}`);
        assert.equal(notMine.status, 403);
        assert.equal((await a.user.delete(`/api/mail-accounts/${pid}`)).status, 204);
      });
    });

    describe('import rules', () => {
      test('an admin creates a rule; users read it but cannot create one', async () => {
        const body = { name: 'Rechnungen', accountId, cabinetId: a.cabinetId, folders: ['INBOX'], mapping: { betreff: { from: 'subject' } }, intervalSeconds: 600 };
        const denied = await a.user.post('/api/import-rules', body);
        assert.equal(denied.status, 403);
        const res = await a.admin.post('/api/import-rules', body);
        assert.equal(res.status, 201, res.text);
        assert.equal(res.json.enabled, true);
        assert.deepEqual(res.json.action, { type: 'none' });
        assert.deepEqual(res.json.mapping, { betreff: { from: 'subject' } });
        ruleId = res.json.id;
        const list = await a.user.get('/api/import-rules');
        assert.deepEqual(list.json.rules.map((r: { id: string }) => r.id), [ruleId]);
        const one = await a.user.get(`/api/import-rules/${ruleId}`);
        assert.equal(one.json.name, 'Rechnungen');
        assert.equal(one.json.intervalSeconds, 600);
      });

      test('rule validation names the field', async () => {
        const base = { name: 'Falsch', accountId, cabinetId: a.cabinetId, folders: ['INBOX'] };
        const typo = await a.admin.post('/api/import-rules', { ...base, filters: { subjct: { contains: 'x' } } });
        assert.equal(typo.status, 400);
        assert.match(typo.json.message, /filters/);
        const regex = await a.admin.post('/api/import-rules', { ...base, filters: { subject: { regex: '([' } } });
        assert.equal(regex.status, 400);
        assert.match(regex.json.message, /filters\.subject/);
        const loop = await a.admin.post('/api/import-rules', { ...base, action: { type: 'move', folder: 'INBOX' } });
        assert.equal(loop.status, 400);
        assert.match(loop.json.message, /action/);
        const noFolders = await a.admin.post('/api/import-rules', { ...base, folders: [] });
        assert.equal(noFolders.status, 400);
        assert.deepEqual(noFolders.json.details.fields.map((f: { field: string }) => f.field), ['folders']);
      });

      test('POST .../sync archives the delivered mail; the ledger and the runs show it', async () => {
        await deliver('erste');
        await deliver('zweite');
        const res = await a.user.post(`/api/import-rules/${ruleId}/sync`);
        assert.equal(res.status, 200, res.text);
        assert.equal(res.json.rule, 'Rechnungen');
        assert.equal(res.json.fetched, 2);
        assert.equal(res.json.archived, 2);
        assert.equal(res.json.duplicates, 0);
        assert.equal(res.json.failed, 0);
        assert.equal(res.json.skipped, 0);
        assert.equal(typeof res.json.seconds, 'number');

        const again = await a.user.post(`/api/import-rules/${ruleId}/sync`);
        assert.equal(again.json.archived, 0, 'nothing twice');

        const ledger = await a.user.get(`/api/import-rules/${ruleId}/ledger`);
        assert.equal(ledger.status, 200, ledger.text);
        assert.deepEqual(ledger.json.counts, { archived: 2, duplicate: 0, failed: 0 });
        assert.equal(ledger.json.entries.length, 2);
        for (const e of ledger.json.entries) {
          assert.equal(e.status, 'archived');
          assert.equal(e.folder, 'INBOX');
          assert.ok(e.documentId);
          const doc = await a.user.get(`/api/documents/${e.documentId}`);
          assert.equal(doc.status, 200);
          assert.ok(subjects.includes(doc.json.subject), doc.json.subject);
        }
        assert.deepEqual(ledger.json.entries.map((e: { subject: string }) => e.subject).sort(), [...subjects].sort());
        const page = await a.user.get(`/api/import-rules/${ruleId}/ledger?limit=1&offset=1`);
        assert.equal(page.json.entries.length, 1);
        const failed = await a.user.get(`/api/import-rules/${ruleId}/ledger?failed=true`);
        assert.deepEqual(failed.json.entries, []);
        const badFlag = await a.user.get(`/api/import-rules/${ruleId}/ledger?failed=vielleicht`);
        assert.equal(badFlag.status, 400);
        assert.deepEqual(badFlag.json.details.fields.map((f: { in: string; field: string }) => `${f.in}:${f.field}`), ['query:failed']);

        const runs = await a.user.get(`/api/import-rules/${ruleId}/runs`);
        assert.equal(runs.status, 200);
        assert.equal(runs.json.runs.length, 2);
        assert.equal(runs.json.runs.reduce((n: number, r: { archived: number }) => n + r.archived, 0), 2);
        assert.ok(runs.json.runs.every((r: { finishedAt: string | null; error: string | null }) => r.finishedAt !== null && r.error === null));
      });

      test('browsing shows the synced messages as archived; a new one is archived by hand', async () => {
        const folders = await a.user.get(`/api/mail-accounts/${accountId}/folders`);
        assert.equal(folders.status, 200, folders.text);
        assert.ok(folders.json.folders.some((f: { path: string }) => f.path === 'INBOX'));

        const before = await a.user.get(`/api/mail-accounts/${accountId}/messages?folder=INBOX`);
        assert.equal(before.status, 200, before.text);
        assert.equal(before.json.total, 2);
        assert.ok(before.json.messages.every((m: { archived: boolean }) => m.archived), before.text);
        const m0 = before.json.messages[0];
        assert.equal(typeof m0.uid, 'number');
        assert.equal(m0.from.address, 'joerg@example.de');
        assert.equal(m0.hasAttachments, true);
        assert.ok(m0.size > 0);
        assert.ok(m0.date);

        const subject = await deliver('dritte');
        const listed = await a.user.get(`/api/mail-accounts/${accountId}/messages`);
        assert.equal(listed.json.folder, 'INBOX', 'INBOX by default');
        assert.equal(listed.json.total, 3);
        const fresh = listed.json.messages.filter((m: { archived: boolean }) => !m.archived);
        assert.equal(fresh.length, 1);
        assert.equal(fresh[0].subject, subject);

        const res = await a.user.post(`/api/mail-accounts/${accountId}/archive`, { folder: 'INBOX', uids: [fresh[0].uid, 999_999], cabinetId: a.cabinetId });
        assert.equal(res.status, 200, res.text);
        const [ok, missing] = res.json.results;
        assert.equal(ok.uid, fresh[0].uid);
        assert.equal(ok.ok, true);
        assert.equal(ok.duplicate, false);
        assert.equal(ok.subject, subject);
        assert.equal((await a.user.get(`/api/documents/${ok.id}`)).status, 200);
        assert.equal(missing.uid, 999_999);
        assert.equal(missing.ok, false);
        assert.equal(typeof missing.error.code, 'string');

        const after = await a.user.get(`/api/mail-accounts/${accountId}/messages?folder=INBOX&offset=0&limit=2`);
        assert.equal(after.json.total, 3);
        assert.equal(after.json.messages.length, 2);
        assert.ok(after.json.messages.every((m: { archived: boolean }) => m.archived));
        const cab = await a.user.get(`/api/cabinets/${a.cabinetId}`);
        assert.equal(cab.json.documentCount, 3);

        const again = await a.user.post(`/api/mail-accounts/${accountId}/archive`, { folder: 'INBOX', uids: [fresh[0].uid], cabinetId: a.cabinetId });
        assert.equal(again.json.results[0].duplicate, true);

        const noCabinet = await a.user.post(`/api/mail-accounts/${accountId}/archive`, { folder: 'INBOX', uids: [fresh[0].uid], cabinetId: randomUUID() });
        assert.equal(noCabinet.status, 404);
        const badUids = await a.user.post(`/api/mail-accounts/${accountId}/archive`, { folder: 'INBOX', uids: [0], cabinetId: a.cabinetId });
        assert.equal(badUids.status, 400);
        assert.deepEqual(badUids.json.details.fields.map((f: { field: string }) => f.field), ['uids[0]']);
        const noFolder = await a.user.get(`/api/mail-accounts/${accountId}/messages?folder=${encodeURIComponent('Gibt es nicht')}`);
        assert.equal(noFolder.status, 404, noFolder.text);
      });

      test('admins disable, enable and reset the ledger; users may not', async () => {
        for (const path of [`/api/import-rules/${ruleId}/disable`, `/api/import-rules/${ruleId}/enable`, `/api/import-rules/${ruleId}/ledger/reset`]) {
          assert.equal((await a.user.post(path)).status, 403, path);
        }
        assert.equal((await a.user.delete(`/api/import-rules/${ruleId}`)).status, 403);
        const off = await a.admin.post(`/api/import-rules/${ruleId}/disable`);
        assert.equal(off.status, 200, off.text);
        assert.equal(off.json.enabled, false);
        const on = await a.admin.post(`/api/import-rules/${ruleId}/enable`);
        assert.equal(on.json.enabled, true);
        const failedOnly = await a.admin.post(`/api/import-rules/${ruleId}/ledger/reset`, { failedOnly: true });
        assert.equal(failedOnly.status, 200, failedOnly.text);
        assert.deepEqual(failedOnly.json, { removed: 0 });
        const all = await a.admin.post(`/api/import-rules/${ruleId}/ledger/reset`);
        assert.deepEqual(all.json, { removed: 2 });
        // The next run rescans; the archive keeps each message once.
        const rerun = await a.user.post(`/api/import-rules/${ruleId}/sync`);
        assert.equal(rerun.status, 200, rerun.text);
        assert.equal(rerun.json.archived + rerun.json.duplicates, 3);
        assert.equal(rerun.json.duplicates, 3);
        assert.equal((await a.user.get(`/api/cabinets/${a.cabinetId}`)).json.documentCount, 3);
      });

      test('what is in use cannot be removed; removal goes rule, account, service', async () => {
        const scratch = await a.admin.post('/api/mail-services', imapService(dovecot, 'Wegwerf'));
        const wrong = `falsch-${randomBytes(6).toString('hex')}`;
        passwords.add(wrong);
        const acc = await a.admin.post('/api/mail-accounts', { name: 'Wegwerfkonto', serviceId: scratch.json.id, username: mailUser, password: wrong });
        assert.equal(acc.status, 201, acc.text);
        const rule = await a.admin.post('/api/import-rules', { name: 'Wegwerfregel', accountId: acc.json.id, cabinetId: a.cabinetId, folders: ['INBOX'], enabled: false });
        assert.equal(rule.status, 201, rule.text);
        // A run whose login fails answers the server's refusal (502) and is recorded as a failed run.
        const refused = await a.user.post(`/api/import-rules/${rule.json.id}/sync`);
        assert.equal(refused.status, 502, refused.text);
        assert.equal(refused.json.code, 'MAIL_AUTH_FAILED');
        const runs = await a.user.get(`/api/import-rules/${rule.json.id}/runs`);
        assert.equal(runs.json.runs.length, 1);
        assert.ok(runs.json.runs[0].error, runs.text);
        const svcInUse = await a.admin.delete(`/api/mail-services/${scratch.json.id}`);
        assert.equal(svcInUse.status, 409);
        assert.equal(svcInUse.json.code, 'IN_USE');
        const accInUse = await a.admin.delete(`/api/mail-accounts/${acc.json.id}`);
        assert.equal(accInUse.status, 409);
        assert.equal((await a.admin.delete(`/api/import-rules/${rule.json.id}`)).status, 204);
        assert.equal((await a.user.get(`/api/import-rules/${rule.json.id}`)).status, 404);
        assert.equal((await a.admin.delete(`/api/mail-accounts/${acc.json.id}`)).status, 204);
        assert.equal((await a.admin.delete(`/api/mail-services/${scratch.json.id}`)).status, 204);
      });
    });

    describe('tenant isolation', () => {
      let b: Side;
      let bAccountId = '';
      let aIds: Record<string, string>;
      let secretsOfA: string[];

      before(async () => {
        b = await tenant(server, 'Beta');
        const svc = await b.admin.post('/api/mail-services', imapService(dovecot, 'Beta IMAP'));
        assert.equal(svc.status, 201, svc.text);
        const acc = await b.user.post('/api/mail-accounts', { name: 'Beta Postfach', serviceId: svc.json.id, username: mailUser, password: mailPassword });
        assert.equal(acc.status, 201, acc.text);
        bAccountId = acc.json.id;
        aIds = { service: serviceId, account: accountId, rule: ruleId, cabinet: a.cabinetId };
        secretsOfA = ['Alpha', 'Buchhaltung', 'Rechnungen', a.t.orgId, a.t.userEmail, a.t.adminEmail, ...subjects];
      });

      function probes(ids: Record<string, string>): Array<{ name: string; admin: boolean; method: string; path: string; json?: unknown }> {
        return [
          { name: 'GET service', admin: true, method: 'GET', path: `/api/mail-services/${ids['service']}` },
          { name: 'test service', admin: true, method: 'POST', path: `/api/mail-services/${ids['service']}/test` },
          { name: 'DELETE service', admin: true, method: 'DELETE', path: `/api/mail-services/${ids['service']}` },
          { name: 'account on a service', admin: false, method: 'POST', path: '/api/mail-accounts', json: { name: 'Eindringling', serviceId: ids['service'], username: 'x', password: 'y' } },
          { name: 'GET account', admin: false, method: 'GET', path: `/api/mail-accounts/${ids['account']}` },
          { name: 'test account', admin: false, method: 'POST', path: `/api/mail-accounts/${ids['account']}/test` },
          { name: 'folders', admin: false, method: 'GET', path: `/api/mail-accounts/${ids['account']}/folders` },
          { name: 'messages', admin: false, method: 'GET', path: `/api/mail-accounts/${ids['account']}/messages?folder=INBOX` },
          { name: 'archive by hand', admin: false, method: 'POST', path: `/api/mail-accounts/${ids['account']}/archive`, json: { folder: 'INBOX', uids: [1], cabinetId: b.cabinetId } },
          { name: "archive into the cabinet", admin: false, method: 'POST', path: `/api/mail-accounts/${bAccountId}/archive`, json: { folder: 'INBOX', uids: [1], cabinetId: ids['cabinet'] } },
          { name: 'DELETE account', admin: false, method: 'DELETE', path: `/api/mail-accounts/${ids['account']}` },
          { name: 'rule on an account', admin: true, method: 'POST', path: '/api/import-rules', json: { name: 'Eindringling', accountId: ids['account'], cabinetId: b.cabinetId, folders: ['INBOX'] } },
          { name: 'rule into a cabinet', admin: true, method: 'POST', path: '/api/import-rules', json: { name: 'Eindringling', accountId: bAccountId, cabinetId: ids['cabinet'], folders: ['INBOX'] } },
          { name: 'GET rule', admin: false, method: 'GET', path: `/api/import-rules/${ids['rule']}` },
          { name: 'sync rule', admin: false, method: 'POST', path: `/api/import-rules/${ids['rule']}/sync` },
          { name: 'ledger', admin: false, method: 'GET', path: `/api/import-rules/${ids['rule']}/ledger` },
          { name: 'runs', admin: false, method: 'GET', path: `/api/import-rules/${ids['rule']}/runs` },
          { name: 'disable rule', admin: true, method: 'POST', path: `/api/import-rules/${ids['rule']}/disable` },
          { name: 'enable rule', admin: true, method: 'POST', path: `/api/import-rules/${ids['rule']}/enable` },
          { name: 'reset ledger', admin: true, method: 'POST', path: `/api/import-rules/${ids['rule']}/ledger/reset`, json: { failedOnly: false } },
          { name: 'DELETE rule', admin: true, method: 'DELETE', path: `/api/import-rules/${ids['rule']}` },
        ];
      }

      function assertNoTraceOfA(text: string, what: string): void {
        for (const s of secretsOfA) assert.ok(!text.includes(s), `${what} revealed "${s}": ${text}`);
      }

      test("B's admin and user get 404 for every id of A, exactly as for an id that does not exist", async () => {
        const noIds = { service: randomUUID(), account: randomUUID(), rule: randomUUID(), cabinet: randomUUID() };
        const normalise = (text: string, ids: Record<string, string>): string => Object.values(ids).reduce((acc, id) => acc.split(id).join('<id>'), text);
        const real = probes(aIds);
        const fake = probes(noIds);
        for (const [i, p] of real.entries()) {
          for (const [who, client] of [['admin', b.admin], ['user', b.user]] as const) {
            if (p.admin && who === 'user') continue; // stopped earlier by 403 on the route itself
            const opts = p.json === undefined ? {} : { json: p.json };
            const res = await client.request(p.method, p.path, opts);
            assert.equal(res.status, 404, `B ${who}: ${p.name} -> ${res.status} ${res.text}`);
            assertNoTraceOfA(res.text, `B ${who}: ${p.name}`);
            for (const [, v] of res.headers) assertNoTraceOfA(v, `B ${who}: ${p.name} (headers)`);
            const f = fake[i]!;
            const baseline = await client.request(f.method, f.path, f.json === undefined ? {} : { json: f.json });
            assert.equal(baseline.status, 404, `${p.name} baseline: ${baseline.text}`);
            assert.equal(res.json.code, baseline.json.code, p.name);
            assert.equal(normalise(res.json.message, aIds), normalise(baseline.json.message, noIds), `${p.name}: the answer differs from a nonexistent id`);
          }
        }
      });

      test("B's lists show only B's things", async () => {
        const services = await b.admin.get('/api/mail-services');
        assert.deepEqual(services.json.services.map((s: { name: string }) => s.name), ['Beta IMAP']);
        for (const client of [b.admin, b.user]) {
          const accounts = await client.get('/api/mail-accounts');
          assert.deepEqual(accounts.json.accounts.map((x: { id: string }) => x.id), [bAccountId]);
          const rules = await client.get('/api/import-rules');
          assert.deepEqual(rules.json.rules, []);
          for (const res of [accounts, rules]) assertNoTraceOfA(res.text, 'a list');
        }
        assertNoTraceOfA(services.text, 'services');
      });

      test('nothing of A changed', async () => {
        const rule = await a.user.get(`/api/import-rules/${ruleId}`);
        assert.equal(rule.status, 200);
        assert.equal(rule.json.enabled, true);
        const ledger = await a.user.get(`/api/import-rules/${ruleId}/ledger`);
        assert.deepEqual(ledger.json.counts, { archived: 0, duplicate: 3, failed: 0 });
        const runs = await a.user.get(`/api/import-rules/${ruleId}/runs`);
        assert.equal(runs.json.runs.length, 3, 'B ran nothing of A');
        assert.equal((await a.user.get(`/api/mail-accounts/${accountId}`)).status, 200);
        assert.equal((await a.admin.get(`/api/mail-services/${serviceId}`)).status, 200);
        assert.equal((await a.user.get(`/api/cabinets/${a.cabinetId}`)).json.documentCount, 3);
        assert.equal((await b.user.get(`/api/cabinets/${b.cabinetId}`)).json.documentCount, 0, 'nothing was archived into B either');
      });
    });

    test('the OpenAPI document lists every new route with its auth level', async () => {
      const doc = (await new Client(server.baseUrl).get('/api/openapi.json')).json;
      const expected: Array<[string, string, string]> = [
        ['get', '/api/mail-services', 'admin'],
        ['post', '/api/mail-services', 'admin'],
        ['get', '/api/mail-services/{id}', 'admin'],
        ['delete', '/api/mail-services/{id}', 'admin'],
        ['post', '/api/mail-services/{id}/test', 'admin'],
        ['get', '/api/mail-accounts', 'user'],
        ['post', '/api/mail-accounts', 'user'],
        ['get', '/api/mail-accounts/{id}', 'user'],
        ['delete', '/api/mail-accounts/{id}', 'user'],
        ['post', '/api/mail-accounts/{id}/test', 'user'],
        ['get', '/api/mail-accounts/{id}/folders', 'user'],
        ['get', '/api/mail-accounts/{id}/messages', 'user'],
        ['post', '/api/mail-accounts/{id}/archive', 'user'],
        ['get', '/api/import-rules', 'user'],
        ['post', '/api/import-rules', 'admin'],
        ['get', '/api/import-rules/{id}', 'user'],
        ['delete', '/api/import-rules/{id}', 'admin'],
        ['post', '/api/import-rules/{id}/enable', 'admin'],
        ['post', '/api/import-rules/{id}/disable', 'admin'],
        ['post', '/api/import-rules/{id}/sync', 'user'],
        ['get', '/api/import-rules/{id}/ledger', 'user'],
        ['post', '/api/import-rules/{id}/ledger/reset', 'admin'],
        ['get', '/api/import-rules/{id}/runs', 'user'],
      ];
      for (const [method, path, auth] of expected) {
        const op = doc.paths[path]?.[method];
        assert.ok(op, `${method.toUpperCase()} ${path} missing from /api/openapi.json`);
        assert.equal(op['x-mailroom-auth'], auth, `${method} ${path}`);
        assert.ok(op.summary, `${method} ${path} has no summary`);
      }
      for (const name of ['MailService', 'MailAccount', 'ImportRule', 'SyncSummary', 'LedgerEntry', 'MailboxMessage', 'ConnectionTest']) {
        assert.ok(doc.components.schemas[name], `component ${name}`);
      }
      const messages = doc.paths['/api/mail-accounts/{id}/messages'].get;
      assert.deepEqual(messages.parameters.filter((p: { in: string }) => p.in === 'query').map((p: { name: string }) => p.name).sort(), ['folder', 'limit', 'offset']);
      // No schema describes a secret: services and accounts only say hasPassword.
      for (const name of ['MailService', 'MailAccount']) {
        const props = Object.keys(doc.components.schemas[name].properties);
        assert.ok(props.includes('hasPassword') && !props.some((p) => /password$|secret/i.test(p) && p !== 'hasPassword'), `${name}: ${props.join(', ')}`);
      }
    });
  });
}
