/**
 * Test support for notifications and password reset: a real App (temp data dir, SQLite) with
 * the pieces App will hold once wired (outbox, password reset, subscriptions, notifier,
 * problems), built by hand, behind a real listening API; plus tenants, SMTP services, messages
 * and Maildir parsing.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { simpleParser, type ParsedMail } from 'mailparser';
import { buildApi } from '../../src/api/index.ts';
import { openApp, type App } from '../../src/app.ts';
import { loadConfig, type Config } from '../../src/config/index.ts';
import { createServices } from '../../src/connect/services.ts';
import { createLogger, type Logger } from '../../src/log/index.ts';
import { createNotifier, createProblems, createSubscriptions, type Notifier, type NotifierOptions, type Problems, type Subscriptions } from '../../src/notifications/index.ts';
import { createPasswordReset, type PasswordReset, type PasswordResetOptions } from '../../src/orgs/index.ts';
import { createOutbox, type Outbox } from '../../src/outbox/index.ts';
import pg from 'pg';
import type { CapturedMessage } from '../support/peers/postfix.ts';
import type { TestDialect } from '../support/databases.ts';
import { Client, login } from '../api/support.ts';

export const KEY = randomBytes(32).toString('base64');

export interface World {
  dataDir: string;
  config: Config;
  log: Logger;
  app: App;
  services: ReturnType<typeof createServices>;
  outbox: Outbox;
  passwordReset: PasswordReset;
  subscriptions: Subscriptions;
  notifier: Notifier;
  problems: Problems;
  api: FastifyInstance;
  baseUrl: string;
  /** The environment the CLI needs to open the same data (MAILROOM_DATA, MAILROOM_SECRET_KEY, ...). */
  cliEnv: Record<string, string>;
  close(): Promise<void>;
}

export interface WorldOptions {
  /** Default sqlite; postgres needs MAILROOM_TEST_PG_URL (a fresh database is made and dropped). */
  dialect?: TestDialect;
  env?: Record<string, string>;
  passwordReset?: PasswordResetOptions;
  notifier?: NotifierOptions;
  /** Start the outbox worker (default true). */
  worker?: boolean;
  /** Replaces the outbox the notifier enqueues into (crash simulations). */
  notifierMailer?: (outbox: Outbox) => { enqueue: Outbox['enqueue'] };
}

async function adminQuery(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: process.env['MAILROOM_TEST_PG_URL'] });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

