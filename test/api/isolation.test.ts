/**
 * Tenants stay apart (design §2.6), on every endpoint and every database dialect: org B's
 * people get 404 for every id of org A (never 403, which would confirm it exists, and never
 * data), B's searches and lists never show A's things, and nothing of A changes.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { dialects } from '../support/databases.ts';
import { invoiceMessage, type TestMessage } from './messages.ts';
import { type Client, createTenant, startServer, type Tenant, type TestServer } from './support.ts';

interface Side {
  t: Tenant;
  cabinetId: string;
  docId: string;
  tokenId: string;
  msg: TestMessage;
}

async function populate(server: TestServer, name: string, word: string): Promise<Side> {
  const t = await createTenant(server, name);
  const cab = await t.admin.post('/api/cabinets', { name: `Posteingang ${name}` });
  assert.equal(cab.status, 201, cab.text);
  const msg = invoiceMessage({ word, subject: `Vertraulich ${name} ${word}`, bodyExtra: 'gemeinsamwort' });
  const up = await t.user.upload(cab.json.id, msg.raw);
  assert.equal(up.status, 201, up.text);
  const token = await t.admin.post('/api/tokens', { name: `Token ${name}` });
  assert.equal(token.status, 201);
  return { t, cabinetId: cab.json.id, docId: up.json.document.id, tokenId: token.json.id, msg };
}

for (const dialect of dialects()) {
  describe(`tenant isolation (${dialect})`, () => {
    let server: TestServer;
    let a: Side;
    let b: Side;
    /** Things of org A that must never appear in an answer to org B. */
    let secretsOfA: string[];

    before(async () => {
      server = await startServer(dialect);
      a = await populate(server, 'Alpha', 'alphageheim');
      b = await populate(server, 'Beta', 'betageheim');
      secretsOfA = [a.t.adminEmail, a.t.userEmail, 'alphageheim', 'Alpha', a.t.orgId, a.msg.subject];
    });
    after(async () => {
      await server?.close();
    });

    function assertNoTraceOfA(text: string, what: string): void {
      for (const s of secretsOfA) assert.ok(!text.includes(s), `${what} revealed "${s}": ${text}`);
    }

    /** Each request made by B for an A id, and the same request for an id that never existed. */
    function probes(): Array<{ name: string; run: (c: Client, ids: { doc: string; cab: string; user: string; token: string }) => ReturnType<Client['get']>; admin: boolean }> {
      return [
        { name: 'GET document', admin: false, run: (c, ids) => c.get(`/api/documents/${ids.doc}`) },
        { name: 'GET document raw', admin: false, run: (c, ids) => c.get(`/api/documents/${ids.doc}/raw`) },
        { name: 'GET document attachment', admin: false, run: (c, ids) => c.get(`/api/documents/${ids.doc}/attachments/0`) },
        { name: 'GET document verify', admin: false, run: (c, ids) => c.get(`/api/documents/${ids.doc}/verify`) },
        { name: 'GET cabinet', admin: false, run: (c, ids) => c.get(`/api/cabinets/${ids.cab}`) },
        { name: 'search in cabinet', admin: false, run: (c, ids) => c.get(`/api/documents?cabinet=${ids.cab}`) },
        { name: 'upload into cabinet', admin: false, run: (c, ids) => c.upload(ids.cab, invoiceMessage({ word: 'eindringling' }).raw) },
        { name: 'DELETE token', admin: false, run: (c, ids) => c.delete(`/api/tokens/${ids.token}`) },
        { name: 'GET user', admin: true, run: (c, ids) => c.get(`/api/users/${ids.user}`) },
        { name: 'PATCH user', admin: true, run: (c, ids) => c.patch(`/api/users/${ids.user}`, { name: 'Übernommen', role: 'user', password: 'neues-passwort-1' }) },
        { name: 'DELETE user', admin: true, run: (c, ids) => c.delete(`/api/users/${ids.user}`) },
      ];
    }

    test("B's admin and user get 404 for every id of A, exactly as for an id that does not exist", async () => {
      const aIds = { doc: a.docId, cab: a.cabinetId, user: a.t.userId, token: a.tokenId };
      const noIds = { doc: randomUUID(), cab: randomUUID(), user: randomUUID(), token: randomUUID() };
      for (const p of probes()) {
        for (const [who, client] of [['admin', b.t.admin], ['user', b.t.user]] as const) {
          if (p.admin && who === 'user') continue; // a plain user is stopped earlier, by 403 on the route itself
          const res = await p.run(client, aIds);
          assert.equal(res.status, 404, `B ${who}: ${p.name} -> ${res.status} ${res.text}`);
          assertNoTraceOfA(res.text, `B ${who}: ${p.name}`);
          for (const [, v] of res.headers) assertNoTraceOfA(v, `B ${who}: ${p.name} (headers)`);
          const baseline = await p.run(client, noIds);
          assert.equal(baseline.status, 404);
          assert.equal(res.json.code, baseline.json.code, p.name);
          const normalise = (text: string, ids: Record<string, string>): string =>
            Object.values(ids).reduce((acc, id) => acc.split(id).join('<id>'), text);
          assert.equal(normalise(res.json.message, aIds), normalise(baseline.json.message, noIds), `${p.name}: the answer differs from a nonexistent id`);
        }
      }
      // Also the admin of A is also just unknown to B's admin (the admin route itself is allowed).
      const admin = await b.t.admin.get(`/api/users/${a.t.adminId}`);
      assert.equal(admin.status, 404);
    });

    test('nothing of A changed', async () => {
      const user = await a.t.admin.get(`/api/users/${a.t.userId}`);
      assert.equal(user.status, 200);
      assert.notEqual(user.json.name, 'Übernommen');
      assert.equal(user.json.role, 'user');
      const tokens = await a.t.admin.get('/api/tokens');
      assert.ok(tokens.json.tokens.some((x: { id: string }) => x.id === a.tokenId), "A's token still exists");
      const cab = await a.t.user.get(`/api/cabinets/${a.cabinetId}`);
      assert.equal(cab.json.documentCount, 1, 'nothing was uploaded into A');
      const list = await a.t.user.get('/api/cabinets');
      assert.deepEqual(list.json.cabinets.map((c: { documentCount: number }) => c.documentCount), [1]);
      const verify = await a.t.user.get(`/api/documents/${a.docId}/verify`);
      assert.equal(verify.json.ok, true);
      const search = await a.t.user.get('/api/documents?q=eindringling');
      assert.equal(search.json.total, 0);
      // A's user can still log in with the old password.
      const login = await a.t.user.post('/api/auth/login', { email: a.t.userEmail, password: a.t.password });
      assert.equal(login.status, 200);
    });

    test("B's searches never return A's documents", async () => {
      for (const q of ['alphageheim', 'Alpha', 'Vertraulich alphageheim']) {
        const res = await b.t.user.get(`/api/documents?q=${encodeURIComponent(q)}`);
        assert.equal(res.status, 200);
        assert.equal(res.json.total, 0, q);
        assertNoTraceOfA(res.text, `search ${q}`);
      }
      for (const path of ['/api/documents?q=gemeinsamwort', '/api/documents', '/api/documents?q=vertraulich', '/api/documents?from=joerg', '/api/documents?hasAttachment=true']) {
        const res = await b.t.user.get(path);
        assert.equal(res.status, 200);
        assert.deepEqual(res.json.documents.map((d: { id: string }) => d.id), [b.docId], path);
        assert.equal(res.json.total, 1, path);
        assertNoTraceOfA(res.text, path);
      }
      // And A sees only its own for the shared word.
      const mine = await a.t.user.get('/api/documents?q=gemeinsamwort');
      assert.deepEqual(mine.json.documents.map((d: { id: string }) => d.id), [a.docId]);
    });

    test("B's lists show only B's things", async () => {
      const users = await b.t.admin.get('/api/users');
      assert.deepEqual(users.json.users.map((u: { email: string }) => u.email).sort(), [b.t.adminEmail, b.t.userEmail].sort());
      const cabinets = await b.t.user.get('/api/cabinets');
      assert.deepEqual(cabinets.json.cabinets.map((c: { id: string }) => c.id), [b.cabinetId]);
      const tokens = await b.t.admin.get('/api/tokens');
      assert.deepEqual(tokens.json.tokens.map((x: { id: string }) => x.id), [b.tokenId]);
      const orgs = await b.t.user.get('/api/orgs');
      assert.deepEqual(orgs.json.orgs.map((o: { id: string }) => o.id), [b.t.orgId]);
      const me = await b.t.user.get('/api/auth/me');
      assert.equal(me.json.org.id, b.t.orgId);
      for (const res of [users, cabinets, tokens, orgs, me]) assertNoTraceOfA(res.text, 'a list');
    });

    test("B's admin cannot create a user with A's address silently taking it over", async () => {
      const res = await b.t.admin.post('/api/users', { email: a.t.userEmail, role: 'admin', password: 'uebernahme-1' });
      assert.notEqual(res.status, 201);
      const still = await a.t.admin.get(`/api/users/${a.t.userId}`);
      assert.equal(still.json.orgId, a.t.orgId);
    });
  });
}
