/**
 * Messages above the engine's buffer limit (1 MiB) are spooled to a temp file as soon as they are
 * fetched and archived in the pipeline with the others (src/archive/spool.ts): they join the
 * batch being filled instead of being archived alone after the batch in flight. These tests
 * check that they are archived exactly once with their exact bytes and acted on only after
 * their commit, that a batch holds at most 8 of them, and that no temp file stays behind when a
 * pass fails (the connection dropped) while spooled messages wait in the batch being filled or
 * one is being spooled.
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline, Transform, type Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { IngestItem } from '../../src/archive/index.ts';
import { SpooledRaw } from '../../src/archive/spool.ts';
import type { Rule } from '../../src/connect/index.ts';
import { BATCH_COUNT } from '../../src/connect/sync/engine.ts';
import { isAppError } from '../../src/errors/index.ts';
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
  readAll,
  sha256,
  withObserver,
  withoutReadAhead,
  type TestApp,
} from './helpers.ts';

const BUFFER_LIMIT = 1024 * 1024;
const HOLD_MS = 30_000;

/** What the engine did, seen through wrappers around the archive and the IMAP source. */
interface Watch {
  rule: Rule;
  /** Called before ingest number `n` (from 1) goes on; may wait for the engine to get further. */
  beforeIngest: (n: number) => Promise<void>;
  /** Called with spool number `n` (from 1) and its stream; returns the stream to spool. */
  spoolStream: (n: number, stream: Readable) => Readable;
  /** Called before fetch number `n` (from 1). */
  beforeFetch: (n: number) => Promise<void>;
  fetches: number;
  spools: number;
  spooled: number;
  /** Codes of spools that failed. */
  spoolFailures: string[];
  /** Per ingest call: how many items were buffered, spooled, or streams. */
  ingests: Array<{ buffered: number; spooled: number; streams: number }>;
  /** Documents per database transaction (documents.insertMany call). */
  transactions: number[];
  events: string[];
  applied: number[][];
  violations: string[];
}

let watch: Watch | null = null;

function newWatch(rule: Rule): Watch {
  return {
    rule,
    beforeIngest: async () => undefined,
    spoolStream: (_n, s) => s,
    beforeFetch: async () => undefined,
    fetches: 0,
    spools: 0,
    spooled: 0,
    spoolFailures: [],
    ingests: [],
    transactions: [],
    events: [],
    applied: [],
    violations: [],
  };
}

function kinds(items: IngestItem[]): { buffered: number; spooled: number; streams: number } {
  const buffered = items.filter((i) => Buffer.isBuffer(i.raw)).length;
  const spooled = items.filter((i) => i.raw instanceof SpooledRaw).length;
  return { buffered, spooled, streams: items.length - buffered - spooled };
}

function instrument(t: TestApp): () => void {
  const archive = t.app.archive;
  const { ingest, spool } = archive;
  const documents = t.app.store.documents;
  const { insertMany } = documents;
  const proto = ImapSource.prototype;
  const { fetchRaw, apply } = proto;
  archive.spool = async (stream) => {
    const w = watch;
    if (!w) return spool.call(archive, stream);
    const n = ++w.spools;
    try {
      const s = await spool.call(archive, w.spoolStream(n, stream));
      w.spooled++;
      return s;
    } catch (err) {
      w.spoolFailures.push(isAppError(err) ? err.code : String(err));
      throw err;
    }
  };
  archive.ingest = async (orgId, cabinetId, items) => {
    const w = watch;
    if (w) {
      w.ingests.push(kinds(items));
      w.events.push('ingest');
      await w.beforeIngest(w.ingests.length);
    }
    return ingest.call(archive, orgId, cabinetId, items);
  };
  documents.insertMany = async (writes, options) => {
    watch?.transactions.push(writes.length);
    return insertMany.call(documents, writes, options);
  };
  proto.fetchRaw = async function (this: ImapSource, ref: MessageRef) {
    const w = watch;
    if (w) await w.beforeFetch(++w.fetches);
    return fetchRaw.call(this, ref);
  };
  proto.apply = async function (this: ImapSource, refs: MessageRef[], action: MailboxAction) {
    const w = watch;
    if (w && refs.length > 0) w.violations.push(...(await actedUncommitted(t, w.rule, refs)));
    await apply.call(this, refs, action);
    w?.events.push('applied');
    w?.applied.push(refs.map((r) => Number(r.key)));
  };
  return () => {
    archive.ingest = ingest;
    archive.spool = spool;
    documents.insertMany = insertMany;
    proto.fetchRaw = fetchRaw;
    proto.apply = apply;
  };
}

/** Passes the first chunk on, then drops the connection, then goes on: the rest of the download fails. */
function dropAfterFirstChunk(stream: Readable, drop: () => Promise<void>): Readable {
  let first = true;
  const gate = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      this.push(chunk);
      if (!first) return done();
      first = false;
      drop().then(() => done(), done);
    },
  });
  // Errors and destruction travel both ways, so the gateway's stream is never left holding the connection.
  pipeline(stream, gate, () => undefined);
  return gate;
}

