/**
 * Every mailbox action after archiving: none, seen, flag, keyword:NAME, move:FOLDER (into a
 * non-ASCII folder) and delete (with expunge). Each applies to every message the rule took,
 * including one that was already in the cabinet (archived by hand first, so the rule finds it
 * as a duplicate), and never to a message the rule did not archive: one left out by a filter,
 * one whose ingest failed.
 */
import assert from 'node:assert/strict';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { MailboxAction } from '../../src/gateways/index.ts';
import { startDovecot, type DovecotPeer } from '../support/peers/dovecot.ts';
import { addRule, append, countDocs, docs, folderMessages, message, openTestApp, sha256, withObserver, type TestApp } from './helpers.ts';

const MOVE_TARGET = 'Ablage/Geprüft ✓';

describe('Connect to Mail: mailbox actions', { timeout: 90_000 }, () => {
  let peer: DovecotPeer;
  let t: TestApp;

  before(async () => {
    peer = await startDovecot();
    t = await openTestApp();
    await withObserver(peer, async (c) => {
      await c.mailboxCreate(MOVE_TARGET);
    });
  });
  after(async () => {
    await t?.close();
    await peer?.stop();
  });

  /**
   * Seeds `take 1`, `take 2` and `take dup` into a folder of its own, archives `take dup` by
   * hand into the rule's cabinet, runs the rule; returns the folder and the three Message-IDs.
   */
  async function runAction(action: MailboxAction) {
    const folder = `Act-${action.type}`;
    const raws = ['take 1', 'take 2', 'take dup'].map((subject) => message({ subject }));
    await append(peer, folder, raws);
    const ids = (await folderMessages(peer, folder)).map((m) => m.messageId);
    const rule = await addRule(t, peer, { name: `r-${action.type}`, folders: [folder], cabinet: `C-${action.type}`, action });

    // By hand first: the third message is in the cabinet before the rule runs.
    const { source } = await t.app.connect.openAccount(t.orgId, 'alice');
    try {
      const uid = (await folderMessages(peer, folder)).find((m) => m.subject === 'take dup')!.uid;
      const [byHand] = await t.app.connect.mailbox.archive(t.orgId, source, 'alice', folder, [uid], rule.cabinetId);
      assert.ok(byHand?.ok && !byHand.duplicate, JSON.stringify(byHand));
    } finally {
      await source.close();
    }

    const summary = await t.app.connect.sync(t.orgId, rule.name);
    assert.deepEqual(
      { fetched: summary.fetched, archived: summary.archived, duplicates: summary.duplicates, failed: summary.failed, skipped: summary.skipped },
      { fetched: 3, archived: 2, duplicates: 1, failed: 0, skipped: 0 },
    );
    assert.equal(await countDocs(t, `C-${action.type}`), 3, 'the duplicate is reported, not archived twice');
    const ledger = await t.app.connect.ledger(t.orgId, rule.name);
    assert.deepEqual(ledger.counts, { archived: 2, duplicate: 1, failed: 0 });
    assert.ok(ledger.entries.every((e) => e.actionDone), 'the ledger records the action as done for all three');
    return { folder, ids };
  }

  async function expectFlag(action: MailboxAction, flag: string): Promise<void> {
    const { folder } = await runAction(action);
    const after = await folderMessages(peer, folder);
    assert.equal(after.length, 3);
    for (const m of after) assert.ok(m.flags.has(flag), `${m.subject} has ${flag}: ${[...m.flags].join(' ')}`);
  }

  test('none: the mailbox is left exactly as it was (nothing read, nothing flagged)', async () => {
    const { folder } = await runAction({ type: 'none' });
    const after = await folderMessages(peer, folder);
    assert.equal(after.length, 3);
    for (const m of after) assert.deepEqual([...m.flags], [], `${m.subject} kept no flags`);
  });

  test('seen: every message taken is marked read, the duplicate too', async () => {
    await expectFlag({ type: 'seen' }, '\\Seen');
  });

  test('flag: every message taken is flagged', async () => {
    await expectFlag({ type: 'flag' }, '\\Flagged');
  });

  test('keyword:NAME: every message taken carries the keyword', async () => {
    await expectFlag({ type: 'keyword', keyword: '$Archiviert' }, '$Archiviert');
  });

  test('move:FOLDER into a non-ASCII folder: each message lands there exactly once', async () => {
    const before = (await folderMessages(peer, MOVE_TARGET)).length;
    const { folder, ids } = await runAction({ type: 'move', folder: MOVE_TARGET });
    assert.deepEqual(await folderMessages(peer, folder), [], 'the source folder is empty');
    const target = await folderMessages(peer, MOVE_TARGET);
    assert.equal(target.length, before + 3);
    assert.deepEqual(target.map((m) => m.messageId).filter((id) => ids.includes(id)).sort(), [...ids].sort());
  });

  test('move into a folder that does not exist fails the run and keeps the messages (never creates it)', async () => {
    const folder = 'Act-move-missing';
    await append(peer, folder, [message({ subject: 'stays put' })]);
    await addRule(t, peer, { name: 'r-move-missing', folders: [folder], cabinet: 'C-move-missing', action: { type: 'move', folder: 'Nirgendwo' } });
    await assert.rejects(t.app.connect.sync(t.orgId, 'r-move-missing'), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'MAIL_FOLDER_NOT_FOUND');
      assert.match(e.message, /Nirgendwo/);
      return true;
    });
    assert.deepEqual((await folderMessages(peer, folder)).map((m) => m.subject), ['stays put']);
    const folders = await withObserver(peer, (c) => c.list());
    assert.ok(!folders.some((f) => f.path === 'Nirgendwo'), 'the target was not created');
    // Archived before the action: the document is there, the action is pending in the ledger.
    assert.equal(await countDocs(t, 'C-move-missing'), 1);
    const ledger = await t.app.connect.ledger(t.orgId, 'r-move-missing');
    assert.deepEqual(ledger.entries.map((e) => [e.status, e.actionDone]), [['archived', false]]);
    // Once the folder exists, the next run carries out the pending move without archiving again.
    await withObserver(peer, (c) => c.mailboxCreate('Nirgendwo').then(() => undefined));
    const again = await t.app.connect.sync(t.orgId, 'r-move-missing');
    assert.equal(again.archived + again.duplicates, 0);
    assert.deepEqual(await folderMessages(peer, folder), []);
    assert.deepEqual((await folderMessages(peer, 'Nirgendwo')).map((m) => m.subject), ['stays put']);
    assert.equal(await countDocs(t, 'C-move-missing'), 1);
  });

  test('delete: expunges every message taken, never one that was not archived', async () => {
    const folder = 'Act-delete';
    // Above 1 MiB, so that its blob is a file of its own, which the blocker below stands in the way of.
    const failing = message({ subject: 'take but ingest fails', attachments: [{ filename: 'big.bin', contentType: 'application/octet-stream', size: 1_200_000 }] });
    const raws = [message({ subject: 'take 1' }), message({ subject: 'leave me (filtered out)' }), failing, message({ subject: 'take 2' }), message({ subject: 'take dup' })];
    await append(peer, folder, raws);
    // Someone else marked this one \Deleted; our UID EXPUNGE must not take it along.
    await append(peer, folder, [message({ subject: 'marked deleted by someone else' })], { flags: ['\\Deleted'] });
    const rule = await addRule(t, peer, { name: 'r-delete', folders: [folder], cabinet: 'C-delete', action: { type: 'delete' }, filters: { subject: { regex: '^take' } } });

    // A real storage failure for exactly one message: where its blob's file should be, there is
    // a directory (as after a disk problem), so storing its bytes fails.
    const sha = sha256(failing);
    const blocker = join(t.dir, 'blobs', sha.slice(0, 2), sha);
    await mkdir(blocker, { recursive: true });
    await writeFile(join(blocker, 'x'), 'in the way');

    const { source } = await t.app.connect.openAccount(t.orgId, 'alice');
    try {
      const uid = (await folderMessages(peer, folder)).find((m) => m.subject === 'take dup')!.uid;
      const [byHand] = await t.app.connect.mailbox.archive(t.orgId, source, 'alice', folder, [uid], rule.cabinetId);
      assert.ok(byHand?.ok);
    } finally {
      await source.close();
    }

    const summary = await t.app.connect.sync(t.orgId, 'r-delete');
    assert.deepEqual(
      { archived: summary.archived, duplicates: summary.duplicates, failed: summary.failed, skipped: summary.skipped },
      { archived: 2, duplicates: 1, failed: 1, skipped: 2 },
      JSON.stringify(summary),
    );
    const left = await folderMessages(peer, folder);
    assert.deepEqual(left.map((m) => m.subject).sort(), ['leave me (filtered out)', 'marked deleted by someone else', 'take but ingest fails']);
    const failed = (await t.app.connect.ledger(t.orgId, 'r-delete', { failedOnly: true })).entries;
    assert.equal(failed.length, 1);
    assert.equal(failed[0]?.subject, 'take but ingest fails');
    assert.equal(failed[0]?.attempts, 1, 'tried once in this run');
    assert.ok(failed[0]?.reason, 'the failure has a reason');
    assert.equal(await countDocs(t, 'C-delete'), 3);

    // The cause goes away: the next run archives the failed message, and only then deletes it.
    await rm(blocker, { recursive: true });
    const again = await t.app.connect.sync(t.orgId, 'r-delete');
    assert.deepEqual({ archived: again.archived, failed: again.failed }, { archived: 1, failed: 0 });
    assert.deepEqual((await folderMessages(peer, folder)).map((m) => m.subject).sort(), ['leave me (filtered out)', 'marked deleted by someone else']);
    const subjects = (await docs(t, 'C-delete')).map((d) => d.subject).sort();
    assert.deepEqual(subjects, ['take 1', 'take 2', 'take but ingest fails', 'take dup']);
    assert.equal((await t.app.connect.ledger(t.orgId, 'r-delete', { failedOnly: true })).entries.length, 0);
    assert.deepEqual(await readdir(join(t.dir, 'blobs', 'tmp')), [], 'the retry spooled the message and left no temp file');
  });

  test('a message archived on a retry gets its mapped fields from its summary, as on the first try', async () => {
    const folder = 'Act-retry-fields';
    const failing = message({
      subject: 'Rechnung fällig', from: 'Jürgen Müller <juergen@lieferant.example>', to: 'Buchhaltung <buha@example.test>',
      attachments: [{ filename: 'big.bin', contentType: 'application/octet-stream', size: 1_200_000 }], // a file of its own, see above
    });
    await append(peer, folder, [failing]);
    await addRule(t, peer, {
      name: 'r-retry-fields', folders: [folder], cabinet: 'C-retry-fields',
      mapping: { Sender: { from: 'from.address' }, Name: { from: 'from.name' }, To: { from: 'to' }, Kind: { value: 'invoice' } },
    });
    const sha = sha256(failing);
    const blocker = join(t.dir, 'blobs', sha.slice(0, 2), sha);
    await mkdir(blocker, { recursive: true });
    await writeFile(join(blocker, 'x'), 'in the way');
    assert.equal((await t.app.connect.sync(t.orgId, 'r-retry-fields')).failed, 1);
    await rm(blocker, { recursive: true });

    // The cursor has moved past it: this run archives it from the ledger's retry list.
    const again = await t.app.connect.sync(t.orgId, 'r-retry-fields');
    assert.deepEqual({ archived: again.archived, failed: again.failed }, { archived: 1, failed: 0 });
    const [doc] = await docs(t, 'C-retry-fields');
    assert.ok(doc);
    const view = await t.app.archive.getDocument(t.orgId, doc.id);
    assert.deepEqual(view.fields, { Sender: 'juergen@lieferant.example', Name: 'Jürgen Müller', To: 'buha@example.test', Kind: 'invoice' });
  });
});
