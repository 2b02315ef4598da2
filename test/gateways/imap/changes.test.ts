/**
 * changes(): a full listing from no cursor, then only what is new, nothing when nothing
 * changed, removals through QRESYNC, a reset after UIDVALIDITY changed; and list() paging.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openImapSource } from '../../../src/gateways/imap/index.ts';
import type { Change, Cursor, MailSource, MessageSummary } from '../../../src/gateways/ports.ts';
import { startDovecot, type DovecotPeer } from '../../support/peers/dovecot.ts';
import { collect, lastCursor, message, plainSettings, readAll, withObserver } from './helpers.ts';

const USER = 'alice@example.test';
const FOLDER = 'Sync';

const news = (changes: Change[]): MessageSummary[] => changes.flatMap((c) => (c.type === 'new' ? [c.message] : []));
const keys = (changes: Change[]): number[] => news(changes).map((m) => Number(m.ref.key));
const imap = (c: Cursor): Extract<Cursor, { kind: 'imap' }> => {
  assert.equal(c.kind, 'imap');
  return c as Extract<Cursor, { kind: 'imap' }>;
};

describe('IMAP gateway: changes', () => {
  let peer: DovecotPeer;
  let source: MailSource;

  before(async () => {
    peer = await startDovecot();
    for (let i = 1; i <= 5; i++) await peer.deliver(USER, message({ subject: `first ${i}` }), FOLDER);
    source = await openImapSource(plainSettings(peer, USER, 'alice-secret'));
  });
  after(async () => {
    await source?.close();
    await peer?.stop();
  });

  let cursor: Cursor;

  test('from no cursor: every message as new, UID ascending, then the cursor', async () => {
    const changes = await collect(source, FOLDER, null);
    assert.deepEqual(keys(changes), [1, 2, 3, 4, 5]);
    assert.deepEqual(news(changes).map((m) => m.subject), ['first 1', 'first 2', 'first 3', 'first 4', 'first 5']);
    assert.equal(changes.filter((c) => c.type === 'cursor').length, 1);
    cursor = lastCursor(changes);
    const c = imap(cursor);
    assert.equal(c.lastUid, 5);
    assert.ok(c.uidValidity > 0);
    assert.match(c.modseq ?? '', /^\d+$/);
    const status = await source.folderStatus(FOLDER);
    assert.deepEqual(status, { epoch: String(c.uidValidity), messages: 5 });
    for (const m of news(changes)) assert.equal(m.ref.epoch, String(c.uidValidity));
  });

  test('incremental: only the 3 new messages come', async () => {
    for (let i = 1; i <= 3; i++) await peer.deliver(USER, message({ subject: `second ${i}` }), FOLDER);
    const changes = await collect(source, FOLDER, cursor);
    assert.deepEqual(keys(changes), [6, 7, 8]);
    assert.deepEqual(news(changes).map((m) => m.subject), ['second 1', 'second 2', 'second 3']);
    const next = imap(lastCursor(changes));
    assert.equal(next.lastUid, 8);
    assert.equal(next.uidValidity, imap(cursor).uidValidity);
    assert.notEqual(next.modseq, imap(cursor).modseq);
    cursor = next;
  });

  test('unchanged: only a cursor item, with the same values', async () => {
    const changes = await collect(source, FOLDER, cursor);
    assert.deepEqual(changes, [{ type: 'cursor', cursor }]);
  });

  test('a flag change moves HIGHESTMODSEQ but yields no message', async () => {
    await withObserver(peer, USER, async (c) => {
      await c.mailboxOpen(FOLDER);
      await c.messageFlagsAdd('3', ['\\Flagged'], { uid: true });
    });
    const changes = await collect(source, FOLDER, cursor);
    assert.equal(changes.length, 1);
    const next = imap(lastCursor(changes));
    assert.equal(next.lastUid, 8);
    assert.ok(BigInt(next.modseq ?? '0') > BigInt(imap(cursor).modseq ?? '0'));
    cursor = next;
  });

  test('with QRESYNC, expunged messages come back as removed refs', async () => {
    await withObserver(peer, USER, async (c) => {
      await c.mailboxOpen(FOLDER);
      await c.messageDelete('2,4', { uid: true });
    });
    const changes = await collect(source, FOLDER, cursor);
    const removed = changes.flatMap((c) => (c.type === 'removed' ? [c.ref] : []));
    assert.deepEqual(
      removed.map((r) => r.key),
      ['2', '4'],
    );
    assert.equal(removed[0]?.epoch, String(imap(cursor).uidValidity));
    assert.deepEqual(keys(changes), []);
    cursor = lastCursor(changes);
  });

  test('"n:*" returning the highest UID below n (RFC 3501 §6.4.8) is not reported as new', async () => {
    // Expunge the newest message: UIDNEXT stays 9 while the highest UID drops to 7, so a
    // cursor at 7 without modseq makes the gateway search 8:*, which the server answers with 7.
    await withObserver(peer, USER, async (c) => {
      await c.mailboxOpen(FOLDER);
      await c.messageDelete('8', { uid: true });
    });
    const c = imap(cursor);
    const changes = await collect(source, FOLDER, { kind: 'imap', uidValidity: c.uidValidity, lastUid: 7 });
    assert.deepEqual(keys(changes), []);
    assert.equal(imap(lastCursor(changes)).lastUid, 8);
  });

  test('a new UIDVALIDITY yields a reset, then every message again', async () => {
    await withObserver(peer, USER, async (c) => {
      await c.mailboxDelete(FOLDER);
      await c.mailboxCreate(FOLDER);
    });
    await peer.deliver(USER, message({ subject: 'reborn 1' }), FOLDER);
    await peer.deliver(USER, message({ subject: 'reborn 2' }), FOLDER);
    const changes = await collect(source, FOLDER, cursor);
    assert.equal(changes[0]?.type, 'reset');
    assert.match(changes[0]?.type === 'reset' ? changes[0].reason : '', /UIDVALIDITY/);
    assert.deepEqual(news(changes).map((m) => m.subject), ['reborn 1', 'reborn 2']);
    const next = imap(lastCursor(changes));
    assert.notEqual(next.uidValidity, imap(cursor).uidValidity);
    for (const m of news(changes)) assert.equal(m.ref.epoch, String(next.uidValidity));
  });

  test('summaries carry envelope, flags, dates, size and attachments', async () => {
    const raw = message({ subject: 'Grüße – Rechnung 請求書', from: 'Jörg Müller <joerg@example.test>', attachmentBytes: 2000 });
    await peer.deliver(USER, raw, 'Summaries');
    const [m] = news(await collect(source, 'Summaries', null));
    assert.ok(m);
    assert.equal(m.subject, 'Grüße – Rechnung 請求書');
    assert.deepEqual(m.from, { name: 'Jörg Müller', address: 'joerg@example.test' });
    assert.deepEqual(m.to, [{ name: 'Bob Receiver', address: 'bob.receiver@example.test' }]);
    assert.equal(m.date, '2026-03-14T10:00:00.000Z');
    assert.match(m.receivedAt ?? '', /^\d{4}-\d\d-\d\dT/);
    assert.equal(m.size, raw.length);
    assert.match(m.messageId ?? '', /^<t\d+\..+@mailroom\.test>$/);
    assert.equal(m.hasAttachments, true);
    assert.equal(m.seen, false);
    assert.equal(m.flagged, false);
  });

  test('a caller that reads neither envelope nor structure gets summaries without them, the rest alike', async () => {
    const raw = message({ subject: 'Nur Größe und Flags', from: 'Jörg Müller <joerg@example.test>', attachmentBytes: 2000 });
    await peer.deliver(USER, raw, 'Bare');
    const [full] = news(await collect(source, 'Bare', null));
    const [m] = news(await collect(source, 'Bare', null, { envelope: false, structure: false }));
    assert.ok(full && m);
    assert.deepEqual(full.detail, { envelope: true, structure: true });
    assert.deepEqual(m.detail, { envelope: false, structure: false });
    assert.deepEqual(
      { subject: m.subject, from: m.from, to: m.to, date: m.date, messageId: m.messageId, hasAttachments: m.hasAttachments, names: m.attachmentNames },
      { subject: '', from: null, to: [], date: null, messageId: null, hasAttachments: false, names: [] },
    );
    assert.deepEqual({ ref: m.ref, size: m.size, seen: m.seen, flagged: m.flagged, receivedAt: m.receivedAt }, { ref: full.ref, size: full.size, seen: full.seen, flagged: full.flagged, receivedAt: full.receivedAt });
    assert.equal(m.size, raw.length);
    const [structureOnly] = news(await collect(source, 'Bare', null, { envelope: false, structure: true }));
    assert.deepEqual({ subject: structureOnly?.subject, hasAttachments: structureOnly?.hasAttachments, names: structureOnly?.attachmentNames }, { subject: '', hasAttachments: true, names: ['data.bin'] });
  });

  test('other calls may run inside the loop: summaries come in batches, not one held FETCH', async () => {
    const total = 600; // more than two batches of summaries
    await withObserver(peer, USER, async (c) => {
      await c.mailboxCreate('Many');
      for (let i = 1; i <= total; i++) await c.append('Many', message({ subject: `many ${i}` }));
    });
    const seen: number[] = [];
    let fetched = 0;
    for await (const change of source.changes('Many', null)) {
      if (change.type !== 'new') continue;
      seen.push(Number(change.message.ref.key));
      if (seen.length % 100 === 1) {
        const raw = await readAll(await source.fetchRaw(change.message.ref));
        assert.match(raw.toString('utf8'), new RegExp(`Subject: many ${seen.length}\\r\\n`));
        await source.list('INBOX', { offset: 0, limit: 1 });
        fetched++;
      }
    }
    assert.equal(seen.length, total);
    assert.deepEqual(seen, [...seen].sort((a, b) => a - b));
    assert.equal(fetched, 6);
  });

  test('list(): newest first, paged by sequence number', async () => {
    for (let i = 1; i <= 7; i++) await peer.deliver(USER, message({ subject: `page ${i}` }), 'Pages');
    const first = await source.list('Pages', { offset: 0, limit: 3 });
    assert.equal(first.total, 7);
    assert.deepEqual(first.messages.map((m) => m.subject), ['page 7', 'page 6', 'page 5']);
    const last = await source.list('Pages', { offset: 6, limit: 3 });
    assert.deepEqual(last.messages.map((m) => m.subject), ['page 1']);
    assert.deepEqual((await source.list('Pages', { offset: 7, limit: 3 })).messages, []);
    await peer.deliver(USER, message({ subject: 'page 8' }), 'Pages');
    const fresh = await source.list('Pages', { offset: 0, limit: 1 });
    assert.equal(fresh.total, 8);
    assert.equal(fresh.messages[0]?.subject, 'page 8');
    await assert.rejects(source.list('Pages', { offset: -1, limit: 3 }), /offset/);
  });
});