describe('Connect to Mail: large messages spooled and archived in the pipeline', { timeout: 300_000 }, () => {
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

  const tmpFiles = (): Promise<string[]> => readdir(join(t.dir, 'blobs', 'tmp'));

  /** `total` messages; every fifth from the third on has an attachment that puts it above BUFFER_LIMIT. */
  async function seed(folder: string, total: number): Promise<{ raws: Buffer[]; large: Set<number> }> {
    const raws: Buffer[] = [];
    const large = new Set<number>();
    for (let i = 0; i < total; i++) {
      if (i % 5 === 2) {
        large.add(i);
        const raw = message({ subject: `${folder} large ${i}`, attachments: [{ filename: `scan-${i}.pdf`, contentType: 'application/pdf', size: 3_300_000 + i * 1000 }] });
        assert.ok(raw.length > BUFFER_LIMIT, 'above the buffer limit');
        raws.push(raw);
      } else {
        raws.push(message({ subject: `${folder} small ${i}`, body: `message ${i} of ${folder} `.repeat(40) }));
      }
    }
    await deliverMaildir(peer, folder, raws);
    return { raws, large };
  }

  /** Each message archived once with its exact bytes, in the ledger, acted on; no temp file left; a rerun has nothing to do. */
  async function assertArchivedOnce(rule: Rule, cabinet: string, raws: Buffer[], large: Set<number>, w: Watch): Promise<void> {
    const all = await docs(t, cabinet);
    assert.equal(all.length, raws.length, 'one document per message');
    const bySubject = new Map(all.map((d) => [d.subject, d]));
    for (const [i, raw] of raws.entries()) {
      const subject = `${cabinet} ${large.has(i) ? 'large' : 'small'} ${i}`;
      const d = bySubject.get(subject);
      assert.ok(d, `${subject} archived`);
      assert.equal(d.sha256, sha256(raw), `${subject}: the document's SHA-256 is that of the appended bytes`);
      if (large.has(i)) {
        const stored = await t.app.archive.openRaw(t.orgId, d.id);
        assert.equal(sha256(await readAll(stored.stream)), d.sha256, `${subject}: the stored original is those bytes`);
      }
    }
    const ledger = await t.app.connect.ledger(t.orgId, rule.name, { limit: 10_000 });
    assert.equal(ledger.entries.length, raws.length);
    assert.equal(new Set(ledger.entries.map((e) => e.uid)).size, raws.length, 'each UID once in the ledger');
    assert.ok(ledger.entries.every((e) => e.status === 'archived' && e.actionDone), 'every message archived and acted upon');
    assert.deepEqual(w.violations, [], 'no mailbox action before its document and ledger row were committed');
    assert.ok(w.ingests.every((k) => k.streams === 0), 'no message handed to the archive as a stream');
    assert.deepEqual(await tmpFiles(), [], 'no temp file left under blobs/tmp');
    const again = await t.app.connect.sync(t.orgId, rule.name);
    assert.deepEqual({ fetched: again.fetched, archived: again.archived, failed: again.failed }, { fetched: 0, archived: 0, failed: 0 });
  }

  test('small and large messages interleaved with move:Archived: large ones join the batches (at most 8 each), fetching goes on while a batch is archived, each message archived once', async () => {
    const folder = 'Spool';
    const { raws, large } = await seed(folder, 60);
    await withObserver(peer, async (c) => {
      await c.mailboxCreate('Archived');
    });
    const rule = await addRule(t, peer, { name: 'r-spool', folders: [folder], cabinet: folder, action: { type: 'move', folder: 'Archived' } });
    const w = (watch = newWatch(rule));
    // The first batch (closed by its 8th spooled message) is archived only once a large message
    // after it has been spooled: an engine that waits for the batch in flight before a large
    // message never gets there.
    w.beforeIngest = async (n) => {
      if (n === 1) await eventually(() => w.spooled >= 9, HOLD_MS, 'a large message of the next batch to be spooled while the first is in flight', 10);
    };

    const summary = await t.app.connect.sync(t.orgId, rule.name).finally(() => {
      watch = null;
    });
    assert.deepEqual(
      { fetched: summary.fetched, archived: summary.archived, duplicates: summary.duplicates, failed: summary.failed, skipped: summary.skipped },
      { fetched: 60, archived: 60, duplicates: 0, failed: 0, skipped: 0 },
    );
    assert.equal(w.spooled, large.size, 'every large message spooled, no small one');
    // All 60 are one group of candidates (the engine takes BATCH_COUNT, 100, at a time): the 8th
    // spooled message (#37) closes the first batch, the end of the folder the second.
    assert.ok(BATCH_COUNT >= 60);
    assert.deepEqual(w.ingests, [
      { buffered: 30, spooled: 8, streams: 0 },
      { buffered: 18, spooled: 4, streams: 0 },
    ]);
    assert.deepEqual(w.transactions, [38, 22], 'each batch archived in one transaction (no one-by-one fallback)');
    assert.deepEqual(w.events, ['ingest', 'applied', 'ingest', 'applied'], 'one batch at a time, each acted on before the next is ingested');
    const order = w.applied.flat();
    assert.deepEqual(order, [...order].sort((a, b) => a - b), 'actions in the order of the messages');
    assert.equal(order.length, 60);

    assert.equal((await folderMessages(peer, folder)).length, 0, 'every message moved out');
    const moved = await folderMessages(peer, 'Archived');
    assert.equal(moved.length, 60);
    assert.equal(new Set(moved.map((m) => m.messageId)).size, 60, 'each message in Archived exactly once');
    await assertArchivedOnce(rule, folder, raws, large, w);
  });

  test('a fetch fails while spooled messages wait in the batch being filled: their temp files go, the rerun archives everything once', async () => {
    const folder = 'SpoolFetch';
    const { raws, large } = await seed(folder, 30);
    const rule = await addRule(t, peer, { name: 'r-spool-fetch', folders: [folder], cabinet: folder, action: { type: 'flag' } });
    const w = (watch = newWatch(rule));
    let pendingAtDrop: string[] = [];
    w.beforeFetch = async (n) => {
      if (n !== 16) return;
      // Messages 0-14 are in the batch being filled, three of them spooled (#2, #7, #12).
      pendingAtDrop = await tmpFiles();
      await dropConnection(peer);
    };

    // Without the read-ahead every fetch goes to the server, so the first one after the drop fails.
    const summary = await withoutReadAhead(() => t.app.connect.sync(t.orgId, rule.name)).finally(() => {
      watch = null;
    });
    assert.equal(pendingAtDrop.length, 3, `the three spooled messages had their temp files when the connection dropped (${pendingAtDrop.join(', ')})`);
    assert.deepEqual({ archived: summary.archived, duplicates: summary.duplicates, failed: summary.failed }, { archived: 30, duplicates: 0, failed: 0 });
    const reconnects = captured.lines.filter((l) => l['msg'] === 'connection lost during sync; reconnecting' && l['rule'] === rule.name);
    assert.equal(reconnects.length, 1, 'one reconnect');
    assert.equal(w.spooled, 3 + large.size, 'the three spooled before the drop were fetched again');
    assert.equal(w.ingests.length, 1, 'nothing was handed to the archive before the drop');
    const box = await folderMessages(peer, folder);
    assert.equal(box.length, 30);
    assert.ok(box.every((m) => m.flags.has('\\Flagged')), 'every message flagged');
    await assertArchivedOnce(rule, folder, raws, large, w);
  });

  test('the connection drops in the middle of a spool, with a batch in flight and spooled messages pending: nothing left behind, the rerun archives everything once', async () => {
    const folder = 'SpoolDrop';
    const { raws, large } = await seed(folder, 60);
    const rule = await addRule(t, peer, { name: 'r-spool-drop', folders: [folder], cabinet: folder, action: { type: 'seen' } });
    const w = (watch = newWatch(rule));
    // Spool 10 is message #47: the first batch (#0-#37) is in flight, #42 waits spooled in the
    // batch being filled. The first batch goes on only once that spool has failed.
    w.spoolStream = (n, stream) => (n === 10 ? dropAfterFirstChunk(stream, () => dropConnection(peer)) : stream);
    w.beforeIngest = async (n) => {
      if (n === 1) await eventually(() => w.spoolFailures.length > 0, HOLD_MS, 'the spool of message #47 to fail', 10);
    };

    const summary = await withoutReadAhead(() => t.app.connect.sync(t.orgId, rule.name)).finally(() => {
      watch = null;
    });
    assert.deepEqual(w.spoolFailures, ['MAIL_CONNECTION_LOST'], 'the spool met the dropped connection: a transient failure');
    assert.deepEqual({ archived: summary.archived, duplicates: summary.duplicates, failed: summary.failed }, { archived: 60, duplicates: 0, failed: 0 });
    const reconnects = captured.lines.filter((l) => l['msg'] === 'connection lost during sync; reconnecting' && l['rule'] === rule.name);
    assert.equal(reconnects.length, 1, 'one reconnect');
    assert.equal(w.ingests[0]?.spooled, 8, 'the batch in flight held 8 spooled messages');
    const box = await folderMessages(peer, folder);
    assert.equal(box.length, 60);
    assert.ok(box.every((m) => m.flags.has('\\Seen')), 'every message seen, those of the batch in flight after the reconnect');
    await assertArchivedOnce(rule, folder, raws, large, w);
  });
});
