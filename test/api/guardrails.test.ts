/**
 * Structural guardrails: properties every route must have, checked over the whole route table
 * so a new route cannot forget them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fastify } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { registeredRoutes, toHttpError } from '../../src/api/index.ts';
import { installAuth } from '../../src/api/auth.ts';
import { contentDisposition } from '../../src/api/download.ts';
import { createRateLimiter } from '../../src/api/rate-limit.ts';
import { AppError, toAppError } from '../../src/errors/index.ts';
import { createLogger } from '../../src/log/index.ts';
import { Client, createTenant, login, startServer, type Tenant, type TestServer } from './support.ts';

const SAMPLE_ID = '00000000-0000-4000-8000-000000000000';

/** A concrete path for a route pattern: every `:param` filled with a syntactically valid value. */
function concrete(url: string): string {
  return url.replace(/:index\b/g, '0').replace(/:[a-zA-Z]+/g, SAMPLE_ID);
}

describe('route guardrails', () => {
  let server: TestServer;
  let tenant: Tenant;
  let routes: ReturnType<typeof registeredRoutes>;

  before(async () => {
    server = await startServer();
    tenant = await createTenant(server, 'Guard');
    routes = registeredRoutes(server.api).filter((r) => r.method !== 'HEAD');
  });
  after(async () => {
    await server.close();
  });

  test('the route table is complete', () => {
    const names = routes.map((r) => `${r.method} ${r.url}`).sort();
    assert.deepEqual(names, [
      'DELETE /api/import-rules/:id',
      'DELETE /api/mail-accounts/:id',
      'DELETE /api/mail-services/:id',
      'DELETE /api/subscriptions/:id',
      'DELETE /api/tokens/:id',
      'DELETE /api/users/:id',
      'GET /api/auth/me',
      'GET /api/cabinets',
      'GET /api/cabinets/:id',
      'GET /api/documents',
      'GET /api/documents/:id',
      'GET /api/documents/:id/attachments/:index',
      'GET /api/documents/:id/raw',
      'GET /api/documents/:id/verify',
      'GET /api/health',
      'GET /api/import-rules',
      'GET /api/import-rules/:id',
      'GET /api/import-rules/:id/ledger',
      'GET /api/import-rules/:id/runs',
      'GET /api/mail-accounts',
      'GET /api/mail-accounts/:id',
      'GET /api/mail-accounts/:id/folders',
      'GET /api/mail-accounts/:id/messages',
      'GET /api/mail-services',
      'GET /api/mail-services/:id',
      'GET /api/openapi.json',
      'GET /api/orgs',
      'GET /api/orgs/current',
      'GET /api/outbox',
      'GET /api/outbox/:id',
      'GET /api/problems',
      'GET /api/subscriptions',
      'GET /api/tokens',
      'GET /api/users',
      'GET /api/users/:id',
      'PATCH /api/users/:id',
      'POST /api/auth/login',
      'POST /api/auth/logout',
      'POST /api/auth/password-reset',
      'POST /api/auth/password-reset/confirm',
      'POST /api/cabinets',
      'POST /api/documents',
      'POST /api/import-rules',
      'POST /api/import-rules/:id/disable',
      'POST /api/import-rules/:id/enable',
      'POST /api/import-rules/:id/ledger/reset',
      'POST /api/import-rules/:id/sync',
      'POST /api/mail-accounts',
      'POST /api/mail-accounts/:id/archive',
      'POST /api/mail-accounts/:id/test',
      'POST /api/mail-services',
      'POST /api/mail-services/:id/test',
      'POST /api/outbox/:id/cancel',
      'POST /api/outbox/:id/retry',
      'POST /api/send',
      'POST /api/subscriptions',
      'POST /api/tokens',
      'POST /api/users',
    ]);
  });

  test('every registered route declares its auth level', () => {
    assert.ok(routes.length > 0);
    for (const r of routes) assert.ok(r.auth === 'none' || r.auth === 'user' || r.auth === 'admin', `${r.method} ${r.url} declares no auth level`);
    // Routes open to anyone are few and deliberate.
    const open = routes.filter((r) => r.auth === 'none').map((r) => `${r.method} ${r.url}`).sort();
    assert.deepEqual(open, ['GET /api/health', 'GET /api/openapi.json', 'POST /api/auth/login', 'POST /api/auth/logout', 'POST /api/auth/password-reset', 'POST /api/auth/password-reset/confirm']);
  });

  test('a route without an auth level cannot be registered', async () => {
    const bare = fastify().withTypeProvider<ZodTypeProvider>();
    installAuth(bare, server.app.orgs);
    assert.throws(() => bare.get('/api/forgotten', async () => 'x'), /must declare config\.auth/);
    await bare.close();
  });

  test('every route except the document itself is in the OpenAPI document, with its auth level', async () => {
    const doc = (await new Client(server.baseUrl).get('/api/openapi.json')).json;
    for (const r of routes) {
      if (r.url === '/api/openapi.json') continue;
      const path = r.url.replace(/:([a-zA-Z]+)/g, '{$1}');
      const op = doc.paths[path]?.[r.method.toLowerCase()];
      assert.ok(op, `${r.method} ${r.url} missing from /api/openapi.json`);
      assert.equal(op['x-mailroom-auth'], r.auth, `${r.method} ${r.url}`);
      assert.ok(op.summary, `${r.method} ${r.url} has no summary`);
      assert.ok(Object.keys(op.responses).some((s) => s.startsWith('2')), `${r.method} ${r.url} documents no success answer`);
      if (r.auth !== 'none') assert.ok(op.responses['401'], `${r.method} ${r.url} documents no 401`);
      if (r.auth === 'admin') assert.ok(op.responses['403'], `${r.method} ${r.url} documents no 403`);
    }
  });

  test('every non-public route answers 401 AUTH_REQUIRED without credentials', async () => {
    const anon = new Client(server.baseUrl);
    for (const r of routes.filter((x) => x.auth !== 'none')) {
      const res = await anon.request(r.method, concrete(r.url), r.method === 'GET' || r.method === 'DELETE' ? {} : { json: {} });
      assert.equal(res.status, 401, `${r.method} ${r.url}: ${res.text}`);
      assert.equal(res.json.code, 'AUTH_REQUIRED');
    }
  });

  test('every admin route answers 403 FORBIDDEN to a plain user', async () => {
    for (const r of routes.filter((x) => x.auth === 'admin')) {
      const res = await tenant.user.request(r.method, concrete(r.url), r.method === 'GET' || r.method === 'DELETE' ? {} : { json: {} });
      assert.equal(res.status, 403, `${r.method} ${r.url}: ${res.text}`);
    }
  });

  test('every answer is JSON in the error shape or a declared success', async () => {
    const anon = new Client(server.baseUrl);
    for (const r of routes) {
      const res = await anon.request(r.method, concrete(r.url), r.method === 'GET' || r.method === 'DELETE' ? {} : { json: {} });
      if (res.status >= 400) {
        assert.equal(typeof res.json?.code, 'string', `${r.method} ${r.url}`);
        assert.equal(typeof res.json?.message, 'string', `${r.method} ${r.url}`);
        assert.ok(!/\n\s+at /.test(res.text), `${r.method} ${r.url} leaked a stack`);
      }
    }
  });
});

