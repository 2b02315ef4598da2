/**
 * The notifier loses nothing and sends nothing twice (docs/decisions/0006), checked on the
 * outbox itself (no worker runs): a crash before or after enqueue, a document committed behind
 * the cursor, two subscriptions matching one document, two notifiers on one database, an
 * organisation without SMTP, a subscription removed while its mail waits.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { createNotifier, MARKER_HEADER, NOTIFICATIONS_UNAVAILABLE } from '../../src/notifications/index.ts';
import type { Outbox } from '../../src/outbox/index.ts';
import { dialects } from '../support/databases.ts';
import { archive, createOrg, message, notificationsVia, startWorld, type Org, type World } from './support.ts';

for (const dialect of dialects()) describe(`notifier durability (${dialect})`, () => {
  let world: World;
  /** What the notifier's outbox does on enqueue: 'ok', crash before or after the real enqueue. */
  let mode: 'ok' | 'crash-before' | 'crash-after' = 'ok';

  before(async () => {
    world = await startWorld({
      dialect,
      worker: false,
      notifierMailer: (outbox: Outbox) => ({
        async enqueue(input) {
          if (mode === 'crash-before') throw new Error('simulated crash before enqueue');
          const queued = await outbox.enqueue(input);
          if (mode === 'crash-after') throw new Error('simulated crash after enqueue');
          return queued;
        },
      }),
    });
  });
  after(async () => {
    await world?.close();
  });

  async function setup(name: string): Promise<{ org: Org; cabinetId: string }> {
    const org = await createOrg(world, name);
    await notificationsVia(world, org.id, `${name.toLowerCase()}-smtp`, 2525);
    const cabinetId = (await world.app.archive.createCabinet(org.id, 'Eingang')).id;
    return { org, cabinetId };
  }

  async function outboxSubjects(orgId: string): Promise<string[]> {
    return (await world.outbox.list(orgId)).map((m) => m.subject).sort();
  }

  test('a crash after enqueue, before it was recorded: the next tick finds the mail in the outbox and does not send it again', async () => {
    const { org, cabinetId } = await setup('AfterCrash');
    await world.subscriptions.create({ orgId: org.id, userId: org.user.id }, { cabinetId });
    await archive(world, org.id, cabinetId, message('Vertrag 1', 'x'));
    mode = 'crash-after';
    try {
      const t1 = await world.notifier.tick();
      assert.equal(t1.failed, 1);
    } finally {
      mode = 'ok';
    }
    assert.deepEqual(await outboxSubjects(org.id), ['New in "Eingang": Vertrag 1']);
    const t2 = await world.notifier.tick();
    assert.equal(t2.recovered, 1, JSON.stringify(t2));
    assert.equal(t2.enqueued, 0);
    assert.deepEqual(await outboxSubjects(org.id), ['New in "Eingang": Vertrag 1'], 'still exactly one');
    const [m] = await world.outbox.list(org.id);
    const raw = await world.app.store.outbox.raw(m!.id);
    assert.match(raw!.toString('latin1'), new RegExp(`^${MARKER_HEADER}: [0-9a-f]{32}\\r$`, 'm'));
    assert.equal((await world.notifier.tick()).enqueued, 0);
  });

  test('a crash before enqueue: the recorded mail is enqueued on the next tick, once', async () => {
    const { org, cabinetId } = await setup('BeforeCrash');
    await world.subscriptions.create({ orgId: org.id, userId: org.user.id }, { cabinetId });
    await archive(world, org.id, cabinetId, message('Vertrag 2', 'x'));
    mode = 'crash-before';
    try {
      await world.notifier.tick();
    } finally {
      mode = 'ok';
    }
    assert.deepEqual(await outboxSubjects(org.id), []);
    const t2 = await world.notifier.tick();
    assert.equal(t2.enqueued, 1);
    assert.equal((await world.notifier.tick()).enqueued, 0);
    assert.deepEqual(await outboxSubjects(org.id), ['New in "Eingang": Vertrag 2']);
  });

  test('a document committed behind the cursor (archived_at from the start of a long batch) is still notified, once', async () => {
    const { org, cabinetId } = await setup('Late');
    const sub = await world.subscriptions.create({ orgId: org.id, userId: org.user.id }, { cabinetId });
    // A subscription made an hour ago (documents from before it was made are not notified).
    const hourAgo = new Date(Date.now() - 60 * 60_000).toISOString();
    await sql`UPDATE notification_subscriptions SET created_at = ${hourAgo}, last_archived_at = ${hourAgo} WHERE id = ${sub.id}`.execute(world.app.store.db.kysely);
    await archive(world, org.id, cabinetId, message('Erstes', 'x'));
    assert.equal((await world.notifier.tick()).enqueued, 1);
    const late = await archive(world, org.id, cabinetId, message('Spätes', 'x'));
    // As if its batch had started two minutes ago and committed only now.
    const earlier = new Date(Date.now() - 2 * 60_000).toISOString();
    await sql`UPDATE documents SET archived_at = ${earlier} WHERE id = ${late}`.execute(world.app.store.db.kysely);
    assert.equal((await world.notifier.tick()).enqueued, 1);
    assert.equal((await world.notifier.tick()).enqueued, 0);
    assert.deepEqual(await outboxSubjects(org.id), ['New in "Eingang": Erstes', 'New in "Eingang": Spätes']);
  });

  test('two subscriptions of one user matching one document: one mail; two notifiers on one database: no duplicates', async () => {
    const { org, cabinetId } = await setup('Twice');
    await world.subscriptions.create({ orgId: org.id, userId: org.user.id }, { cabinetId });
    await world.subscriptions.create({ orgId: org.id, userId: org.user.id }, { cabinetId, query: 'Angebot' });
    await world.subscriptions.create({ orgId: org.id, userId: org.admin.id }, { cabinetId, query: 'Angebot' });
    const other = createNotifier({ store: world.app.store, outbox: world.outbox, config: world.config, log: world.log }, { publicUrl: () => world.baseUrl });
    for (let i = 0; i < 5; i++) await archive(world, org.id, cabinetId, message(`Angebot ${i}`, 'Angebot'));
    const results = await Promise.all([world.notifier.tick(), other.tick(), world.notifier.tick(), other.tick()]);
    assert.equal(results.reduce((n, r) => n + r.enqueued, 0), 10, JSON.stringify(results));
    const subjects = await outboxSubjects(org.id);
    assert.equal(subjects.length, 10);
    const to = (await world.outbox.list(org.id)).map((m) => `${m.to.join(',')} ${m.subject}`);
    assert.equal(new Set(to).size, 10, 'each user gets each document once');
  });

  test('without SMTP the mails wait (and the admins see why); once it is configured they go out; a removed subscription\'s mail does not', async () => {
    const org = await createOrg(world, 'Later');
    const cabinetId = (await world.app.archive.createCabinet(org.id, 'Eingang')).id;
    await world.subscriptions.create({ orgId: org.id, userId: org.user.id }, { cabinetId });
    const gone = await world.subscriptions.create({ orgId: org.id, userId: org.admin.id }, { cabinetId });
    await archive(world, org.id, cabinetId, message('Wartet', 'x'));
    const t1 = await world.notifier.tick();
    assert.equal(t1.failed, 2);
    assert.equal(t1.enqueued, 0);
    const [problem] = await world.problems.list(org.id);
    assert.equal(problem?.kind, NOTIFICATIONS_UNAVAILABLE);
    assert.match(problem.fix, /components set notifications/);
    assert.equal((await world.notifier.tick()).enqueued, 0, 'still waiting');

    await world.subscriptions.remove(org.id, gone.id);
    await notificationsVia(world, org.id, 'later-smtp', 2525);
    const t3 = await world.notifier.tick();
    assert.equal(t3.enqueued, 1);
    const msgs = await world.outbox.list(org.id);
    assert.deepEqual(msgs.map((m) => m.to), [[org.user.email]]);
    assert.deepEqual(await world.problems.list(org.id), [], 'resolved once mail goes out');
    assert.equal((await world.notifier.tick()).enqueued, 0);
  });

  test('start() ticks on its own and stop() waits for the running tick', async () => {
    const { org, cabinetId } = await setup('Timer');
    await world.subscriptions.create({ orgId: org.id, userId: org.user.id }, { cabinetId });
    await archive(world, org.id, cabinetId, message('Von selbst', 'x'));
    const timed = createNotifier({ store: world.app.store, outbox: world.outbox, config: world.config, log: world.log }, { publicUrl: () => world.baseUrl, intervalMs: 50 });
    timed.start();
    assert.equal(timed.running, true);
    const deadline = Date.now() + 10_000;
    while ((await world.outbox.list(org.id)).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await timed.stop();
    assert.equal(timed.running, false);
    assert.deepEqual(await outboxSubjects(org.id), ['New in "Eingang": Von selbst']);
  });
});
