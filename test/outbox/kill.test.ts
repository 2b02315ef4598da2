/**
 * Crash safety with real processes and a real Postfix: a worker process killed with SIGKILL in
 * the middle of a batch loses nothing, and duplicates are possible only for messages that were
 * `sending` at the kill (the RFC 1047 window, docs/decisions/0004); two worker processes on one
 * SQLite file never send a message twice.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startPostfix, type PostfixPeer } from '../support/peers/postfix.ts';
import { harness, KEY, messageIdCounts, settle, sleep, type Harness } from './support.ts';

const WORKER = resolve(import.meta.dirname, 'worker-process.ts');
const TOTAL = 200;
const KILL_AFTER_SENT = 60;

function spawnWorker(h: Harness, peer: PostfixPeer, mode: 'forever' | 'drain', leaseMs: number): { child: ChildProcess; stdout: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER, h.dataDir, mode, '8', String(leaseMs)], {
    cwd: resolve(import.meta.dirname, '..', '..'),
    env: { ...smtpEnv(peer), PATH: process.env['PATH'] ?? '', MAILROOM_SECRET_KEY: KEY },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stderr!.on('data', (c: Buffer) => (err += c.toString('utf8')));
  const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
  void exited.then((code) => {
    if (code !== 0 && code !== null) process.stderr.write(`[worker-process] exited ${code}: ${err}\n`);
  });
  return { child, stdout: () => out, exited };
}

function smtpEnv(peer: PostfixPeer): Record<string, string> {
  return { MAILROOM_SMTP_HOST: '127.0.0.1', MAILROOM_SMTP_PORT: String(peer.port), MAILROOM_SMTP_SECURITY: 'none', MAILROOM_SMTP_FROM: 'outbox@hub.example' };
}

async function enqueue(h: Harness, n: number, tag: string): Promise<Map<string, string>> {
  const ids = new Map<string, string>(); // Message-ID → outbox id
  for (let i = 0; i < n; i++) {
    const { id, messageId } = await h.outbox.enqueue({ orgId: h.orgId, component: 'workflows', to: [`r${i % 7}@example.test`], subject: `${tag} ${i} – Grüße`, text: `message ${i}\n` });
    ids.set(messageId, id);
  }
  return ids;
}

describe('outbox worker processes', () => {
  let peer: PostfixPeer;

  before(async () => {
    peer = await startPostfix({ name: 'outbox-kill' });
  });
  after(async () => {
    await peer?.stop();
  });

  test(`SIGKILL in the middle of a batch (${TOTAL} messages, concurrency 8): none lost, nothing recorded sent is sent again`, async () => {
    const h = await harness({ env: smtpEnv(peer), options: { concurrency: 8, leaseMs: 1500 } });
    try {
      const byMessageId = await enqueue(h, TOTAL, 'kill');
      const worker = spawnWorker(h, peer, 'forever', 1500);
      // Kill it as soon as it has recorded KILL_AFTER_SENT messages as sent.
      const deadline = Date.now() + 60_000;
      for (;;) {
        const c = await h.outbox.counts();
        if (c.sent >= KILL_AFTER_SENT) break;
        assert.ok(Date.now() < deadline, `the worker process did not send (${JSON.stringify(c)}): ${worker.stdout()}`);
        await sleep(5);
      }
      worker.child.kill('SIGKILL');
      await worker.exited;

      const rows = await h.store.db.kysely.selectFrom('outbox').select(['id', 'message_id', 'status']).execute();
      const sentAtKill = new Set(rows.filter((r) => r.status === 'sent').map((r) => r.message_id));
      const sendingAtKill = new Set(rows.filter((r) => r.status === 'sending').map((r) => r.message_id));
      assert.ok(sentAtKill.size >= KILL_AFTER_SENT && sentAtKill.size < TOTAL, `killed mid-run: ${sentAtKill.size} sent`);
      assert.ok(sendingAtKill.size > 0, 'the kill caught messages in flight');

      // A fresh worker (this process) finishes the job once the dead worker's claims expire.
      const finishBy = Date.now() + 60_000;
      for (;;) {
        await h.outbox.worker.drain();
        const c = await h.outbox.counts();
        if (c.sent === TOTAL) break;
        assert.equal(c.failed, 0);
        assert.ok(Date.now() < finishBy, `not finished: ${JSON.stringify(c)}`);
        await sleep(100);
      }
      const reclaimed = await h.store.db.kysely.selectFrom('outbox_events').select('outbox_id').where('type', '=', 'reclaimed').execute();
      assert.equal(reclaimed.length, sendingAtKill.size, 'exactly the messages in flight were reclaimed');

      const counts = await messageIdCounts(await settle(peer, TOTAL, 60_000));
      const twice = [...counts].filter(([, n]) => n > 1).map(([id]) => id);
      process.stderr.write(
        `[kill] recorded sent before the kill: ${sentAtKill.size}; sending at the kill: ${sendingAtKill.size}; ` +
          `delivered twice (RFC 1047 window): ${twice.length}; messages in the Maildir: ${[...counts.values()].reduce((a, b) => a + b, 0)}\n`,
      );
      for (const messageId of byMessageId.keys()) assert.ok((counts.get(messageId) ?? 0) >= 1, `lost: ${messageId}`);
      assert.equal(counts.size, TOTAL, 'nothing but the queued messages arrived');
      for (const messageId of sentAtKill) assert.equal(counts.get(messageId), 1, `${messageId} was recorded sent before the kill and must arrive exactly once`);
      for (const messageId of twice) {
        assert.ok(sendingAtKill.has(messageId), `${messageId} arrived twice but was not in flight at the kill`);
        assert.equal(counts.get(messageId), 2);
      }
    } finally {
      await h.cleanup();
      await peer.clearMaildir();
    }
  });

  test(`two worker processes on one SQLite file send each of ${TOTAL} messages exactly once`, async () => {
    const h = await harness({ env: smtpEnv(peer) });
    try {
      const byMessageId = await enqueue(h, TOTAL, 'race');
      const a = spawnWorker(h, peer, 'drain', 30_000);
      const b = spawnWorker(h, peer, 'drain', 30_000);
      assert.deepEqual(await Promise.all([a.exited, b.exited]), [0, 0]);
      const sa = JSON.parse(a.stdout()) as { sent: number };
      const sb = JSON.parse(b.stdout()) as { sent: number };
      process.stderr.write(`[race] process A sent ${sa.sent}, process B sent ${sb.sent}\n`);
      assert.equal(sa.sent + sb.sent, TOTAL);
      assert.equal((await h.outbox.counts()).sent, TOTAL);
      const counts = await messageIdCounts(await settle(peer, TOTAL, 60_000));
      assert.equal(counts.size, TOTAL);
      for (const messageId of byMessageId.keys()) assert.equal(counts.get(messageId), 1, messageId);
    } finally {
      await h.cleanup();
      await peer.clearMaildir();
    }
  });
});