describe('error mapper', () => {
  test('AppError keeps its code, message, details and status', () => {
    const m = toHttpError(new AppError('CABINET_EXISTS', 'exists', { details: { name: 'x' } }));
    assert.deepEqual(m, { status: 409, body: { code: 'CABINET_EXISTS', message: 'exists', details: { name: 'x' } }, log: 'none' });
    assert.equal(toHttpError(new AppError('BLOB_MISSING', 'gone')).status, 503);
  });

  test('anything else is 500 INTERNAL with a generic message: no text, stack or secret', () => {
    const secret = 'postgres://admin:hunter2@db/mailroom';
    for (const err of [new Error(`connect failed ${secret}`), new TypeError('x is undefined'), 'a string', toAppError(new Error(secret))]) {
      const m = toHttpError(err);
      assert.equal(m.status, 500);
      assert.equal(m.body.code, 'INTERNAL');
      assert.ok(!JSON.stringify(m.body).includes('hunter2'));
      assert.ok(!JSON.stringify(m.body).includes('undefined'));
      assert.equal(m.log, 'error');
    }
  });

  test('validation errors list each field with where it was', () => {
    const err = Object.assign(new Error('bad'), {
      validation: [
        { instancePath: '/email', message: 'Invalid email' },
        { instancePath: '/to/0/address', message: 'Required' },
      ],
      validationContext: 'body',
    });
    const m = toHttpError(err);
    assert.equal(m.status, 400);
    assert.equal(m.body.code, 'VALIDATION_FAILED');
    assert.deepEqual(m.body.details, {
      fields: [
        { in: 'body', field: 'email', message: 'Invalid email' },
        { in: 'body', field: 'to[0].address', message: 'Required' },
      ],
    });
  });
});

