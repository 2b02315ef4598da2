/**
 * `kill -9` of a running `mailroom sync`, three times at different moments, then a run to the
 * end: every message is archived exactly once, the ledger has each UID once, and with
 * `--after move:Archived` every message sits in Archived exactly once and none is lost.
 *
 * About the lease (src/connect/sync/lease.ts): a killed run's folder lease stays until it
 * expires (60 s). Right after the first kill the test checks that a new run respects it (it
 * reports the folder busy and archives nothing); after that it ends each dead holder's lease by
 * setting its expiry into the past, which is exactly what waiting out the TTL would do, without
 * the minutes of waiting.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { BIN, cliEnv, jsonLines } from '../cli/helpers.ts';
import { startDovecot, type DovecotPeer } from '../support/peers/dovecot.ts';
import { addRule, countDocs, deliverMaildir, docs, eventually, folderMessages, message, openTestApp, withObserver, type TestApp } from './helpers.ts';

const TOTAL = 600;

interface Child {
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(): void;
  running(): boolean;
  out(): string;
  err(): string;
}

function startSync(env: NodeJS.ProcessEnv): Child {
  const child = spawn(process.execPath, [BIN, 'sync', 'r1', '--json'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => child.on('close', (code, signal) => done({ code, signal })));
  return {
    exited,
    kill: () => child.kill('SIGKILL'),
    running: () => child.exitCode === null && child.signalCode === null,
    out: () => out,
    err: () => err,
  };
}

describe('Connect to Mail: kill -9 during a sync', { timeout: 150_000 }, () => {
  let peer: DovecotPeer;
  let t: TestApp;
  let env: NodeJS.ProcessEnv;
  const seededIds: string[] = [];

  before(async () => {
    peer = await startDovecot();
    t = await openTestApp();
    // The child processes use the same data directory and secret key as the app in this test.
    env = cliEnv(t.dir, { MAILROOM_SECRET_KEY: t.env['MAILROOM_SECRET_KEY']!, MAILROOM_LOG_LEVEL: 'error' });
    const raws = Array.from({ length: TOTAL }, (_, i) => {
      const messageId = `kill-${i}@connect.test`;
      seededIds.push(messageId);
      return message({ subject: `kill test ${i}`, messageId, body: `Nachricht ${i} `.repeat(100) });
    });
    await deliverMaildir(peer, 'INBOX', raws);
    await withObserver(peer, (c) => c.mailboxCreate('Archived').then(() => undefined));
    await addRule(t, peer, { name: 'r1', action: { type: 'move', folder: 'Archived' } });
  });
  after(async () => {
    await t?.close();
    await peer?.stop();
  });

  /** Ends the lease of a killed holder as its expiry would (see the file comment). */
  async function expireDeadLeases(): Promise<number> {
    const r = await t.app.store.db.kysely.updateTable('leases').set({ expires_at: new Date(0).toISOString() }).executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  test('three kills at different moments, then a full run: each message archived and moved exactly once', async (ctx) => {
    const killedAt: number[] = [];
    // Kill 1 as soon as the first batch is committed; kill 2 a little after the count grew
    // (most likely between the commit and the move); kill 3 after yet more progress.
    const plans = [
      { more: 1, delayMs: 0 },
      { more: 40, delayMs: 15 },
      { more: 60, delayMs: 40 },
    ];
    for (const [i, plan] of plans.entries()) {
      const start = await countDocs(t);
      const child = startSync(env);
      await eventually(async () => !child.running() || (await countDocs(t)) >= start + plan.more, 60_000, `${start + plan.more} documents`, 5);
      if (plan.delayMs) await new Promise((r) => setTimeout(r, plan.delayMs));
      assert.ok(child.running(), `run ${i + 1} was still running when it was to be killed (stderr: ${child.err()})`);
      child.kill();
      const { signal } = await child.exited;
      assert.equal(signal, 'SIGKILL');
      killedAt.push(await countDocs(t));

      if (i === 0) {
        // The dead run's lease still stands: a new run must leave the folder alone.
        const blocked = startSync(env);
        const { code } = await blocked.exited;
        assert.equal(code, 0, blocked.err());
        assert.match(blocked.err(), /another run was already syncing "INBOX"/);
        const [s] = jsonLines<Record<string, number>>(blocked.out());
        assert.deepEqual({ fetched: s?.['fetched'], archived: s?.['archived'] }, { fetched: 0, archived: 0 });
      }
      assert.equal(await expireDeadLeases(), 1, 'the killed run left its lease behind');
    }
    assert.ok(killedAt[2]! < TOTAL, `all three kills happened mid-run (documents at each kill: ${killedAt.join(', ')})`);

    const final = startSync(env);
    const { code } = await final.exited;
    assert.equal(code, 0, final.err());
    assert.doesNotMatch(final.err(), /another run/);
    const [summary] = jsonLines<Record<string, number>>(final.out());
    assert.equal(summary?.['failed'], 0);
    ctx.diagnostic(`documents at the kills: ${killedAt.join(', ')}; final run: ${final.out().trim()}`);

    // Exactly once in the archive.
    const all = await docs(t);
    assert.equal(all.length, TOTAL, `documents: ${all.length}`);
    assert.equal(new Set(all.map((d) => d.sha256)).size, TOTAL, 'no document twice (distinct SHA-256 in the cabinet)');
    assert.deepEqual(all.map((d) => d.messageId).sort(), [...seededIds].sort());

    // Exactly once in the ledger, every action done.
    const ledger = await t.app.connect.ledger(t.orgId, 'r1', { limit: 10_000 });
    const inbox = ledger.entries.filter((e) => e.folder === 'INBOX');
    assert.equal(inbox.length, TOTAL);
    assert.equal(new Set(inbox.map((e) => `${e.uidValidity}:${e.uid}`)).size, TOTAL, 'each UID once');
    assert.ok(inbox.every((e) => e.status !== 'failed' && e.actionDone), 'no failure, every move done');
    assert.equal(ledger.counts.archived + ledger.counts.duplicate, TOTAL);

    // Exactly once in the mailbox: INBOX empty, Archived holds each message once, none lost.
    const left = await folderMessages(peer, 'INBOX');
    const archived = await folderMessages(peer, 'Archived');
    assert.equal(left.length + archived.length, TOTAL, `INBOX ${left.length} + Archived ${archived.length}`);
    assert.equal(left.length, 0);
    assert.deepEqual(archived.map((m) => m.messageId).sort(), [...seededIds].sort());
  });
});
