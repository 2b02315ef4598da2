/**
 * Shared pieces of the Connect-to-Mail tests: an App opened in this process on a temp data
 * directory, a service + account + cabinet + rule in one call, fast seeding through IMAP APPEND
 * and Maildir, the mailbox as the server has it, sessions dropped; messages and the observer
 * client come from test/support/imap.ts (the user defaults to alice here).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ImapFlow, FetchMessageObject } from 'imapflow';
import { openApp, type App } from '../../src/app.ts';
import { loadConfig } from '../../src/config/index.ts';
import type { FieldMapping, Rule, RuleFilters } from '../../src/connect/index.ts';
import type { MailboxAction, MessageRef } from '../../src/gateways/index.ts';
import { ReadAhead } from '../../src/gateways/imap/prefetch.ts';
import { createLogger, type Logger } from '../../src/log/index.ts';
import { run } from '../support/peers/apt.ts';
import { MAIL_GID, MAIL_UID, type DovecotPeer } from '../support/peers/dovecot.ts';
import { eventually, kick as kickAs, observer as observeAs, passwordOf, withObserver as withObserverAs } from '../support/imap.ts';

export { eventually, message, passwordOf, readAll, sha256, type MessageSpec } from '../support/imap.ts';

export const ALICE = 'alice@example.test';
export const ALICE_PASSWORD = 'alice-secret';
export const BOB = 'bob@example.test';
export const BOB_PASSWORD = 'bob-secret';

// ---------------------------------------------------------------- the app under test

export interface TestApp {
  app: App;
  orgId: string;
  dir: string;
  /** The environment the app was opened with (for startServer or a CLI child on the same data). */
  env: Record<string, string>;
  close(): Promise<void>;
}