describe('Content-Disposition (RFC 6266 / RFC 8187)', () => {
  test('ASCII names are plain', () => {
    assert.equal(contentDisposition('report.pdf', 'x'), 'attachment; filename="report.pdf"');
  });
  test('non-ASCII names get filename* plus an ASCII fallback', () => {
    assert.equal(contentDisposition('Grüße.txt', 'x'), `attachment; filename="Grusse.txt"; filename*=UTF-8''Gr%C3%BC%C3%9Fe.txt`);
    assert.equal(contentDisposition('报告.pdf', 'x'), `attachment; filename="__.pdf"; filename*=UTF-8''%E6%8A%A5%E5%91%8A.pdf`);
  });
  test('quotes, backslashes, control characters and RFC 8187 specials cannot break the header', () => {
    const cd = contentDisposition('a"b\\c\r\nd\'(e)*.txt', 'x');
    assert.equal(cd, `attachment; filename="a_b_cd'(e)*.txt"; filename*=UTF-8''a%22b%5Ccd%27%28e%29%2A.txt`);
  });
  test('an empty name falls back', () => {
    assert.equal(contentDisposition('', 'attachment-3'), 'attachment; filename="attachment-3"');
  });
});

describe('login rate limiter', () => {
  test('allows max attempts per window, then says when to retry; reset forgets', () => {
    const l = createRateLimiter({ max: 3, windowMs: 1000 });
    assert.ok(l.hit('k', 0).ok && l.hit('k', 10).ok && l.hit('k', 20).ok);
    const denied = l.hit('k', 30);
    assert.deepEqual(denied, { ok: false, retryAfterMs: 970 });
    assert.ok(l.hit('k', 1001).ok, 'the first attempt left the window');
    l.reset('k');
    assert.equal(l.size, 0);
  });
  test('memory stays bounded under a flood of distinct keys', () => {
    const l = createRateLimiter({ max: 3, windowMs: 1000, maxKeys: 100 });
    for (let i = 0; i < 1000; i++) l.hit(`k${i}`, i);
    assert.ok(l.size <= 101, `size ${l.size}`);
  });
});

describe('request logs', () => {
  test('carry no password, session or API token, even at trace level', async () => {
    const lines: string[] = [];
    const server = await startServer('sqlite', {}, createLogger('trace', { write: (line: string) => void lines.push(line) }));
    try {
      const org = await server.app.orgs.createOrg('Logged');
      const password = 'correct horse battery staple';
      await server.app.orgs.addUser({ orgId: org.id, email: 'log@logged.example', role: 'admin', password });
      const anon = new Client(server.baseUrl);
      await anon.post('/api/auth/login', { email: 'log@logged.example', password: 'a wrong secret guess' });
      const session = await login(server.baseUrl, 'log@logged.example', password);
      const created = await session.post('/api/tokens', { name: 'logged' });
      const token = created.json.token as string;
      await anon.withCredentials({ token }).get('/api/auth/me');
      await anon.request('GET', '/api/auth/me', { headers: { authorization: 'Bearer mrt_not-a-real-token' } });
      await session.post('/api/auth/logout');
      const log = lines.join('');
      assert.match(log, /request completed/, 'requests are logged');
      const cookie = session.credentials && 'cookie' in session.credentials ? session.credentials.cookie.split('=')[1]! : '';
      for (const secret of [password, 'a wrong secret guess', token, cookie, 'mrt_not-a-real-token']) {
        assert.ok(secret.length > 10 && !log.includes(secret), `the log contains a secret (${secret.slice(0, 6)}...)`);
      }
    } finally {
      await server.close();
    }
  });
});
