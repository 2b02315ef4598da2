/**
 * Folder listing with non-ASCII names: the raw (modified UTF-7) path is what SELECT needs and
 * what every other method takes; displayPath/name are decoded Unicode.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openImapSource } from '../../../src/gateways/imap/index.ts';
import type { Folder, MailSource } from '../../../src/gateways/ports.ts';
import { startDovecot, type DovecotPeer } from '../../support/peers/dovecot.ts';
import { collect, lastCursor, message, plainSettings, withObserver } from './helpers.ts';

const USER = 'alice@example.test';

describe('IMAP gateway: folders', () => {
  let peer: DovecotPeer;
  let source: MailSource;
  let folders: Folder[];
  const byDisplay = (p: string): Folder => {
    const f = folders.find((x) => x.displayPath === p);
    assert.ok(f, `no folder ${p} in ${folders.map((x) => x.displayPath).join(', ')}`);
    return f;
  };

  before(async () => {
    peer = await startDovecot();
    await withObserver(peer, USER, async (c) => {
      for (const name of ['Rechnungen/März 2026', '日本語', 'Привет', 'Tom & Jerry']) await c.mailboxCreate(name);
      await c.append('日本語', message({ subject: 'In a Japanese folder' }));
    });
    source = await openImapSource(plainSettings(peer, USER, 'alice-secret'));
    folders = await source.listFolders();
  });
  after(async () => {
    await source?.close();
    await peer?.stop();
  });

  test('non-ASCII names are decoded for display and kept raw in path', () => {
    const march = byDisplay('Rechnungen/März 2026');
    assert.equal(march.path, 'Rechnungen/M&AOQ-rz 2026');
    assert.equal(march.name, 'März 2026');
    assert.equal(march.delimiter, '/');
    assert.equal(march.parent, 'Rechnungen');
    assert.equal(march.selectable, true);
    assert.equal(byDisplay('日本語').path, '&ZeVnLIqe-');
    assert.equal(byDisplay('Привет').path, '&BB8EQAQ4BDIENQRC-');
    assert.equal(byDisplay('Tom & Jerry').path, 'Tom &- Jerry');
  });

  test('a parent that only exists as a level is listed but not selectable', () => {
    const parent = byDisplay('Rechnungen');
    assert.equal(parent.selectable, false);
    assert.equal(parent.parent, null);
  });

  test('special-use folders (RFC 6154) and INBOX are marked', () => {
    assert.equal(byDisplay('INBOX').specialUse, '\\Inbox');
    assert.equal(byDisplay('Sent').specialUse, '\\Sent');
    assert.equal(byDisplay('Trash').specialUse, '\\Trash');
    assert.equal(byDisplay('Junk').specialUse, '\\Junk');
    assert.equal(byDisplay('Drafts').specialUse, '\\Drafts');
    assert.equal(byDisplay('日本語').specialUse, null);
  });

  test('the raw path selects the folder: changes, status and fetch work on it', async () => {
    const f = byDisplay('日本語');
    const changes = await collect(source, f.path, null);
    const news = changes.filter((c) => c.type === 'new');
    assert.equal(news.length, 1);
    assert.equal(news[0]?.type === 'new' && news[0].message.subject, 'In a Japanese folder');
    assert.equal(news[0]?.type === 'new' && news[0].message.ref.folder, f.path);
    const status = await source.folderStatus(f.path);
    assert.equal(status.messages, 1);
    const cursor = lastCursor(changes);
    assert.equal(cursor.kind === 'imap' && String(cursor.uidValidity), status.epoch);
    assert.equal((await source.folderStatus('Tom &- Jerry')).messages, 0);
  });

  test('an unknown folder is MAIL_FOLDER_NOT_FOUND naming it', async () => {
    await assert.rejects(collect(source, 'Nirgendwo', null), (e: unknown) => {
      assert.ok(e instanceof Error && 'code' in e && e.code === 'MAIL_FOLDER_NOT_FOUND');
      assert.match(e.message, /Nirgendwo/);
      return true;
    });
  });
});
