/**
 * The sync engine archives one batch while it fetches the next (src/connect/sync/pipeline.ts).
 * These tests hold a batch's ingest until the engine has done something that only a pipelined
 * engine does meanwhile (fetched the next batch, staged it), so that the overlap really happens,
 * and check what must not change: each message archived exactly once, its mailbox action only
 * after its document and ledger row are committed, batches done one after the other, nothing
 * staged left behind, and a connection dropped while a batch is in flight costs nothing.
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { IngestItem } from '../../src/archive/index.ts';
import type { Rule } from '../../src/connect/index.ts';
import { BATCH_COUNT } from '../../src/connect/sync/engine.ts';
import type { MailboxAction, MessageRef } from '../../src/gateways/index.ts';
import { ImapSource } from '../../src/gateways/imap/source.ts';
import { startDovecot, type DovecotPeer } from '../support/peers/dovecot.ts';
import {
  actedUncommitted,
  addRule,
  capturingLogger,
  deliverMaildir,
  docs,
  dropConnection,
  eventually,
  folderMessages,
  message,
  openTestApp,
  sha256,
  withObserver,
  withoutReadAhead,
  type TestApp,
} from './helpers.ts';

/** Three of the engine's batches and 30 more messages. */
const TOTAL = 3 * BATCH_COUNT + 30;
const HOLD_MS = 30_000;

/** What the engine did, seen through wrappers around the archive and the IMAP source. */
interface Watch {
  rule: Rule | null;
  /** Called before ingest number `n` (from 1) goes on; may wait for the engine to get further. */
  beforeIngest: (n: number) => Promise<void>;
  ingests: number;
  fetches: number;
  fetchFailures: number;
  prefetched: IngestItem[][];
  ingested: Set<IngestItem[]>;
  cancelled: Set<IngestItem[]>;
  /** 'ingest' when an ingest starts, 'applied' when a mailbox action has been applied. */
  events: string[];
  applied: number[][];
  /** Mailbox actions applied to a message without a committed document and ledger row. */
  violations: string[];
}

let watch: Watch | null = null;

function newWatch(): Watch {
  return { rule: null, beforeIngest: async () => undefined, ingests: 0, fetches: 0, fetchFailures: 0, prefetched: [], ingested: new Set(), cancelled: new Set(), events: [], applied: [], violations: [] };
}

function instrument(t: TestApp): () => void {
  const archive = t.app.archive;
  const { ingest, prefetch } = archive;
  const proto = ImapSource.prototype;
  const { fetchRaw, apply } = proto;
  archive.prefetch = (items) => {
    const cancel = prefetch.call(archive, items);
    const w = watch;
    w?.prefetched.push(items);
    return async () => {
      w?.cancelled.add(items);
      await cancel();
    };
  };
  archive.ingest = async (orgId, cabinetId, items) => {
    if (watch) {
      const n = ++watch.ingests;
      watch.ingested.add(items);
      watch.events.push('ingest');
      await watch.beforeIngest(n);
    }
    return ingest.call(archive, orgId, cabinetId, items);
  };
  proto.fetchRaw = async function (this: ImapSource, ref: MessageRef) {
    if (watch) watch.fetches++;
    try {
      return await fetchRaw.call(this, ref);
    } catch (err) {
      if (watch) watch.fetchFailures++;
      throw err;
    }
  };
  proto.apply = async function (this: ImapSource, refs: MessageRef[], action: MailboxAction) {
    const w = watch;
    if (w?.rule && refs.length > 0) w.violations.push(...(await actedUncommitted(t, w.rule, refs)));
    await apply.call(this, refs, action);
    w?.events.push('applied');
    w?.applied.push(refs.map((r) => Number(r.key)));
  };
  return () => {
    archive.ingest = ingest;
    archive.prefetch = prefetch;
    proto.fetchRaw = fetchRaw;
    proto.apply = apply;
  };
}

