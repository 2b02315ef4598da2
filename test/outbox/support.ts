/**
 * Test support for the outbox: the pieces App would hold (store, secrets, services, archive),
 * built by hand, and an outbox on top. Also: Message-ID counting for Maildir checks, a fake
 * sender, and a Postfix stop/start that keeps the instance's port.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import { createArchive, type Archive } from '../../src/archive/index.ts';
import { loadConfig, type Config } from '../../src/config/index.ts';
import { createServices } from '../../src/connect/services.ts';
import { resolveSecretKey, SecretBox } from '../../src/crypto/index.ts';
import type { Envelope, MailSender, SendResult } from '../../src/gateways/index.ts';
import { createLogger, type Logger } from '../../src/log/index.ts';
import { createOutbox, type OpenSender, type Outbox, type OutboxOptions } from '../../src/outbox/index.ts';
import { FsBlobStore, openStore, type Store } from '../../src/store/index.ts';
import { openTestStore, type TestDialect } from '../support/databases.ts';
import { run } from '../support/peers/apt.ts';
import type { CapturedMessage, PostfixPeer } from '../support/peers/postfix.ts';

export interface Harness {
  dataDir: string;
  config: Config;
  store: Store;
  secrets: SecretBox;
  log: Logger;
  services: ReturnType<typeof createServices>;
  archive: Archive;
  outbox: Outbox;
  orgId: string;
  /** Another outbox on the same store (a second worker). */
  another(options?: OutboxOptions, openSender?: OpenSender): Outbox;
  cleanup(): Promise<void>;
}

export interface HarnessOptions {
  dialect?: TestDialect;
  /** Extra environment for loadConfig (MAILROOM_SMTP_* ...). */
  env?: Record<string, string>;
  options?: OutboxOptions;
  openSender?: OpenSender;
  /** Reuse this data directory (SQLite) instead of a fresh one. */
  dataDir?: string;
  log?: Logger;
}

export async function harness(opts: HarnessOptions = {}): Promise<Harness> {
  const dialect = opts.dialect ?? 'sqlite';
  let store: Store;
  let dataDir: string;
  let dropStore: () => Promise<void>;
  if (dialect === 'postgres') {
    const t = await openTestStore('postgres');
    store = t.store;
    dataDir = t.dataDir;
    dropStore = t.cleanup;
  } else {
    const own = opts.dataDir === undefined;
    dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'mr-outbox-')));
    store = await openStore({ dataDir });
    dropStore = async () => {
      await store.close();
      if (own) await rm(dataDir, { recursive: true, force: true });
    };
  }
  const config = loadConfig({ MAILROOM_DATA: dataDir, MAILROOM_SECRET_KEY: KEY, ...opts.env });
  const secrets = new SecretBox(resolveSecretKey(config));
  const log = opts.log ?? createLogger(process.env['MAILROOM_TEST_LOG'] ?? 'silent');
  const services = createServices(store, secrets);
  const archive = createArchive(store, new FsBlobStore(join(dataDir, 'blobs')));
  const org = await store.orgs.byName('default').catch(() => undefined);
  const orgId = org?.id ?? (await createOrg(store, 'default'));
  const outboxes: Outbox[] = [];
  const make = (options: OutboxOptions | undefined, openSender: OpenSender | undefined): Outbox => {
    const o = createOutbox(
      { store, secrets, log, services, config, archive, ...(openSender ? { openSender } : {}) },
      { leaseMs: 3000, pollMs: 100, ...options },
    );
    outboxes.push(o);
    return o;
  };
  const outbox = make(opts.options, opts.openSender);
  return {
    dataDir,
    config,
    store,
    secrets,
    log,
    services,
    archive,
    outbox,
    orgId,
    another: (options, openSender) => make(options, openSender ?? opts.openSender),
    cleanup: async () => {
      for (const o of outboxes) await o.close();
      await dropStore();
    },
  };
}

/** One key for every harness, so a second store on the same data dir can open the same secrets. */
export const KEY = randomBytes(32).toString('base64');

