/**
 * The outbox repository on every dialect (SQLite, and PostgreSQL when MAILROOM_TEST_PG_URL is
 * set): the enqueue transaction, claims that never overlap, results, reclaim, cancel and retry,
 * components, and organisation scoping.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { OutboxRow, Store } from '../../src/store/index.ts';
import { dialects, openTestStore, type TestStore } from '../support/databases.ts';
import { createOrg } from './support.ts';

const T0 = Date.parse('2026-03-01T08:00:00.000Z');
const iso = (ms: number): string => new Date(ms).toISOString();

function row(orgId: string, over: Partial<OutboxRow> = {}): OutboxRow {
  const id = randomUUID();
  return {
    id,
    org_id: orgId,
    component: 'workflows',
    service_id: null,
    created_by: null,
    message_id: `<${id}@test.example>`,
    subject: 'Grüße',
    envelope_from: 'a@example.test',
    envelope_to_json: JSON.stringify(['b@example.test']),
    raw: Buffer.from(`Message-ID: <${id}@test.example>\r\nSubject: x\r\n\r\nbody \u00ff\r\n`, 'utf8'),
    size: 10,
    needs_smtputf8: 0,
    status: 'queued',
    attempts: 0,
    next_attempt_at: iso(T0),
    give_up_at: iso(T0 + 86_400_000),
    claimed_by: null,
    claim_expires_at: null,
    last_reply: null,
    last_code: null,
    queue_id: null,
    created_at: iso(T0),
    updated_at: iso(T0),
    sent_at: null,
    ...over,
  };
}

const queued = { at: iso(T0), type: 'queued' as const, attempt: null, reply: null, code: null, message: 'queued', worker: null };

for (const dialect of dialects()) {
  describe(`outbox repository (${dialect})`, () => {
    let t: TestStore;
    let store: Store;
    let orgA: string;
    let orgB: string;

    before(async () => {
      t = await openTestStore(dialect);
      store = t.store;
      orgA = await createOrg(store, 'A');
      orgB = await createOrg(store, 'B');
    });
    after(async () => {
      // pg's Pool.end() resolves before its sockets have closed; DROP DATABASE ... WITH (FORCE)
      // in cleanup() would then kill backends whose clients still listen (an uncaught error).
      await store.close();
      await new Promise((r) => setTimeout(r, 300));
      await t.cleanup();
    });

    test('enqueue stores the bytes and the queued event together; reads are scoped by organisation', async () => {
      const r = row(orgA);
      await store.outbox.insert(r, queued);
      const got = await store.outbox.byId(orgA, r.id);
      assert.equal(got?.status, 'queued');
      assert.equal('raw' in (got ?? {}), false, 'views never carry the message bytes');
      assert.equal(await store.outbox.byId(orgB, r.id), undefined, "another organisation's message is unknown");
      assert.deepEqual((await store.outbox.events(r.id)).map((e) => e.type), ['queued']);
      assert.equal((await store.outbox.list(orgB, { limit: 10, offset: 0 })).length, 0);
      // A failing insert leaves nothing behind (same id twice: the row conflicts, the event must not stay).
      await assert.rejects(store.outbox.insert(r, queued));
      assert.equal((await store.outbox.events(r.id)).length, 1);
      await store.outbox.cancel(orgA, r.id, iso(T0), null);
    });

    test('claims take due messages only and two claimers never share one', async () => {
      const rows = Array.from({ length: 40 }, () => row(orgA));
      const later = row(orgA, { next_attempt_at: iso(T0 + 60_000) });
      for (const r of [...rows, later]) await store.outbox.insert(r, queued);
      const now = iso(T0 + 1000);
      const until = iso(T0 + 61_000);
      // Many concurrent claims (on PostgreSQL each on its own pooled connection).
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) => store.outbox.claim({ worker: `w${i}`, now, until, limit: 7, inlineBytes: i % 2 === 0 ? 1 << 20 : 0 })),
      );
      const all = results.flat();
      const ids = all.map((r) => r.id);
      assert.equal(new Set(ids).size, ids.length, 'no message claimed twice');
      assert.equal(ids.length, 40, 'every due message claimed once');
      assert.ok(!ids.includes(later.id), 'a message not yet due is not claimed');
      assert.ok(all.every((r) => r.status === 'sending'));
      for (const [i, claimed] of results.entries()) {
        for (const r of claimed) {
          // Small messages come with the claim; above inlineBytes the worker reads them itself.
          if (i % 2 === 0) assert.ok(Buffer.isBuffer(r.raw) && r.raw.toString('utf8').includes('body \u00ff'), 'inline bytes as stored');
          else assert.equal(r.raw, null);
        }
      }
      const raw = await store.outbox.raw(all[0]!.id);
      assert.ok(Buffer.isBuffer(raw) && raw.toString('utf8').includes('body \u00ff'), 'the bytes come back as stored');
      for (const [i, claimed] of results.entries()) assert.ok(claimed.every((r) => r.claimed_by === `w${i}`));
      assert.deepEqual(await store.outbox.claim({ worker: 'x', now, until, limit: 10, inlineBytes: 0 }), []);

      // Results: sent wins; deferred/failed only while the claim is held.
      const [a, b, c] = results.flat();
      await store.outbox.recordResults([
        { kind: 'sent', id: a!.id, worker: a!.claimed_by!, at: now, attempt: 1, reply: '250 2.0.0 Ok: queued as ABC', queueId: 'ABC', note: null },
        { kind: 'deferred', id: b!.id, worker: b!.claimed_by!, at: now, attempt: 1, reply: '451 later', code: 'MAIL_SEND_TRANSIENT', message: 'deferred', nextAttemptAt: iso(T0 + 120_000) },
        { kind: 'failed', id: c!.id, worker: 'not-the-holder', at: now, attempt: 1, reply: '550 no', code: 'MAIL_SEND_PERMANENT', message: 'failed' },
      ]);
      assert.equal((await store.outbox.byId(orgA, a!.id))?.status, 'sent');
      assert.equal((await store.outbox.byId(orgA, a!.id))?.queue_id, 'ABC');
      const deferred = await store.outbox.byId(orgA, b!.id);
      assert.equal(deferred?.status, 'deferred');
      assert.equal(deferred?.next_attempt_at, iso(T0 + 120_000));
      assert.equal(deferred?.attempts, 1);
      assert.equal((await store.outbox.byId(orgA, c!.id))?.status, 'sending', 'a worker that lost its claim cannot fail the message');
      assert.deepEqual((await store.outbox.events(a!.id)).map((e) => [e.type, e.reply]), [['queued', null], ['sent', '250 2.0.0 Ok: queued as ABC']]);

      // A sent message is never claimed again, even when its row is otherwise due.
      assert.equal(await store.outbox.retryNow(orgA, a!.id, now, iso(T0 + 999_999), null), false);
      assert.equal(await store.outbox.cancel(orgA, a!.id, now, null), false);
      assert.deepEqual((await store.outbox.claim({ worker: 'x', now: iso(T0 + 10_000_000), until, limit: 100, inlineBytes: 0, ids: [a!.id] })).length, 0);

      // Release: unstarted claims go back (queued when never attempted).
      const held = results[3]!.map((r) => r.id);
      assert.equal(await store.outbox.release('w3', held, now), held.length);
      assert.ok((await store.outbox.statusOf(held)).every((s) => s.status === 'queued'));

      // Reclaim: claims that expired come back deferred with a reclaimed event; live ones stay.
      assert.equal(await store.outbox.renewClaims('w4', iso(T0 + 500_000)), results[4]!.length);
      const reclaimed = await store.outbox.reclaimExpired(iso(T0 + 61_000), 'reaper');
      const reclaimedIds = new Set(reclaimed.map((r) => r.id));
      assert.ok(reclaimedIds.has(c!.id));
      assert.ok(results[4]!.every((r) => !reclaimedIds.has(r.id)), 'renewed claims are not reclaimed');
      const back = await store.outbox.byId(orgA, c!.id);
      assert.equal(back?.status, 'deferred');
      assert.equal(back?.claimed_by, null);
      assert.equal(back?.attempts, 1, 'the interrupted attempt counts');
      assert.equal((await store.outbox.events(c!.id)).at(-1)?.type, 'reclaimed');

      // A result for a message that no longer exists (its organisation was removed) is dropped, not an error.
      await store.outbox.recordResults([{ kind: 'sent', id: randomUUID(), worker: 'w', at: now, attempt: 1, reply: '250 ok', queueId: null, note: null }]);
    });

    test('cancel takes queued and deferred only; retry takes queued, deferred and failed', async () => {
      const q = row(orgA);
      const f = row(orgA, { status: 'failed', give_up_at: iso(T0) });
      const s = row(orgA, { status: 'sending', claimed_by: 'w', claim_expires_at: iso(T0 + 1e9) });
      for (const r of [q, f, s]) await store.outbox.insert(r, queued);
      assert.equal(await store.outbox.cancel(orgB, q.id, iso(T0), null), false, 'another organisation cannot cancel it');
      assert.equal(await store.outbox.cancel(orgA, s.id, iso(T0), null), false, 'a message being sent cannot be cancelled');
      assert.equal(await store.outbox.cancel(orgA, f.id, iso(T0), null), false);
      assert.equal(await store.outbox.retryNow(orgA, s.id, iso(T0), iso(T0), null), false);
      assert.equal(await store.outbox.retryNow(orgB, f.id, iso(T0), iso(T0), null), false);
      assert.equal(await store.outbox.retryNow(orgA, f.id, iso(T0 + 5), iso(T0 + 86_400_005), 'admin@a'), true);
      const retried = await store.outbox.byId(orgA, f.id);
      assert.equal(retried?.status, 'queued');
      assert.equal(retried?.give_up_at, iso(T0 + 86_400_005), 'a failed message gets a new retry window');
      assert.equal(await store.outbox.cancel(orgA, q.id, iso(T0), 'admin@a'), true);
      assert.equal((await store.outbox.byId(orgA, q.id))?.status, 'cancelled');
      assert.deepEqual((await store.outbox.events(q.id)).map((e) => e.type), ['queued', 'cancelled']);
      const counts = await store.outbox.counts(orgA);
      assert.ok(counts.cancelled >= 1 && counts.queued >= 1);
    });

    test('component assignments: one per organisation and component, replaced on set', async () => {
      const now = iso(T0);
      const svc = randomUUID();
      await store.mailConfig.insertService({
        id: svc, org_id: orgA, name: 'out', kind: 'smtp', host: 'h', port: 25, security: 'none', tls_mode: 'verify', tls_fingerprint: null,
        auth_type: 'none', username: null, secret: null, from_address: 'a@x.test', from_name: null, rate_limit_per_minute: null, settings_json: '{}', created_at: now, updated_at: now,
      });
      await store.outbox.setComponent({ org_id: orgA, component: 'workflows', service_id: svc, enabled: 1, updated_at: now });
      await store.outbox.setComponent({ org_id: orgA, component: 'workflows', service_id: svc, enabled: 0, updated_at: now });
      await store.outbox.setComponent({ org_id: orgA, component: 'notifications', service_id: svc, enabled: 1, updated_at: now });
      assert.deepEqual((await store.outbox.componentsOf(orgA)).map((c) => [c.component, c.enabled]), [['notifications', 1], ['workflows', 0]]);
      assert.deepEqual(await store.outbox.componentsOf(orgB), []);
      // Removing the service removes its assignments.
      await store.mailConfig.deleteService(orgA, svc);
      assert.deepEqual(await store.outbox.componentsOf(orgA), []);
    });
  });
}