/** A fresh data directory with an explicit secret key, and the App on it (logs silent). */
export async function openTestApp(opts: { dir?: string; env?: Record<string, string>; log?: Logger } = {}): Promise<TestApp> {
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'mr-connect-')));
  const env = { MAILROOM_DATA: dir, MAILROOM_SECRET_KEY: randomBytes(32).toString('base64'), MAILROOM_LOG_LEVEL: 'silent', ...opts.env };
  const app = await openApp(loadConfig(env), opts.log ?? createLogger('silent'));
  const org = await app.orgs.ensureOrg('default');
  let closed = false;
  return {
    app,
    orgId: org.id,
    dir,
    env,
    close: async () => {
      if (closed) return;
      closed = true;
      await app.close();
      if (!opts.dir) await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface RuleSpec {
  name: string;
  folders?: string[];
  cabinet?: string;
  action?: MailboxAction;
  filters?: RuleFilters;
  account?: string;
  user?: string;
  includeSubfolders?: boolean;
  useIdle?: boolean;
  intervalSeconds?: number;
  mapping?: FieldMapping;
}

/** The plain-IMAP service "dove" (created once per app), an account per user, the cabinet, then the rule. */
export async function addRule(t: TestApp, peer: DovecotPeer, spec: RuleSpec): Promise<Rule> {
  const { app, orgId } = t;
  const service =
    (await app.connect.services.list(orgId)).find((s) => s.name === 'dove') ??
    (await app.connect.services.create(orgId, { name: 'dove', kind: 'imap', host: peer.host, port: peer.imapPort, security: 'none' }));
  const user = spec.user ?? ALICE;
  const accountName = spec.account ?? user.split('@')[0]!;
  const account =
    (await app.connect.accounts.list(orgId)).find((a) => a.name === accountName) ??
    (await app.connect.accounts.create(orgId, { name: accountName, serviceId: service.id, username: user, password: passwordOf(peer, user) }));
  const cabinet = await app.archive.ensureCabinet(orgId, spec.cabinet ?? 'Mail');
  return app.connect.rules.create(orgId, {
    name: spec.name,
    accountId: account.id,
    cabinetId: cabinet.id,
    folders: spec.folders ?? ['INBOX'],
    ...(spec.includeSubfolders !== undefined ? { includeSubfolders: spec.includeSubfolders } : {}),
    ...(spec.filters ? { filters: spec.filters } : {}),
    ...(spec.action ? { action: spec.action } : {}),
    ...(spec.useIdle !== undefined ? { useIdle: spec.useIdle } : {}),
    ...(spec.intervalSeconds !== undefined ? { intervalSeconds: spec.intervalSeconds } : {}),
    ...(spec.mapping ? { mapping: spec.mapping } : {}),
  });
}

export async function cabinetId(t: TestApp, name = 'Mail'): Promise<string> {
  return (await t.app.archive.cabinetByName(t.orgId, name)).id;
}

export async function countDocs(t: TestApp, cabinet = 'Mail'): Promise<number> {
  return t.app.archive.countDocuments(t.orgId, await cabinetId(t, cabinet));
}

/** Every document of a cabinet: id, Message-ID, sha256, subject. */
export async function docs(t: TestApp, cabinet = 'Mail'): Promise<Array<{ id: string; messageId: string | null; sha256: string; subject: string }>> {
  const rows = await t.app.store.db.kysely
    .selectFrom('documents')
    .select(['id', 'message_id', 'sha256', 'subject'])
    .where('cabinet_id', '=', await cabinetId(t, cabinet))
    .execute();
  return rows.map((r) => ({ id: r.id, messageId: r.message_id, sha256: r.sha256, subject: r.subject }));
}

// ---------------------------------------------------------------- the mailbox, seen from outside

/** A second, independent client to look at (and seed) the server with. */
export function observer(peer: DovecotPeer, user = ALICE): Promise<ImapFlow> {
  return observeAs(peer, user);
}

export function withObserver<T>(peer: DovecotPeer, fn: (c: ImapFlow) => Promise<T>, user = ALICE): Promise<T> {
  return withObserverAs(peer, user, fn);
}

/** APPENDs messages (much faster than one `doveadm save` each); creates the folder when missing. */
export async function append(
  peer: DovecotPeer,
  folder: string,
  raws: Buffer[],
  opts: { user?: string; flags?: string[]; internalDate?: Date } = {},
): Promise<void> {
  await withObserver(
    peer,
    async (c) => {
      if (folder.toUpperCase() !== 'INBOX') await c.mailboxCreate(folder).catch(() => undefined);
      for (const raw of raws) {
        const r = await c.append(folder, raw, opts.flags ?? [], opts.internalDate);
        if (!r) throw new Error(`APPEND to ${folder} failed`);
      }
    },
    opts.user,
  );
}

export interface Seen {
  uid: number;
  flags: Set<string>;
  messageId: string;
  subject: string;
}

/** The messages of a folder as the server has them now (empty when the folder does not exist). */
export async function folderMessages(peer: DovecotPeer, folder: string, user = ALICE): Promise<Seen[]> {
  return withObserver(
    peer,
    async (c) => {
      const out: Seen[] = [];
      const lock = await c.getMailboxLock(folder, { readOnly: true }).catch(() => null);
      if (!lock) return out;
      try {
        const exists = c.mailbox === false ? 0 : c.mailbox.exists;
        if (exists === 0) return out;
        for await (const m of c.fetch('1:*', { uid: true, flags: true, envelope: true }) as AsyncIterable<FetchMessageObject>) {
          // \Recent is per session (RFC 3501 §2.3.2), not something anyone set: left out.
          const flags = new Set([...(m.flags ?? [])].filter((f) => f !== '\\Recent'));
          out.push({ uid: m.uid, flags, messageId: (m.envelope?.messageId ?? '').replace(/^<|>$/g, ''), subject: m.envelope?.subject ?? '' });
        }
      } finally {
        lock.release();
      }
      return out.sort((a, b) => a.uid - b.uid);
    },
    user,
  );
}

/** Ends every IMAP session of `user` on the server. */
export function kick(peer: DovecotPeer, user = ALICE): Promise<void> {
  return kickAs(peer, user);
}

/** IMAP sessions of `user` the server still has (doveadm who). */
async function sessions(peer: DovecotPeer, user: string): Promise<number> {
  const r = await run('doveadm', ['-c', peer.configFile, 'who', '-1', user]);
  if (r.code !== 0) throw new Error(`doveadm who failed (${r.code}): ${r.stderr}`);
  return r.stdout.split('\n').filter((l) => l.includes(user) && /\bimap\b/.test(l)).length;
}

/** Drops every connection of `user` (the engine's) and waits until the server has ended them. */
export async function dropConnection(peer: DovecotPeer, user = ALICE): Promise<void> {
  await kick(peer, user);
  await eventually(async () => (await sessions(peer, user)) === 0, 30_000, 'the kicked IMAP session to end');
}

/**
 * Decision 0005: the mailbox may change only once the message's document and ledger row are
 * committed. Called before a mailbox action on `refs`; returns what would break that.
 */
export async function actedUncommitted(t: TestApp, rule: Rule, refs: MessageRef[]): Promise<string[]> {
  const { folder, epoch } = refs[0]!;
  const keys = refs.map((r) => r.key);
  const rows = new Map((await t.app.store.sync.ledgerMany(rule.id, folder, epoch, keys)).map((r) => [r.msg_key, r]));
  const ids = [...rows.values()].map((r) => r.document_id).filter((id): id is string => id !== null);
  const stored = new Set(ids.length === 0 ? [] : (await t.app.store.db.kysely.selectFrom('documents').select('id').where('id', 'in', ids).execute()).map((d) => d.id));
  const out: string[] = [];
  for (const key of keys) {
    const row = rows.get(key);
    if (!row || row.status === 'failed') out.push(`UID ${key}: action before its ledger row`);
    else if (row.document_id === null || !stored.has(row.document_id)) out.push(`UID ${key}: action before its document`);
  }
  return out;
}

/** A logger that keeps every line (as parsed JSON) at `level` and above, for asserting what was logged. */
export function capturingLogger(level = 'warn'): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger(level, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { log, lines };
}

/** The JSON summary `sync --json` prints, with exactly these keys. */
export const SUMMARY_KEYS = ['rule', 'fetched', 'archived', 'duplicates', 'failed', 'skipped', 'seconds'];

/**
 * Delivers messages the way a local MDA does with Maildir (write into tmp/, rename into new/),
 * straight into the peer's mail store: fast for thousands of messages or large ones, where one
 * IMAP APPEND each would dominate a test's run time. Dovecot assigns UIDs on its next look.
 * Only INBOX and ASCII folder names (Maildir++: `.Name`); the folder is created over IMAP first.
 */
export async function deliverMaildir(peer: DovecotPeer, folder: string, raws: Buffer[], user = ALICE): Promise<void> {
  await withObserver(
    peer,
    async (c) => {
      if (folder.toUpperCase() !== 'INBOX') await c.mailboxCreate(folder).catch(() => undefined);
      await c.status(folder, { messages: true }); // makes Dovecot create the Maildir on disk
    },
    user,
  );
  if (!/^[\x21-\x7e]+$/.test(folder) || folder.includes('.')) throw new Error(`deliverMaildir: unsupported folder name ${folder}`);
  const root = peer.mailDir(user);
  const dir = folder.toUpperCase() === 'INBOX' ? root : join(root, `.${folder.replace(/\//g, '.')}`);
  const { mkdir, writeFile, rename, chown } = await import('node:fs/promises');
  for (const sub of ['tmp', 'new', 'cur']) {
    await mkdir(join(dir, sub), { recursive: true });
    await chown(join(dir, sub), MAIL_UID, MAIL_GID);
  }
  const stamp = Math.floor(Date.now() / 1000);
  for (const [i, raw] of raws.entries()) {
    const name = `${stamp}.M${i}R${randomBytes(4).toString('hex')}P${process.pid}.mailroom-test,S=${raw.length}`;
    await writeFile(join(dir, 'tmp', name), raw);
    await chown(join(dir, 'tmp', name), MAIL_UID, MAIL_GID);
    await rename(join(dir, 'tmp', name), join(dir, 'new', name));
  }
}

/** Runs `fn` with the IMAP gateway's read-ahead off: every fetchRaw() then asks the server itself. */
export async function withoutReadAhead<T>(fn: () => Promise<T>): Promise<T> {
  const take = ReadAhead.prototype.take;
  ReadAhead.prototype.take = async () => null;
  try {
    return await fn();
  } finally {
    ReadAhead.prototype.take = take;
  }
}
