/**
 * Test support for the HTTP API: a real App (temp data dir, SQLite or a fresh PostgreSQL
 * database) behind a real listening fastify, and a small fetch client that checks every
 * answer it receives for leaked secrets.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import type { FastifyInstance } from 'fastify';
import { openApp, type App } from '../../src/app.ts';
import { buildApi, type ApiOptions } from '../../src/api/index.ts';
import { loadConfig } from '../../src/config/index.ts';
import { createLogger, type Logger } from '../../src/log/index.ts';
import type { TestDialect } from '../support/databases.ts';

export interface TestServer {
  app: App;
  api: FastifyInstance;
  baseUrl: string;
  close(): Promise<void>;
}

async function adminQuery(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: process.env.MAILROOM_TEST_PG_URL });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/** An App on a fresh database of the dialect, served on 127.0.0.1 at a free port. */
export async function startServer(dialect: TestDialect = 'sqlite', options: ApiOptions = {}, log: Logger = createLogger('silent')): Promise<TestServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'mr-api-'));
  const env: Record<string, string> = { MAILROOM_DATA: dataDir, MAILROOM_SECRET_KEY: randomBytes(32).toString('base64') };
  let dbName: string | undefined;
  if (dialect === 'postgres') {
    const admin = process.env.MAILROOM_TEST_PG_URL;
    if (!admin) throw new Error('MAILROOM_TEST_PG_URL is not set');
    dbName = `mr_api_${randomBytes(6).toString('hex')}`;
    await adminQuery(`CREATE DATABASE ${dbName}`);
    const url = new URL(admin);
    url.pathname = `/${dbName}`;
    env['MAILROOM_DATABASE_URL'] = url.toString();
  }
  const app = await openApp(loadConfig(env), log);
  const api = await buildApi(app, options);
  await api.listen({ port: 0, host: '127.0.0.1' });
  const { port } = api.server.address() as AddressInfo;
  let closed: Promise<void> | undefined;
  return {
    app,
    api,
    baseUrl: `http://127.0.0.1:${port}`,
    close: () =>
      (closed ??= (async () => {
        try {
          await api.close();
          await app.close();
        } finally {
          if (dbName) await adminQuery(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
          await rm(dataDir, { recursive: true, force: true });
        }
      })()),
  };
}

export interface Res {
  status: number;
  headers: Headers;
  body: Buffer;
  text: string;
  /** Parsed JSON body (undefined when the body is not JSON). */
  // Loosely typed on purpose: tests assert bodies field by field.
  json: any;
}

/** Strings that must never appear in any answer (design §2.5). */
export const FORBIDDEN_IN_RESPONSES = ['password_hash', 'token_hash', 'scrypt$', 'passwordHash', 'tokenHash'];

/** Every answer seen by any client in this process, for an end-of-suite leak check. */
export const seenResponses: Array<{ method: string; path: string; status: number }> = [];

export type Credentials = { token: string } | { cookie: string } | null;

export class Client {
  constructor(
    readonly baseUrl: string,
    public credentials: Credentials = null,
  ) {}

  withCredentials(credentials: Credentials): Client {
    return new Client(this.baseUrl, credentials);
  }

  async request(method: string, path: string, opts: { json?: unknown; body?: Buffer | string; contentType?: string; headers?: Record<string, string> } = {}): Promise<Res> {
    const headers: Record<string, string> = { ...opts.headers };
    if (this.credentials && 'token' in this.credentials) headers['authorization'] = `Bearer ${this.credentials.token}`;
    if (this.credentials && 'cookie' in this.credentials) headers['cookie'] = this.credentials.cookie;
    let body: Buffer | string | undefined = opts.body;
    if (opts.json !== undefined) {
      body = JSON.stringify(opts.json);
      headers['content-type'] = 'application/json';
    }
    if (opts.contentType) headers['content-type'] = opts.contentType;
    const res = await fetch(this.baseUrl + path, { method, headers, ...(body === undefined ? {} : { body }) });
    const buf = Buffer.from(await res.arrayBuffer());
    const text = buf.toString('utf8');
    for (const s of FORBIDDEN_IN_RESPONSES) {
      assert.ok(!text.includes(s), `${method} ${path} answered with "${s}" in its body`);
      for (const [name, value] of res.headers) assert.ok(!value.includes(s), `${method} ${path} answered with "${s}" in header ${name}`);
    }
    seenResponses.push({ method, path, status: res.status });
    let json: unknown;
    if ((res.headers.get('content-type') ?? '').includes('application/json') && text !== '') json = JSON.parse(text);
    return { status: res.status, headers: res.headers, body: buf, text, json };
  }

  get(path: string, opts?: Parameters<Client['request']>[2]): Promise<Res> {
    return this.request('GET', path, opts);
  }
  post(path: string, json?: unknown): Promise<Res> {
    return this.request('POST', path, json === undefined ? {} : { json });
  }
  patch(path: string, json: unknown): Promise<Res> {
    return this.request('PATCH', path, { json });
  }
  delete(path: string): Promise<Res> {
    return this.request('DELETE', path);
  }
  upload(cabinetId: string, raw: Buffer): Promise<Res> {
    return this.request('POST', `/api/documents?cabinet=${encodeURIComponent(cabinetId)}`, { body: raw, contentType: 'message/rfc822' });
  }
}

/** Logs in and returns a client carrying the session cookie. */
export async function login(baseUrl: string, email: string, password: string): Promise<Client> {
  const res = await new Client(baseUrl).post('/api/auth/login', { email, password });
  assert.equal(res.status, 200, res.text);
  const setCookie = res.headers.get('set-cookie') ?? '';
  const m = /mailroom_session=([^;]+)/.exec(setCookie);
  assert.ok(m, `no session cookie in ${setCookie}`);
  return new Client(baseUrl, { cookie: `mailroom_session=${m[1]}` });
}

export interface Tenant {
  orgId: string;
  adminId: string;
  adminEmail: string;
  userId: string;
  userEmail: string;
  password: string;
  admin: Client;
  user: Client;
}

/** An organisation with an admin (session cookie) and a plain user (API token). */
export async function createTenant(server: TestServer, name: string): Promise<Tenant> {
  const { app } = server;
  const org = await app.orgs.createOrg(name);
  const password = `pw-${randomBytes(6).toString('hex')}`;
  const slug = name.toLowerCase().replace(/[^a-z0-9]/g, '');
  const admin = await app.orgs.addUser({ orgId: org.id, email: `admin@${slug}.example`, role: 'admin', password });
  const user = await app.orgs.addUser({ orgId: org.id, email: `user@${slug}.example`, role: 'user', password });
  const adminClient = await login(server.baseUrl, admin.email, password);
  const { token } = await app.orgs.createApiToken(user.id, 'tests');
  return {
    orgId: org.id,
    adminId: admin.id,
    adminEmail: admin.email,
    userId: user.id,
    userEmail: user.email,
    password,
    admin: adminClient,
    user: new Client(server.baseUrl, { token }),
  };
}