describe('Connect to Mail: archiving a batch while fetching the next', { timeout: 240_000 }, () => {
  let peer: DovecotPeer;
  let t: TestApp;
  let restore: () => void = () => undefined;
  const captured = capturingLogger('warn');

  before(async () => {
    peer = await startDovecot();
    t = await openTestApp({ log: captured.log });
    restore = instrument(t);
  });
  after(async () => {
    restore();
    await t?.close();
    await peer?.stop();
  });

  async function seed(folder: string): Promise<Buffer[]> {
    const raws = Array.from({ length: TOTAL }, (_, i) => message({ subject: `${folder} ${i}`, body: `message ${i} of ${folder} `.repeat(40) }));
    await deliverMaildir(peer, folder, raws);
    return raws;
  }

  /** Everything that must hold after the rule has run to the end, however it got there. */
  async function assertArchivedOnce(rule: Rule, cabinet: string, raws: Buffer[], w: Watch): Promise<void> {
    const all = await docs(t, cabinet);
    assert.equal(all.length, TOTAL, 'one document per message');
    assert.deepEqual(new Set(all.map((d) => d.sha256)), new Set(raws.map(sha256)), 'exactly the delivered messages, byte for byte');
    const ledger = await t.app.connect.ledger(t.orgId, rule.name, { limit: 10_000 });
    assert.equal(ledger.entries.length, TOTAL);
    assert.equal(new Set(ledger.entries.map((e) => e.uid)).size, TOTAL, 'each UID once in the ledger');
    assert.ok(ledger.entries.every((e) => e.status === 'archived' && e.actionDone), 'every message archived and acted upon');
    assert.deepEqual(w.violations, []);
    // Staged batches are either ingested or given up; either way no temp file stays.
    for (const items of w.prefetched) assert.ok(w.ingested.has(items) !== w.cancelled.has(items), 'each prefetched batch is ingested or cancelled, not both');
    assert.deepEqual(await readdir(join(t.dir, 'blobs', 'tmp')), []);
    const again = await t.app.connect.sync(t.orgId, rule.name);
    assert.deepEqual({ fetched: again.fetched, archived: again.archived, failed: again.failed }, { fetched: 0, archived: 0, failed: 0 });
  }

  test(`${TOTAL} messages with move:Archived: the next batch is fetched while one is archived; each message archived once, moved after its commit, batches in order`, async () => {
    const folder = 'Pipe';
    const raws = await seed(folder);
    await withObserver(peer, async (c) => {
      await c.mailboxCreate('Archived');
    });
    const rule = await addRule(t, peer, { name: 'r-pipe', folders: [folder], cabinet: 'Pipe', action: { type: 'move', folder: 'Archived' } });
    const w = (watch = { ...newWatch(), rule });
    // The second batch is not archived until the engine has fetched a message of the third,
    // which a sync that archives each batch before fetching the next never does.
    w.beforeIngest = async (n) => {
      if (n === 2) await eventually(() => w.fetches > 2 * BATCH_COUNT, HOLD_MS, 'a message of the third batch to be fetched while the second is being archived', 10);
    };

    const summary = await t.app.connect.sync(t.orgId, rule.name);
    watch = null;
    assert.deepEqual(
      { fetched: summary.fetched, archived: summary.archived, duplicates: summary.duplicates, failed: summary.failed, skipped: summary.skipped },
      { fetched: TOTAL, archived: TOTAL, duplicates: 0, failed: 0, skipped: 0 },
    );
    assert.equal(w.ingests, 4, `batches of ${BATCH_COUNT}, ${BATCH_COUNT}, ${BATCH_COUNT} and 30`);
    assert.equal(w.prefetched.length, 4);
    // One batch at a time: each batch's mailbox action is done before the next batch is ingested.
    assert.deepEqual(w.events, ['ingest', 'applied', 'ingest', 'applied', 'ingest', 'applied', 'ingest', 'applied']);
    const order = w.applied.flat();
    assert.deepEqual(order, [...order].sort((a, b) => a - b), 'actions in the order of the messages');
    assert.equal(order.length, TOTAL);

    assert.equal((await folderMessages(peer, folder)).length, 0, 'every message moved out');
    const moved = await folderMessages(peer, 'Archived');
    assert.equal(moved.length, TOTAL);
    assert.equal(new Set(moved.map((m) => m.messageId)).size, TOTAL, 'each message in Archived exactly once');
    await assertArchivedOnce(rule, 'Pipe', raws, w);
  });

  test('the connection drops while a batch is in flight and the next one is staged: the staged one is cancelled, the rerun archives everything once', async () => {
    const folder = 'PipeDrop';
    const raws = await seed(folder);
    const rule = await addRule(t, peer, { name: 'r-pipe-drop', folders: [folder], cabinet: 'PipeDrop', action: { type: 'flag' } });
    const w = (watch = { ...newWatch(), rule });
    // Batch 2 is archived only once batch 3 is staged and the server has dropped the
    // connection: batch 2 is committed, its flagging fails, so batch 3 must be given up.
    w.beforeIngest = async (n) => {
      if (n !== 2) return;
      await eventually(() => w.prefetched.length >= 3, HOLD_MS, 'the third batch to be staged while the second is in flight', 10);
      await dropConnection(peer);
    };

    const summary = await t.app.connect.sync(t.orgId, rule.name);
    watch = null;
    assert.deepEqual({ archived: summary.archived, duplicates: summary.duplicates, failed: summary.failed }, { archived: TOTAL, duplicates: 0, failed: 0 });
    const reconnects = captured.lines.filter((l) => l['msg'] === 'connection lost during sync; reconnecting' && l['rule'] === rule.name);
    assert.equal(reconnects.length, 1, 'one reconnect');
    const third = w.prefetched[2]!;
    assert.ok(w.cancelled.has(third) && !w.ingested.has(third), 'the staged third batch was cancelled, not ingested');

    const box = await folderMessages(peer, folder);
    assert.equal(box.length, TOTAL);
    assert.ok(box.every((m) => m.flags.has('\\Flagged')), 'every message flagged, the second batch after the reconnect');
    await assertArchivedOnce(rule, 'PipeDrop', raws, w);
  });

  test('a fetch fails while a batch is in flight: the pass waits for that batch before it reconnects, and the rerun archives everything once', async () => {
    const folder = 'PipeFetch';
    const raws = await seed(folder);
    await withObserver(peer, async (c) => {
      await c.mailboxCreate('Archived2');
    });
    const rule = await addRule(t, peer, { name: 'r-pipe-fetch', folders: [folder], cabinet: 'PipeFetch', action: { type: 'move', folder: 'Archived2' } });
    const w = (watch = { ...newWatch(), rule });
    // The first message of batch 3 meets a dropped connection while batch 2 waits to be
    // archived; batch 2 goes on only once that fetch has failed (the pass is failing).
    w.beforeIngest = async (n) => {
      if (n !== 2) return;
      await eventually(() => w.fetches > 2 * BATCH_COUNT, HOLD_MS, 'a message of the third batch to be asked for', 10);
      await eventually(() => w.fetchFailures > 0, HOLD_MS, 'that fetch to fail', 10);
    };
    const fetchRaw = ImapSource.prototype.fetchRaw;
    ImapSource.prototype.fetchRaw = async function (this: ImapSource, ref: MessageRef) {
      if (w.fetches === 100) await dropConnection(peer);
      return fetchRaw.call(this, ref);
    };

    // Without the read-ahead every fetch goes to the server, so the first one after the drop fails.
    const summary = await withoutReadAhead(() => t.app.connect.sync(t.orgId, rule.name)).finally(() => {
      ImapSource.prototype.fetchRaw = fetchRaw;
      watch = null;
    });
    assert.deepEqual({ archived: summary.archived, duplicates: summary.duplicates, failed: summary.failed }, { archived: TOTAL, duplicates: 0, failed: 0 });
    assert.ok(w.fetchFailures > 0);
    const reconnects = captured.lines.filter((l) => l['msg'] === 'connection lost during sync; reconnecting' && l['rule'] === rule.name);
    assert.equal(reconnects.length, 1, 'one reconnect');
    // Batch 2 was committed, then its move met the dropped connection: reported, not thrown.
    const dropped = captured.lines.filter((l) => l['rule'] === rule.name && /batch in flight failed too/.test(String(l['msg'])));
    assert.equal(dropped.length, 1, 'the in-flight batch failure is logged');
    assert.equal(dropped[0]!['code'], 'MAIL_CONNECTION_LOST');

    assert.equal((await folderMessages(peer, folder)).length, 0, 'every message moved out');
    const moved = await folderMessages(peer, 'Archived2');
    assert.equal(moved.length, TOTAL);
    assert.equal(new Set(moved.map((m) => m.messageId)).size, TOTAL, 'each message in Archived2 exactly once');
    await assertArchivedOnce(rule, 'PipeFetch', raws, w);
  });
});
