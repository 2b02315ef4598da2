/**
 * A plainer server: the Dovecot peer with its advertised capabilities cut down to IMAP4rev1
 * basics (Dovecot's `imap_capability`), i.e. no MOVE, UIDPLUS, CONDSTORE/QRESYNC or IDLE. The
 * gateway must fall back: UIDNEXT instead of HIGHESTMODSEQ, COPY + \Deleted + EXPUNGE instead
 * of MOVE, NOOP polling instead of IDLE.
 */
import assert from 'node:assert/strict';
import { appendFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { openImapSource } from '../../../src/gateways/imap/index.ts';
import type { Change, Cursor, MailSource } from '../../../src/gateways/ports.ts';
import { runChecked } from '../../support/peers/apt.ts';
import { startDovecot, type DovecotPeer } from '../../support/peers/dovecot.ts';
import { collect, lastCursor, message, plainSettings, withObserver } from './helpers.ts';

const USER = 'alice@example.test';
const BASIC_CAPABILITIES = 'IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE LITERAL+ NAMESPACE CHILDREN LIST-EXTENDED SPECIAL-USE UNSELECT';

const newKeys = (changes: Change[]): string[] => changes.flatMap((c) => (c.type === 'new' ? [c.message.ref.key] : []));

describe('IMAP gateway: a server without MOVE, UIDPLUS, CONDSTORE, QRESYNC or IDLE', () => {
  let peer: DovecotPeer;
  let source: MailSource;

  before(async () => {
    peer = await startDovecot();
    // Test-local change of this test's own peer instance (the helper has no option for it).
    await appendFile(peer.configFile, `\nimap_capability = ${BASIC_CAPABILITIES}\n`);
    await runChecked('doveadm', ['-c', peer.configFile, 'reload']);
    await new Promise((r) => setTimeout(r, 500)); // new imap processes pick up the setting
    for (let i = 1; i <= 4; i++) await peer.deliver(USER, message({ subject: `plain ${i}` }));
    source = await openImapSource(plainSettings(peer, USER, 'alice-secret'));
  });
  after(async () => {
    await source?.close();
    await peer?.stop();
  });

  test('capabilities say what is missing', () => {
    assert.deepEqual(
      { idle: source.capabilities.idle, move: source.capabilities.move, condstore: source.capabilities.condstore, qresync: source.capabilities.qresync },
      { idle: false, move: false, condstore: false, qresync: false },
    );
  });

  test('changes work from UIDNEXT alone: full, incremental, unchanged', async () => {
    const first = await collect(source, 'INBOX', null);
    assert.deepEqual(newKeys(first), ['1', '2', '3', '4']);
    const cursor: Cursor = lastCursor(first);
    assert.equal(cursor.kind === 'imap' && cursor.modseq, undefined);
    await peer.deliver(USER, message({ subject: 'plain 5' }));
    const second = await collect(source, 'INBOX', cursor);
    assert.deepEqual(newKeys(second), ['5']);
    const third = await collect(source, 'INBOX', lastCursor(second));
    assert.deepEqual(third, [{ type: 'cursor', cursor: lastCursor(second) }]);
  });

  test('move falls back to COPY + \\Deleted + EXPUNGE', async () => {
    await withObserver(peer, USER, (c) => c.mailboxCreate('Ablage').then(() => undefined));
    const epoch = (await source.folderStatus('INBOX')).epoch;
    await source.apply([{ folder: 'INBOX', epoch, key: '1' }], { type: 'move', folder: 'Ablage' });
    await withObserver(peer, USER, async (c) => {
      const inbox = await c.mailboxOpen('INBOX', { readOnly: true });
      assert.equal(inbox.exists, 4);
      const target = await c.mailboxOpen('Ablage', { readOnly: true });
      assert.equal(target.exists, 1);
      const moved = await c.fetchOne('1', { envelope: true });
      assert.equal(moved && moved.envelope?.subject, 'plain 1');
    });
  });

  test('watch still starts and stops (NOOP polling instead of IDLE)', async () => {
    const watcher = await source.watch('INBOX', () => undefined, () => undefined);
    await watcher.stop();
  });
});
