import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { dialects } from '../support/databases.ts';
import { ATTACHMENT_NAME, invoiceMessage } from './messages.ts';
import { Client, createTenant, login, startServer, type Tenant, type TestServer } from './support.ts';

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

for (const dialect of dialects()) describe(`HTTP API (${dialect})`, () => {
  let server: TestServer;
  let anon: Client;
  let t: Tenant;
  let cabinetId = '';

  before(async () => {
    server = await startServer(dialect, { loginRateLimit: { max: 10, windowMs: 60_000 } });
    anon = new Client(server.baseUrl);
    t = await createTenant(server, 'Acme');
  });
  after(async () => {
    await server.close();
  });

  describe('health and OpenAPI', () => {
    test('GET /api/health answers without auth and names the database', async () => {
      const res = await anon.get('/api/health');
      assert.equal(res.status, 200);
      assert.equal(res.json.status, 'ok');
      assert.equal(res.json.database, dialect);
      assert.match(res.json.version, /^\d+\.\d+\.\d+/);
    });

    test('unknown routes answer 404 NOT_FOUND in the error shape', async () => {
      const res = await anon.get('/api/nope?x=1');
      assert.equal(res.status, 404);
      assert.equal(res.json.code, 'NOT_FOUND');
      assert.equal(typeof res.json.message, 'string');
    });

    test('/api/openapi.json is OpenAPI 3.x and documents schemas and security', async () => {
      const res = await anon.get('/api/openapi.json');
      assert.equal(res.status, 200);
      const doc = JSON.parse(res.text);
      assert.match(doc.openapi, /^3\./);
      assert.equal(doc.info.title, 'Mailroom API');
      assert.ok(doc.components.schemas.Document, 'Document component');
      assert.ok(doc.components.schemas.Error, 'Error component');
      assert.ok(doc.components.securitySchemes.bearer);
      const search = doc.paths['/api/documents'].get;
      assert.ok(search.parameters.some((p: { name: string }) => p.name === 'q'));
      assert.deepEqual(search.security, [{ bearer: [] }, { session: [] }]);
      assert.deepEqual(doc.paths['/api/health'].get.security, []);
      assert.equal(doc.paths['/api/users'].get['x-mailroom-auth'], 'admin');
      const upload = doc.paths['/api/documents'].post;
      assert.ok(upload.requestBody.content['message/rfc822'], 'upload documents its media type');
      // No schema anywhere describes a secret column.
      assert.ok(!/password_?hash|token_?hash/i.test(res.text));
    });
  });

  describe('sessions', () => {
    test('login sets an HttpOnly SameSite=Lax cookie; me; logout ends the session', async () => {
      const res = await anon.post('/api/auth/login', { email: t.adminEmail.toUpperCase(), password: t.password });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.user.email, t.adminEmail);
      assert.equal(res.json.user.role, 'admin');
      assert.ok(Date.parse(res.json.expiresAt) > Date.now());
      const cookie = res.headers.get('set-cookie') ?? '';
      assert.match(cookie, /^mailroom_session=mrs_/);
      assert.match(cookie, /HttpOnly/i);
      assert.match(cookie, /SameSite=Lax/i);
      assert.match(cookie, /Path=\//);
      assert.doesNotMatch(cookie, /Secure/i, 'plain http: no Secure flag');
      const session = anon.withCredentials({ cookie: cookie.split(';')[0]! });

      const me = await session.get('/api/auth/me');
      assert.equal(me.status, 200, me.text);
      assert.equal(me.json.user.id, t.adminId);
      assert.equal(me.json.org.name, 'Acme');
      assert.equal(me.json.authenticatedBy, 'session');

      const out = await session.post('/api/auth/logout');
      assert.equal(out.status, 204);
      assert.match(out.headers.get('set-cookie') ?? '', /mailroom_session=;/);
      const after = await session.get('/api/auth/me');
      assert.equal(after.status, 401);
      assert.equal(after.json.code, 'AUTH_REQUIRED');
    });

    test('Secure cookie when the request came over https (behind a trusted proxy)', async () => {
      const proxied = await startServer('sqlite', { trustProxy: true });
      try {
        const { app } = proxied;
        const org = await app.orgs.createOrg('Proxied');
        await app.orgs.addUser({ orgId: org.id, email: 'p@proxied.example', role: 'user', password: 'long-enough-pw' });
        const res = await new Client(proxied.baseUrl).request('POST', '/api/auth/login', {
          json: { email: 'p@proxied.example', password: 'long-enough-pw' },
          headers: { 'x-forwarded-proto': 'https' },
        });
        assert.equal(res.status, 200, res.text);
        assert.match(res.headers.get('set-cookie') ?? '', /;\s*Secure/i);
      } finally {
        await proxied.close();
      }
    });

    test('wrong password and unknown address get the same 401 AUTH_INVALID_CREDENTIALS', async () => {
      const wrong = await anon.post('/api/auth/login', { email: t.userEmail, password: 'not-the-password' });
      const unknown = await anon.post('/api/auth/login', { email: 'nobody@nowhere.example', password: 'not-the-password' });
      assert.equal(wrong.status, 401);
      assert.equal(unknown.status, 401);
      assert.deepEqual(wrong.json, unknown.json);
      assert.equal(wrong.json.code, 'AUTH_INVALID_CREDENTIALS');
      assert.equal(wrong.headers.get('set-cookie'), null);
    });

    test('login attempts are rate-limited per IP and address (429 RATE_LIMITED with Retry-After)', async () => {
      const email = 'target@acme.example';
      for (let i = 0; i < 10; i++) {
        const r = await anon.post('/api/auth/login', { email, password: `guess-${i}` });
        assert.equal(r.status, 401);
      }
      const limited = await anon.post('/api/auth/login', { email, password: 'guess-11' });
      assert.equal(limited.status, 429);
      assert.equal(limited.json.code, 'RATE_LIMITED');
      assert.ok(Number(limited.headers.get('retry-after')) > 0);
      // Another address from the same client is not affected.
      const other = await anon.post('/api/auth/login', { email: t.userEmail, password: t.password });
      assert.equal(other.status, 200);
    });

    test('a forged or expired session cookie is 401 and the cookie is cleared', async () => {
      const res = await anon.withCredentials({ cookie: 'mailroom_session=mrs_forged' }).get('/api/auth/me');
      assert.equal(res.status, 401);
      assert.equal(res.json.code, 'AUTH_REQUIRED');
      assert.match(res.headers.get('set-cookie') ?? '', /mailroom_session=;/);
    });
  });

  describe('authentication and authorization', () => {
    test('401 AUTH_REQUIRED without credentials, before validation', async () => {
      for (const path of ['/api/auth/me', '/api/documents', '/api/cabinets', '/api/users', '/api/documents/not-a-uuid']) {
        const res = await anon.get(path);
        assert.equal(res.status, 401, path);
        assert.equal(res.json.code, 'AUTH_REQUIRED', path);
      }
      const upload = await anon.upload('00000000-0000-4000-8000-000000000000', Buffer.from('x'));
      assert.equal(upload.status, 401);
    });

    test('bearer API token authenticates; a wrong or malformed one is 401 AUTH_TOKEN_INVALID', async () => {
      const me = await t.user.get('/api/auth/me');
      assert.equal(me.status, 200, me.text);
      assert.equal(me.json.user.id, t.userId);
      assert.equal(me.json.authenticatedBy, 'token');
      for (const header of ['Bearer mrt_unknown', 'Bearer mrs_session-is-not-a-token', 'Basic dXNlcjpwdw==']) {
        const res = await anon.request('GET', '/api/auth/me', { headers: { authorization: header } });
        assert.equal(res.status, 401, header);
        assert.equal(res.json.code, 'AUTH_TOKEN_INVALID', header);
      }
    });

    test('403 FORBIDDEN when a user calls an admin endpoint', async () => {
      for (const [method, path, body] of [
        ['GET', '/api/users', undefined],
        ['POST', '/api/users', { email: 'x@acme.example', role: 'user' }],
        ['GET', `/api/users/${t.adminId}`, undefined],
        ['PATCH', `/api/users/${t.adminId}`, { name: 'x' }],
        ['DELETE', `/api/users/${t.adminId}`, undefined],
        ['POST', '/api/cabinets', { name: 'Mine' }],
      ] as const) {
        const res = await t.user.request(method, path, body === undefined ? {} : { json: body });
        assert.equal(res.status, 403, `${method} ${path}`);
        assert.equal(res.json.code, 'FORBIDDEN');
      }
    });
  });

  describe('organisations, users, tokens', () => {
    test('GET /api/orgs/current and /api/orgs show only the own organisation', async () => {
      const current = await t.user.get('/api/orgs/current');
      assert.equal(current.status, 200);
      assert.equal(current.json.id, t.orgId);
      const list = await t.user.get('/api/orgs');
      assert.deepEqual(list.json.orgs.map((o: { id: string }) => o.id), [t.orgId]);
    });

    test('admins create, read, change and remove users of their organisation', async () => {
      const created = await t.admin.post('/api/users', { email: 'Neu@Acme.example', name: 'Neue Kollegin', role: 'user', password: 'sehr-geheim-1', language: 'de' });
      assert.equal(created.status, 201, created.text);
      assert.equal(created.json.email, 'neu@acme.example');
      assert.equal(created.json.orgId, t.orgId);
      assert.equal(created.json.language, 'de');
      const id = created.json.id as string;

      const dup = await t.admin.post('/api/users', { email: 'neu@acme.example', role: 'user' });
      assert.equal(dup.status, 409);
      assert.equal(dup.json.code, 'USER_EXISTS');

      const list = await t.admin.get('/api/users');
      assert.equal(list.status, 200);
      assert.ok(list.json.users.some((u: { id: string }) => u.id === id));

      const patched = await t.admin.patch(`/api/users/${id}`, { role: 'admin', name: 'Chefin' });
      assert.equal(patched.status, 200, patched.text);
      assert.equal(patched.json.role, 'admin');
      assert.equal(patched.json.name, 'Chefin');

      const pw = await t.admin.patch(`/api/users/${id}`, { password: 'ein-neues-passwort' });
      assert.equal(pw.status, 200);
      await login(server.baseUrl, 'neu@acme.example', 'ein-neues-passwort');

      const got = await t.admin.get(`/api/users/${id}`);
      assert.equal(got.json.name, 'Chefin');

      const del = await t.admin.delete(`/api/users/${id}`);
      assert.equal(del.status, 204);
      assert.equal(del.text, '');
      const gone = await t.admin.get(`/api/users/${id}`);
      assert.equal(gone.status, 404);
      assert.equal(gone.json.code, 'USER_NOT_FOUND');
    });

    test('an admin cannot remove themselves or their own admin role', async () => {
      const del = await t.admin.delete(`/api/users/${t.adminId}`);
      assert.equal(del.status, 403);
      const demote = await t.admin.patch(`/api/users/${t.adminId}`, { role: 'user' });
      assert.equal(demote.status, 403);
      assert.equal((await t.admin.get(`/api/users/${t.adminId}`)).json.role, 'admin');
    });

    test('API tokens: created once with the secret, listed without it, revoked', async () => {
      const created = await t.admin.post('/api/tokens', { name: 'Scanner' });
      assert.equal(created.status, 201, created.text);
      assert.match(created.json.token, /^mrt_/);
      const token = created.json.token as string;
      const viaToken = anon.withCredentials({ token });
      assert.equal((await viaToken.get('/api/auth/me')).json.user.id, t.adminId);

      const list = await t.admin.get('/api/tokens');
      const listed = list.json.tokens.find((x: { id: string }) => x.id === created.json.id);
      assert.ok(listed);
      assert.equal(listed.name, 'Scanner');
      assert.ok(listed.lastUsedAt, 'last use recorded');
      assert.ok(!list.text.includes(token), 'the secret is never listed');
      assert.deepEqual(Object.keys(listed).sort(), ['createdAt', 'id', 'lastUsedAt', 'name']);

      assert.equal((await t.admin.delete(`/api/tokens/${created.json.id}`)).status, 204);
      assert.equal((await viaToken.get('/api/auth/me')).status, 401);
      const again = await t.admin.delete(`/api/tokens/${created.json.id}`);
      assert.equal(again.status, 404);
      assert.equal(again.json.code, 'NOT_FOUND');
    });
  });

  describe('validation', () => {
    test('400 VALIDATION_FAILED names each bad field', async () => {
      const res = await t.admin.post('/api/users', { email: 'not-an-address', role: 'boss', password: 'short' });
      assert.equal(res.status, 400);
      assert.equal(res.json.code, 'VALIDATION_FAILED');
      const fields = (res.json.details.fields as Array<{ in: string; field: string }>).map((f) => `${f.in}:${f.field}`).sort();
      assert.deepEqual(fields, ['body:email', 'body:password', 'body:role']);
      assert.match(res.json.message, /email/);
      assert.match(res.json.message, /role/);
    });

    test('query and path parameters are named too', async () => {
      const q = await t.user.get('/api/documents?limit=0&hasAttachment=maybe&dateFrom=yesterday');
      assert.equal(q.status, 400);
      const fields = (q.json.details.fields as Array<{ in: string; field: string }>).map((f) => `${f.in}:${f.field}`).sort();
      assert.deepEqual(fields, ['query:dateFrom', 'query:hasAttachment', 'query:limit']);
      const p = await t.user.get('/api/documents/12345');
      assert.equal(p.status, 400);
      assert.equal(p.json.details.fields[0].in, 'path');
      assert.equal(p.json.details.fields[0].field, 'id');
    });

    test('malformed JSON and a missing body are VALIDATION_FAILED, not 500', async () => {
      const bad = await t.admin.request('POST', '/api/cabinets', { body: '{"name": ', contentType: 'application/json' });
      assert.equal(bad.status, 400);
      assert.equal(bad.json.code, 'VALIDATION_FAILED');
      const none = await t.admin.request('POST', '/api/cabinets');
      assert.equal(none.status, 400);
      assert.equal(none.json.code, 'VALIDATION_FAILED');
      const emptyPatch = await t.admin.patch(`/api/users/${t.userId}`, {});
      assert.equal(emptyPatch.status, 400);
    });
  });

  describe('cabinets and documents', () => {
    const msg = invoiceMessage({ word: 'zaunkoenigspost' });
    let docId = '';

    test('admins create cabinets; everyone lists and reads them', async () => {
      const created = await t.admin.post('/api/cabinets', { name: 'Rechnungen 2024' });
      assert.equal(created.status, 201, created.text);
      cabinetId = created.json.id;
      assert.equal(created.json.documentCount, 0);
      const dup = await t.admin.post('/api/cabinets', { name: 'Rechnungen 2024' });
      assert.equal(dup.status, 409);
      assert.equal(dup.json.code, 'CABINET_EXISTS');
      const list = await t.user.get('/api/cabinets');
      assert.deepEqual(list.json.cabinets.map((c: { name: string }) => c.name), ['Rechnungen 2024']);
      const one = await t.user.get(`/api/cabinets/${cabinetId}`);
      assert.equal(one.json.name, 'Rechnungen 2024');
      const missing = await t.user.get('/api/cabinets/00000000-0000-4000-8000-000000000000');
      assert.equal(missing.status, 404);
      assert.equal(missing.json.code, 'CABINET_NOT_FOUND');
    });

    test('upload a message/rfc822 body: 201 with the parsed document', async () => {
      const res = await t.user.upload(cabinetId, msg.raw);
      assert.equal(res.status, 201, res.text);
      assert.equal(res.json.duplicate, false);
      assert.equal(res.json.contentDiffers, false);
      const doc = res.json.document;
      docId = doc.id;
      assert.equal(doc.cabinetId, cabinetId);
      assert.equal(doc.subject, msg.subject);
      assert.deepEqual(doc.from, { name: 'Jörg Müller', address: 'joerg@example.de' });
      assert.equal(doc.sha256, sha256(msg.raw));
      assert.equal(doc.size, msg.raw.length);
      assert.equal(doc.attachmentCount, 1);
      assert.equal(doc.attachments[0].filename, ATTACHMENT_NAME);
      assert.equal(doc.attachments[0].contentType, 'application/pdf');
      assert.equal((await t.user.get(`/api/cabinets/${cabinetId}`)).json.documentCount, 1);
    });

    test('the same bytes again: 200 duplicate:true with the existing document', async () => {
      const res = await t.admin.upload(cabinetId, msg.raw);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.duplicate, true);
      assert.equal(res.json.document.id, docId);
    });

    test('same Message-ID, different bytes: archived and flagged contentDiffers', async () => {
      const first = invoiceMessage({ word: 'ersteversion', messageId: 'same-id@example.de' });
      const second = invoiceMessage({ word: 'zweiteversion', messageId: 'same-id@example.de' });
      assert.equal((await t.user.upload(cabinetId, first.raw)).status, 201);
      const res = await t.user.upload(cabinetId, second.raw);
      assert.equal(res.status, 201, res.text);
      assert.equal(res.json.contentDiffers, true);
    });

    test('upload errors: unknown cabinet 404, wrong content type 415, empty body 400, too large 413', async () => {
      const unknown = await t.user.upload('00000000-0000-4000-8000-000000000000', msg.raw);
      assert.equal(unknown.status, 404);
      assert.equal(unknown.json.code, 'CABINET_NOT_FOUND');
      const wrongType = await t.user.request('POST', `/api/documents?cabinet=${cabinetId}`, { body: msg.raw, contentType: 'application/octet-stream' });
      assert.equal(wrongType.status, 415);
      assert.equal(wrongType.json.code, 'VALIDATION_FAILED');
      const asText = await t.user.request('POST', `/api/documents?cabinet=${cabinetId}`, { body: msg.raw, contentType: 'text/plain' });
      assert.equal(asText.status, 400);
      assert.match(asText.json.message, /message\/rfc822/);
      const asJson = await t.user.request('POST', `/api/documents?cabinet=${cabinetId}`, { json: { raw: 'x' } });
      assert.equal(asJson.status, 400);
      const empty = await t.user.upload(cabinetId, Buffer.alloc(0));
      assert.equal(empty.status, 400);
      assert.equal(empty.json.code, 'VALIDATION_FAILED');
      const noCabinet = await t.user.request('POST', '/api/documents', { body: msg.raw, contentType: 'message/rfc822' });
      assert.equal(noCabinet.status, 400);
      assert.equal(noCabinet.json.details.fields[0].field, 'cabinet');

      const small = await startServer('sqlite', { uploadLimit: 1024 });
      try {
        const tenant = await createTenant(small, 'Small');
        const cab = await small.app.archive.createCabinet(tenant.orgId, 'Inbox');
        const big = await tenant.user.upload(cab.id, msg.raw);
        assert.equal(big.status, 413);
        assert.equal(big.json.code, 'VALIDATION_FAILED');
      } finally {
        await small.close();
      }
    });

    test('search by a body word, by an umlaut-folded word, with filters; rank included', async () => {
      const res = await t.user.get(`/api/documents?q=${msg.word}`);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.total, 1);
      assert.equal(res.json.limit, 50);
      assert.equal(res.json.offset, 0);
      assert.equal(res.json.documents[0].id, docId);
      assert.equal(typeof res.json.documents[0].rank, 'number');

      const folded = await t.user.get(`/api/documents?q=${encodeURIComponent('MUNCHEN ' + msg.word)}`);
      assert.equal(folded.json.total, 1);

      const filtered = await t.user.get(
        `/api/documents?q=${msg.word}&cabinet=${cabinetId}&from=joerg&to=anna&dateFrom=2024-03-05&dateTo=2024-03-05&hasAttachment=true`,
      );
      assert.equal(filtered.json.total, 1, filtered.text);
      const outside = await t.user.get(`/api/documents?q=${msg.word}&dateFrom=2024-03-06`);
      assert.equal(outside.json.total, 0);
      const noAttachments = await t.user.get(`/api/documents?q=${msg.word}&hasAttachment=false`);
      assert.equal(noAttachments.json.total, 0);

      const all = await t.user.get('/api/documents?limit=2&offset=1');
      assert.equal(all.json.total, 3);
      assert.equal(all.json.documents.length, 2);

      const nothing = await t.user.get('/api/documents?q=' + encodeURIComponent('!!!'));
      assert.equal(nothing.status, 400);
      assert.equal(nothing.json.code, 'SEARCH_QUERY_EMPTY');
    });

    test('GET /api/documents/:id with attachments', async () => {
      const res = await t.user.get(`/api/documents/${docId}`);
      assert.equal(res.status, 200);
      assert.equal(res.json.id, docId);
      assert.equal(res.json.attachments.length, 1);
      assert.equal(res.json.attachments[0].index, 0);
      const missing = await t.user.get('/api/documents/00000000-0000-4000-8000-000000000000');
      assert.equal(missing.status, 404);
      assert.equal(missing.json.code, 'DOCUMENT_NOT_FOUND');
    });

    test('raw download is byte-identical, message/rfc822, as <id>.eml', async () => {
      const res = await t.user.get(`/api/documents/${docId}/raw`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'message/rfc822');
      assert.equal(res.headers.get('content-disposition'), `attachment; filename="${docId}.eml"`);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
      assert.equal(sha256(res.body), sha256(msg.raw));
      assert.equal(Number(res.headers.get('content-length')), msg.raw.length);
      const head = await t.user.request('HEAD', `/api/documents/${docId}/raw`);
      assert.equal(head.status, 200);
      assert.equal(head.body.length, 0);
      assert.equal(head.headers.get('content-type'), 'message/rfc822');
    });

    test('attachment download: bytes, content type and an RFC 6266 UTF-8 file name', async () => {
      const res = await t.user.get(`/api/documents/${docId}/attachments/0`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'application/pdf');
      assert.equal(sha256(res.body), sha256(msg.attachment));
      const cd = res.headers.get('content-disposition') ?? '';
      assert.equal(cd, `attachment; filename="Rechnung Marz _.pdf"; filename*=UTF-8''Rechnung%20M%C3%A4rz%20%E2%82%AC.pdf`);
      const star = /filename\*=UTF-8''([^;]+)/.exec(cd);
      assert.equal(decodeURIComponent(star![1]!), ATTACHMENT_NAME);
      assert.match(res.headers.get('content-security-policy') ?? '', /sandbox/);

      const none = await t.user.get(`/api/documents/${docId}/attachments/1`);
      assert.equal(none.status, 404);
      assert.equal(none.json.code, 'ATTACHMENT_NOT_FOUND');
      const bad = await t.user.get(`/api/documents/${docId}/attachments/-1`);
      assert.equal(bad.status, 400);
    });

    test('verify: ok, and problems named once the stored original is altered', async () => {
      const res = await t.user.get(`/api/documents/${docId}/verify`);
      assert.equal(res.status, 200);
      assert.deepEqual(res.json, { id: docId, ok: true, problems: [] });

      const { open } = await import('node:fs/promises');
      const at = server.app.blobs.locate(sha256(msg.raw))!;
      const flip = async (): Promise<void> => {
        const fh = await open(at.file, 'r+');
        try {
          const byte = Buffer.alloc(1);
          await fh.read(byte, 0, 1, at.start + 10);
          byte[0] = byte[0]! ^ 0x20;
          await fh.write(byte, 0, 1, at.start + 10);
        } finally {
          await fh.close();
        }
      };
      await flip();
      const broken = await t.user.get(`/api/documents/${docId}/verify`);
      assert.equal(broken.json.ok, false);
      assert.match(broken.json.problems[0], /original message changed/);
      await flip();
    });

    test('a missing blob is 503 BLOB_MISSING, not a crash or a half-sent download', async () => {
      const other = invoiceMessage({ word: 'blobweg' });
      const up = await t.user.upload(cabinetId, other.raw);
      // Its pack moved away (as after a partial restore), then back.
      const { rename } = await import('node:fs/promises');
      const { file } = server.app.blobs.locate(sha256(other.raw))!;
      await rename(file, `${file}.away`);
      try {
        const res = await t.user.get(`/api/documents/${up.json.document.id}/raw`);
        assert.equal(res.status, 503);
        assert.equal(res.json.code, 'BLOB_MISSING');
      } finally {
        await rename(`${file}.away`, file);
      }
    });
  });
});
