/**
 * watch(): IDLE on a second connection, reconnecting after a drop.
 * Waits use generous upper bounds only; nothing here asserts how fast IDLE is.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { isAppError } from '../../../src/errors/index.ts';
import { openImapSource } from '../../../src/gateways/imap/index.ts';
import type { MailSource } from '../../../src/gateways/ports.ts';
import { startDovecot, type DovecotPeer } from '../../support/peers/dovecot.ts';
import { eventually, kick, message, plainSettings } from './helpers.ts';

const ALICE = 'alice@example.test';
const BOB = 'bob@example.test';
const GENEROUS_MS = 15_000;

describe('IMAP gateway: watch', () => {
  let peer: DovecotPeer;
  let alice: MailSource;

  before(async () => {
    peer = await startDovecot();
    alice = await openImapSource(plainSettings(peer, ALICE, 'alice-secret'));
  });
  after(async () => {
    await alice?.close();
    await peer?.stop();
  });

  test('new mail in the watched folder calls onNews', async () => {
    let news = 0;
    const errors: Error[] = [];
    const watcher = await alice.watch('INBOX', () => news++, (e) => errors.push(e));
    try {
      await peer.deliver(ALICE, message({ subject: 'idle 1' }));
      await eventually(() => news >= 1, GENEROUS_MS, 'onNews after a delivery');
      // The main connection still works while a watch is running.
      assert.equal((await alice.folderStatus('INBOX')).messages, 1);
      assert.deepEqual(errors, []);
    } finally {
      await watcher.stop();
    }
    await watcher.stop(); // idempotent
  });

  test('a dropped watch connection reports MAIL_CONNECTION_LOST, reconnects and keeps watching', async () => {
    const bob = await openImapSource(plainSettings(peer, BOB, 'bob-secret'));
    let news = 0;
    const errors: Error[] = [];
    const watcher = await bob.watch('INBOX', () => news++, (e) => errors.push(e));
    try {
      await kick(peer, BOB);
      await eventually(() => errors.length >= 1, GENEROUS_MS, 'onError after the drop');
      const first = errors[0];
      assert.ok(isAppError(first));
      assert.equal(first.code, 'MAIL_CONNECTION_LOST');
      // After the reconnect (1 s back-off) onNews is called once, mail may have come meanwhile.
      await eventually(() => news >= 1, GENEROUS_MS, 'onNews after reconnecting');
      const before = news;
      await peer.deliver(BOB, message({ subject: 'after the drop' }));
      await eventually(() => news > before, GENEROUS_MS, 'onNews for mail after the reconnect');
    } finally {
      await watcher.stop();
      await bob.close();
    }
  });

  test('stop() ends watching; close() stops the watches of a source', async () => {
    let news = 0;
    const watcher = await alice.watch('INBOX', () => news++, () => undefined);
    await watcher.stop();
    await peer.deliver(ALICE, message({ subject: 'nobody listens' }));
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(news, 0);

    const other = await openImapSource(plainSettings(peer, ALICE, 'alice-secret'));
    let otherNews = 0;
    await other.watch('INBOX', () => otherNews++, () => undefined);
    await other.close();
    await peer.deliver(ALICE, message({ subject: 'closed source' }));
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(otherNews, 0);
  });

  test('watching a folder that does not exist fails at once', async () => {
    await assert.rejects(alice.watch('Gibt es nicht', () => undefined, () => undefined), (e: unknown) => isAppError(e) && e.code === 'MAIL_FOLDER_NOT_FOUND');
  });
});
