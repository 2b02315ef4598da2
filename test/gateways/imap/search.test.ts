/**
 * search(): UID SEARCH with ASCII and UTF-8 text (CHARSET UTF-8), flags and dates.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openImapSource } from '../../../src/gateways/imap/index.ts';
import type { MailSource } from '../../../src/gateways/ports.ts';
import { startDovecot, type DovecotPeer } from '../../support/peers/dovecot.ts';
import { collect, message, plainSettings, withObserver } from './helpers.ts';
import { startScriptedImap } from './scripted-imap.ts';

const USER = 'alice@example.test';

describe('IMAP gateway: search', () => {
  let peer: DovecotPeer;
  let source: MailSource;
  const uidOf = new Map<string, string>();

  before(async () => {
    peer = await startDovecot();
    const specs = [
      { subject: 'Invoice 2026-001', from: 'Billing <billing@shop.example>' },
      { subject: 'Herzliche Grüße aus München', from: 'Jörg <joerg@example.test>' },
      { subject: '請求書 第42号', from: 'Tanaka <tanaka@example.jp>', to: 'Kunde <kunde@example.test>' },
      { subject: 'Weekly report', from: 'Boss <boss@example.test>' },
    ];
    await withObserver(peer, USER, async (c) => {
      // APPEND sets INTERNALDATE, which SINCE/BEFORE compare (RFC 3501 §6.4.4).
      const dates = ['2026-01-10T12:00:00Z', '2026-02-10T12:00:00Z', '2026-03-10T12:00:00Z', '2026-04-10T12:00:00Z'];
      for (let i = 0; i < specs.length; i++) await c.append('INBOX', message(specs[i]!), i === 3 ? ['\\Seen'] : [], new Date(dates[i]!));
    });
    source = await openImapSource(plainSettings(peer, USER, 'alice-secret'));
    for (const c of await collect(source, 'INBOX', null)) if (c.type === 'new') uidOf.set(c.message.subject, c.message.ref.key);
    assert.equal(uidOf.size, 4);
  });
  after(async () => {
    await source?.close();
    await peer?.stop();
  });

  const uids = (...subjects: string[]): Set<string> => new Set(subjects.map((s) => uidOf.get(s)!));

  test('ASCII subject text', async () => {
    assert.deepEqual(await source.search('INBOX', { subject: 'invoice' }), uids('Invoice 2026-001'));
  });

  test('non-ASCII subject text: "Grüße" and "請求書"', async () => {
    assert.deepEqual(await source.search('INBOX', { subject: 'Grüße' }), uids('Herzliche Grüße aus München'));
    assert.deepEqual(await source.search('INBOX', { subject: '請求書' }), uids('請求書 第42号'));
    assert.equal(source.capabilities.utf8Search, true);
  });

  test('from / to, including non-ASCII display names', async () => {
    assert.deepEqual(await source.search('INBOX', { from: 'billing@shop.example' }), uids('Invoice 2026-001'));
    assert.deepEqual(await source.search('INBOX', { from: 'Jörg' }), uids('Herzliche Grüße aus München'));
    assert.deepEqual(await source.search('INBOX', { to: 'kunde@example.test' }), uids('請求書 第42号'));
  });

  test('unseen, since, before, and combinations (AND)', async () => {
    assert.deepEqual(await source.search('INBOX', { unseen: true }), uids('Invoice 2026-001', 'Herzliche Grüße aus München', '請求書 第42号'));
    assert.deepEqual(await source.search('INBOX', { since: '2026-03-01' }), uids('請求書 第42号', 'Weekly report'));
    assert.deepEqual(await source.search('INBOX', { before: '2026-02-01' }), uids('Invoice 2026-001'));
    assert.deepEqual(await source.search('INBOX', { since: '2026-02-01', before: '2026-04-01', unseen: true }), uids('Herzliche Grüße aus München', '請求書 第42号'));
    assert.deepEqual(await source.search('INBOX', { subject: 'nothing like this' }), new Set());
  });

  test('no criteria match every message', async () => {
    assert.equal((await source.search('INBOX', {}))?.size, 4);
  });
});

describe('IMAP gateway: search on a server without UTF-8 search', () => {
  test('NO [BADCHARSET] gives null (the caller filters locally); ASCII still searches', async () => {
    const server = await startScriptedImap((tag, command, line) => {
      if (command !== 'UID SEARCH') return undefined;
      if (/CHARSET/i.test(line)) return `${tag} NO [BADCHARSET (US-ASCII)] Only US-ASCII here\r\n`;
      return `* SEARCH 1 2\r\n${tag} OK done\r\n`;
    });
    const source = await openImapSource({
      host: '127.0.0.1',
      port: server.port,
      security: 'none',
      tls: { mode: 'verify' },
      auth: { type: 'basic', user: 'someone', password: 'secret' },
      timeoutMs: 5000,
    });
    try {
      assert.equal(await source.search('INBOX', { subject: 'Grüße' }), null);
      assert.ok(server.commands.some((c) => /UID SEARCH CHARSET UTF-8/i.test(c)), server.commands.join('\n'));
      assert.equal(source.capabilities.utf8Search, false);
      assert.deepEqual(await source.search('INBOX', { subject: 'invoice' }), new Set(['1', '2']));
    } finally {
      await source.close();
      await server.close();
    }
  });
});