export async function startWorld(opts: WorldOptions = {}): Promise<World> {
  const dataDir = await mkdtemp(join(tmpdir(), 'mr-notify-'));
  const env: Record<string, string> = { MAILROOM_DATA: dataDir, MAILROOM_SECRET_KEY: KEY, ...opts.env };
  let dbName: string | undefined;
  if (opts.dialect === 'postgres') {
    const admin = process.env['MAILROOM_TEST_PG_URL'];
    if (!admin) throw new Error('MAILROOM_TEST_PG_URL is not set');
    dbName = `mr_notify_${randomBytes(6).toString('hex')}`;
    await adminQuery(`CREATE DATABASE ${dbName}`);
    const url = new URL(admin);
    url.pathname = `/${dbName}`;
    env['MAILROOM_DATABASE_URL'] = url.toString();
  }
  const config = loadConfig(env);
  const log = createLogger(process.env['MAILROOM_TEST_LOG'] ?? 'silent');
  const app = await openApp(config, log);
  const services = createServices(app.store, app.secrets);
  const outbox = createOutbox({ store: app.store, secrets: app.secrets, log, services, config, archive: app.archive }, { pollMs: 100, leaseMs: 5000 });
  if (opts.worker !== false) outbox.worker.start();
  let baseUrl = '';
  const publicUrl = (): string => baseUrl;
  // The per-IP limit is raised: every request of these tests comes from 127.0.0.1.
  const passwordReset = createPasswordReset({ store: app.store, outbox, log, publicUrl }, { perIp: { max: 10_000, windowMs: 3_600_000 }, ...opts.passwordReset });
  const subscriptions = createSubscriptions({ store: app.store, archive: app.archive });
  const mailer = opts.notifierMailer ? opts.notifierMailer(outbox) : outbox;
  const notifier = createNotifier({ store: app.store, outbox: mailer, archive: app.archive, config, log }, { publicUrl, ...opts.notifier });
  const problems = createProblems(app.store);
  // What App will look like once wired (docs/decisions/0006).
  const full = { ...app, outbox, passwordReset, notifications: { subscriptions, notifier }, problems };
  const api = await buildApi(full);
  await api.listen({ port: 0, host: '127.0.0.1' });
  baseUrl = `http://127.0.0.1:${(api.server.address() as AddressInfo).port}`;
  let closed: Promise<void> | undefined;
  return {
    dataDir,
    config,
    log,
    app: full,
    services,
    outbox,
    passwordReset,
    subscriptions,
    notifier,
    problems,
    api,
    baseUrl,
    cliEnv: { MAILROOM_SECRET_KEY: KEY, ...(env['MAILROOM_DATABASE_URL'] ? { MAILROOM_DATABASE_URL: env['MAILROOM_DATABASE_URL'] } : {}), ...opts.env },
    close: () =>
      (closed ??= (async () => {
        try {
          await notifier.stop();
          await api.close();
          await outbox.close();
          await app.close();
        } finally {
          if (dbName) await adminQuery(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
          await rm(dataDir, { recursive: true, force: true });
        }
      })()),
  };
}

export interface Person {
  id: string;
  email: string;
  password: string;
  client: Client;
}

export interface Org {
  id: string;
  name: string;
  admin: Person;
  user: Person;
}

/** An organisation with an administrator and a user (both logged in), in the given language. */
export async function createOrg(world: World, name: string, opts: { domain?: string; language?: 'en' | 'de'; adminLanguage?: 'en' | 'de' } = {}): Promise<Org> {
  const org = await world.app.orgs.createOrg(name);
  const domain = opts.domain ?? `${name.toLowerCase().replace(/[^a-z0-9]/g, '')}.example`;
  const make = async (local: string, role: 'admin' | 'user', language: 'en' | 'de', display: string): Promise<Person> => {
    const password = `pw-${randomBytes(6).toString('hex')}`;
    const u = await world.app.orgs.addUser({ orgId: org.id, email: `${local}@${domain}`, name: display, role, password, language });
    return { id: u.id, email: u.email, password, client: await login(world.baseUrl, u.email, password) };
  };
  return {
    id: org.id,
    name,
    admin: await make('admin', 'admin', opts.adminLanguage ?? 'en', `Admin ${name}`),
    user: await make('user', 'user', opts.language ?? 'en', opts.language === 'de' ? 'Jörg Müller' : 'Ann Smith'),
  };
}

/** An SMTP service of the organisation at 127.0.0.1:port (no TLS, no auth) that sends its notifications. */
export async function notificationsVia(world: World, orgId: string, name: string, port: number): Promise<void> {
  await world.services.create(orgId, { name, kind: 'smtp', host: '127.0.0.1', port, security: 'none', fromAddress: `noreply@${name}.example`, fromName: 'Mailroom' });
  await world.outbox.components.set(orgId, 'notifications', name);
}

function encodedWord(text: string): string {
  return `=?UTF-8?B?${Buffer.from(text, 'utf8').toString('base64')}?=`;
}

/** A small message with a UTF-8 subject (RFC 2047) and an 8-bit UTF-8 body. */
export function message(subject: string, body: string, opts: { from?: string } = {}): Buffer {
  return Buffer.from(
    [
      `From: ${encodedWord('Großhändler Müller')} <${opts.from ?? 'lieferant@example.test'}>`,
      'To: einkauf@example.test',
      `Subject: ${encodedWord(subject)}`,
      'Date: Mon, 02 Mar 2026 09:15:00 +0100',
      `Message-ID: <${randomBytes(8).toString('hex')}@example.test>`,
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: 8bit',
      '',
      body,
      '',
    ].join('\r\n'),
    'utf8',
  );
}

/** Archives one message into the cabinet; returns the document id. */
export async function archive(world: World, orgId: string, cabinetId: string, raw: Buffer): Promise<string> {
  const [r] = await world.app.archive.ingest(orgId, cabinetId, [{ raw, source: 'test' }]);
  assert.ok(r?.ok, r && !r.ok ? r.error.message : 'no outcome');
  return r.id;
}

export async function parseAll(captured: CapturedMessage[]): Promise<ParsedMail[]> {
  return Promise.all(captured.map((c) => simpleParser(c.raw)));
}

/** The first address a parsed message was sent to. */
export function recipient(m: ParsedMail): string {
  const to = Array.isArray(m.to) ? m.to[0] : m.to;
  return to?.value[0]?.address ?? '';
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
