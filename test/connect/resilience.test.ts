/**
 * What the sync engine must survive without archiving anything twice or losing anything: a
 * folder whose UIDVALIDITY changes (deleted and recreated, same messages delivered again), the
 * connection dropped by the server in the middle of a fetch, and two runs of the same rule at
 * the same time in one process.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startDovecot, type DovecotPeer } from '../support/peers/dovecot.ts';
import {
  addRule,
  append,
  capturingLogger,
  countDocs,
  deliverMaildir,
  docs,
  eventually,
  folderMessages,
  kick,
  message,
  openTestApp,
  withObserver,
  type TestApp,
} from './helpers.ts';

describe('Connect to Mail: resilience', { timeout: 120_000 }, () => {
  let peer: DovecotPeer;
  let t: TestApp;
  const captured = capturingLogger('warn');

  before(async () => {
    peer = await startDovecot();
    t = await openTestApp({ log: captured.log });
  });
  after(async () => {
    await t?.close();
    await peer?.stop();
  });

  test('UIDVALIDITY changes (folder deleted and recreated, same mail again): nothing is archived twice', async () => {
    const folder = 'Epoche';
    const raws = Array.from({ length: 5 }, (_, i) => message({ subject: `epoch message ${i + 1}` }));
    await append(peer, folder, raws);
    await addRule(t, peer, { name: 'r-epoch', folders: [folder], cabinet: 'Epoch', action: { type: 'seen' } });
    const first = await t.app.connect.sync(t.orgId, 'r-epoch');
    assert.equal(first.archived, 5);
    const uidValidity = () =>
      withObserver(peer, async (c) => {
        const st = await c.status(folder, { uidValidity: true });
        assert.ok(st && st.uidValidity !== undefined, `STATUS ${folder}`);
        return String(st.uidValidity);
      });
    const before = await uidValidity();

    // The server forgets the folder: every UID we knew is void. A brand-new message now gets
    // UID 1, the number an old (archived) message had: a ledger keyed on UID alone would skip it.
    const fresh = message({ subject: 'new after the reset' });
    await withObserver(peer, async (c) => {
      await c.mailboxDelete(folder);
      await c.mailboxCreate(folder);
    });
    await append(peer, folder, [fresh, ...raws]);
    const afterReset = await uidValidity();
    assert.notEqual(afterReset, before, 'Dovecot gave the recreated folder a new UIDVALIDITY');
    assert.equal((await folderMessages(peer, folder)).find((m) => m.uid === 1)?.subject, 'new after the reset');

    const second = await t.app.connect.sync(t.orgId, 'r-epoch');
    assert.deepEqual(
      { fetched: second.fetched, archived: second.archived, duplicates: second.duplicates, failed: second.failed },
      { fetched: 6, archived: 1, duplicates: 5, failed: 0 },
    );
    assert.equal(await countDocs(t, 'Epoch'), 6);
    const all = await docs(t, 'Epoch');
    assert.equal(new Set(all.map((d) => d.sha256)).size, 6);
    // The action still applies to the duplicates of the new epoch.
    for (const m of await folderMessages(peer, folder)) assert.ok(m.flags.has('\\Seen'), `${m.subject} is seen`);
    // Both epochs are in the ledger, each UID once per epoch.
    const ledger = await t.app.connect.ledger(t.orgId, 'r-epoch');
    const epochs = new Set(ledger.entries.map((e) => e.uidValidity));
    assert.deepEqual([...epochs].sort(), [before, afterReset].sort());
    assert.deepEqual(ledger.counts, { archived: 6, duplicate: 5, failed: 0 });
    assert.ok(captured.lines.some((l) => /invalidated/.test(String(l['msg']))), 'the reset is logged');

    const third = await t.app.connect.sync(t.orgId, 'r-epoch');
    assert.equal(third.fetched, 0);
  });

  test('the server drops the connection in the middle of a fetch: the run reconnects and archives each message once', async () => {
    const folder = 'Abbruch';
    const total = 600;
    await deliverMaildir(peer, folder, Array.from({ length: total }, (_, i) => message({ subject: `drop ${i}`, body: `message ${i} `.repeat(200) })));
    await addRule(t, peer, { name: 'r-drop', folders: [folder], cabinet: 'Drop', action: { type: 'seen' } });
    const cabinet = (await t.app.archive.cabinetByName(t.orgId, 'Drop')).id;
    const count = () => t.app.archive.countDocuments(t.orgId, cabinet);

    let done = false;
    const running = t.app.connect.sync(t.orgId, 'r-drop').finally(() => {
      done = true;
    });
    const kicks: number[] = [];
    for (const at of [60, 300]) {
      await eventually(async () => done || (await count()) >= at, 60_000, `${at} documents`, 10);
      assert.ok(!done, `the sync was still running when ${at} documents existed`);
      await kick(peer);
      kicks.push(await count());
    }
    const summary = await running;
    assert.ok(kicks[0]! < total && kicks[1]! < total, `kicked mid-run at ${kicks.join(', ')} documents`);
    const reconnects = captured.lines.filter((l) => l['msg'] === 'connection lost during sync; reconnecting' && l['rule'] === 'r-drop');
    assert.ok(reconnects.length >= 2, `reconnected after each kick (${reconnects.length} times)`);

    assert.equal(summary.archived, total, JSON.stringify(summary));
    assert.equal(summary.failed, 0);
    assert.equal(await count(), total);
    const all = await docs(t, 'Drop');
    assert.equal(new Set(all.map((d) => d.sha256)).size, total, 'no document twice');
    assert.equal(new Set(all.map((d) => d.messageId)).size, total);
    const ledger = await t.app.connect.ledger(t.orgId, 'r-drop', { limit: 10_000 });
    assert.equal(ledger.entries.length, total);
    assert.equal(new Set(ledger.entries.map((e) => e.uid)).size, total, 'each UID once in the ledger');
    assert.ok(ledger.entries.every((e) => e.status === 'archived' && e.actionDone));
    const box = await folderMessages(peer, folder);
    assert.equal(box.length, total);
    assert.ok(box.every((m) => m.flags.has('\\Seen')), 'the action reached every message despite the drops');
  });

  test('two runs of one rule at once in one process: the folder lease lets one work, the other reports it busy', async () => {
    const folder = 'Doppelt';
    const total = 150;
    await deliverMaildir(peer, folder, Array.from({ length: total }, (_, i) => message({ subject: `twice ${i}` })));
    await addRule(t, peer, { name: 'r-twice', folders: [folder], cabinet: 'Twice', action: { type: 'seen' } });
    const [a, b] = await Promise.all([t.app.connect.sync(t.orgId, 'r-twice'), t.app.connect.sync(t.orgId, 'r-twice')]);
    const worker = a.busy.length === 0 ? a : b;
    const other = worker === a ? b : a;
    assert.deepEqual(other.busy, [folder]);
    assert.deepEqual({ fetched: other.fetched, archived: other.archived, duplicates: other.duplicates }, { fetched: 0, archived: 0, duplicates: 0 });
    assert.deepEqual({ fetched: worker.fetched, archived: worker.archived, duplicates: worker.duplicates }, { fetched: total, archived: total, duplicates: 0 });
    assert.equal(await countDocs(t, 'Twice'), total);
    // The lease is released at the end: the next run is not busy.
    const next = await t.app.connect.sync(t.orgId, 'r-twice');
    assert.deepEqual(next.busy, []);
  });
});