export async function createOrg(store: Store, name: string): Promise<string> {
  const id = crypto.randomUUID();
  await store.orgs.insert({ id, name, created_at: new Date().toISOString() });
  return id;
}

/** An SMTP service of the organisation pointing at host:port without TLS or auth. */
export async function smtpService(h: Harness, name: string, port: number, extra: { orgId?: string; fromAddress?: string; fromName?: string } = {}): Promise<string> {
  const s = await h.services.create(extra.orgId ?? h.orgId, {
    name,
    kind: 'smtp',
    host: '127.0.0.1',
    port,
    security: 'none',
    fromAddress: extra.fromAddress ?? `${name}@sender.example`,
    ...(extra.fromName ? { fromName: extra.fromName } : {}),
  });
  return s.id;
}

/** Message-ID → how many times it is in the Maildir. */
export async function messageIdCounts(captured: CapturedMessage[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const c of captured) {
    const m = /^Message-ID:\s*(<[^>\r\n]+>)/im.exec(c.raw.toString('latin1'));
    const id = m?.[1] ?? (await simpleParser(c.raw)).messageId ?? '';
    out.set(id, (out.get(id) ?? 0) + 1);
  }
  return out;
}

/** Waits until Postfix's queue is empty and the Maildir count has not changed for `quietMs`. */
export async function settle(peer: PostfixPeer, atLeast: number, timeoutMs = 60_000, quietMs = 1500): Promise<CapturedMessage[]> {
  await peer.waitForMessages(atLeast, timeoutMs);
  let last = -1;
  let since = Date.now();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const msgs = await peer.readMaildir();
    const q = await run('postqueue', ['-c', peer.configDir, '-p']);
    const empty = /Mail queue is empty/.test(q.stdout + q.stderr);
    if (msgs.length !== last) {
      last = msgs.length;
      since = Date.now();
    } else if (empty && Date.now() - since >= quietMs) {
      return msgs;
    }
    if (Date.now() > deadline) return msgs;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Stops the instance's Postfix (keeping its directory, config and port) and starts it again later. */
export async function postfixStop(peer: PostfixPeer): Promise<void> {
  const r = await run('postfix', ['-c', peer.configDir, 'stop'], { env: { ...process.env, MAIL_CONFIG: peer.configDir }, daemon: true });
  if (r.code !== 0) throw new Error(`postfix stop failed: ${r.stdout}${r.stderr}`);
  // Wait until the port refuses connections.
  const { connect } = await import('node:net');
  for (let i = 0; i < 100; i++) {
    const open = await new Promise<boolean>((resolve) => {
      const s = connect(peer.port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (!open) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('postfix still accepts connections after stop');
}

export async function postfixStart(peer: PostfixPeer): Promise<void> {
  const r = await run('postfix', ['-c', peer.configDir, 'start'], { env: { ...process.env, MAIL_CONFIG: peer.configDir }, daemon: true });
  if (r.code !== 0) throw new Error(`postfix start failed: ${r.stdout}${r.stderr}`);
  const { waitForPort } = await import('../support/peers/apt.ts');
  await waitForPort('127.0.0.1', peer.port, 15_000, '220');
}

/** A sender that accepts everything after `delayMs`, recording each Message-ID it was given. */
export function fakeSender(record: string[], delayMs = 2): OpenSender {
  return () => {
    let n = 0;
    const sender: MailSender = {
      async verify() {
        return { smtputf8: true, maxSize: null };
      },
      async send(envelope: Envelope, raw: Buffer): Promise<SendResult> {
        await new Promise((r) => setTimeout(r, delayMs));
        const id = /^Message-ID:\s*(<[^>\r\n]+>)/im.exec(raw.toString('latin1'))?.[1] ?? '?';
        record.push(id);
        n += 1;
        return { response: `250 2.0.0 Ok: queued as FAKE${n}`, queueId: `FAKE${n}`, accepted: envelope.to, rejected: [] };
      },
      async close() {},
    };
    return sender;
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
