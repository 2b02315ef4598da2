/**
 * Every rule filter against a real Dovecot: from/to/subject as substring and as /regex/, with
 * non-ASCII text ("Grüße", "請求書"), has-attachment, attachment type, max age, unread only, and
 * a combination. Each rule reads the same folder into a cabinet of its own and leaves the
 * mailbox alone, so every case sees the same five messages.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { RuleFilters } from '../../src/connect/index.ts';
import { ImapSource } from '../../src/gateways/imap/source.ts';
import type { SummaryDetail } from '../../src/gateways/ports.ts';
import { startDovecot, type DovecotPeer } from '../support/peers/dovecot.ts';
import { addRule, append, docs, folderMessages, message, openTestApp, type TestApp } from './helpers.ts';

const FOLDER = 'Filter';
const DAY = 86_400_000;

// Five messages; the test names below say which of them each filter must take.
const MESSAGES = {
  rechnung: {
    subject: 'Rechnung 2026-001 Grüße aus Köln',
    from: '=?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <juergen@example.org>',
    to: 'Archive <archive@example.com>',
    attachments: [{ filename: 'rechnung.pdf', contentType: 'application/pdf', size: 2000 }],
    seen: false,
    old: false,
  },
  seikyusho: {
    subject: '請求書 No.42',
    from: `=?UTF-8?B?${Buffer.from('山田太郎').toString('base64')}?= <yamada@example.jp>`,
    to: `=?UTF-8?B?${Buffer.from('経理').toString('base64')}?= <keiri@example.jp>`,
    attachments: [{ filename: 'scan.png', contentType: 'image/png', size: 1500 }],
    seen: true,
    old: false,
  },
  newsletter: {
    subject: 'Sale! 50% off',
    from: 'Newsletter <news@shop.example>',
    to: 'alice@example.test',
    attachments: [],
    seen: true,
    old: true,
  },
  invoice: {
    subject: 'Invoice INV-7781',
    from: 'Bob <bob@example.net>',
    to: 'Archive <archive@example.com>, Other <other@example.net>',
    attachments: [
      { filename: 'invoice.xml', contentType: 'text/xml', size: 800 },
      { filename: 'Übersicht März.csv', contentType: 'text/csv', size: 300 },
    ],
    seen: false,
    old: false,
  },
  gruesse: {
    subject: 'Grüße und Rechnung',
    from: 'billing@example.org',
    to: 'Alice <alice@example.test>',
    attachments: [],
    seen: false,
    old: false,
  },
} as const;
type Key = keyof typeof MESSAGES;
const ALL = Object.keys(MESSAGES) as Key[];

describe('Connect to Mail: rule filters', { timeout: 90_000 }, () => {
  let peer: DovecotPeer;
  let t: TestApp;

  before(async () => {
    peer = await startDovecot();
    t = await openTestApp();
    for (const key of ALL) {
      const m = MESSAGES[key];
      const raw = message({ subject: m.subject, from: m.from, to: m.to, attachments: [...m.attachments] });
      await append(peer, FOLDER, [raw], {
        flags: m.seen ? ['\\Seen'] : [],
        internalDate: m.old ? new Date('2020-01-15T09:00:00Z') : new Date(Date.now() - DAY),
      });
    }
  });
  after(async () => {
    await t?.close();
    await peer?.stop();
  });

  let n = 0;
  /** Runs a fresh rule with these filters; returns the summary and the subjects it archived. */
  async function runFilter(filters: RuleFilters) {
    const name = `f${++n}`;
    await addRule(t, peer, { name, folders: [FOLDER], cabinet: name, filters });
    const summary = await t.app.connect.sync(t.orgId, name);
    const archived = (await docs(t, name)).map((d) => d.subject).sort();
    return { name, summary, archived };
  }

  async function expectTaken(filters: RuleFilters, taken: Key[]): Promise<void> {
    const { summary, archived } = await runFilter(filters);
    const want = taken.map((k) => MESSAGES[k].subject).sort();
    assert.deepEqual(archived, want, `filters ${JSON.stringify(filters)}`);
    assert.equal(summary.archived, taken.length);
    assert.equal(summary.fetched, taken.length, 'only matching messages are downloaded');
    assert.equal(summary.skipped, ALL.length - taken.length, 'every other message is counted as skipped');
    assert.equal(summary.failed, 0);
    assert.equal(summary.duplicates, 0);
  }

  test('no filter takes all five', async () => {
    await expectTaken({}, ALL);
  });

  test('the listing asks the server for envelopes and structures only when the filters read them', async () => {
    const asked: Array<SummaryDetail | undefined> = [];
    const changes = ImapSource.prototype.changes;
    ImapSource.prototype.changes = function (this: ImapSource, folder, cursor, detail) {
      asked.push(detail);
      return changes.call(this, folder, cursor, detail);
    };
    try {
      await expectTaken({ unreadOnly: true }, ['rechnung', 'invoice', 'gruesse']);
      await expectTaken({ hasAttachment: true }, ['rechnung', 'seikyusho', 'invoice']);
      await expectTaken({ subject: { contains: 'Grüße' } }, ['rechnung', 'gruesse']);
    } finally {
      ImapSource.prototype.changes = changes;
    }
    assert.deepEqual(asked, [
      { envelope: false, structure: false },
      { envelope: false, structure: true },
      { envelope: true, structure: false },
    ]);
  });

  test('from contains, case-insensitive, non-ASCII ("müller" in an RFC 2047 name)', async () => {
    await expectTaken({ from: { contains: 'MÜLLER' } }, ['rechnung']);
  });

  test('from contains a non-ASCII name in CJK ("山田")', async () => {
    await expectTaken({ from: { contains: '山田' } }, ['seikyusho']);
  });

  test('from /regex/ on the address', async () => {
    await expectTaken({ from: { regex: '@example\\.(org|net)$', flags: 'i' } }, ['rechnung', 'invoice', 'gruesse']);
  });

  test('to contains "経理"', async () => {
    await expectTaken({ to: { contains: '経理' } }, ['seikyusho']);
  });

  test('to /regex/ matches any recipient', async () => {
    await expectTaken({ to: { regex: '^other@', flags: 'i' } }, ['invoice']);
    await expectTaken({ to: { regex: '^archive@example\\.com$' } }, ['rechnung', 'invoice']);
  });

  test('subject contains "Grüße"', async () => {
    await expectTaken({ subject: { contains: 'Grüße' } }, ['rechnung', 'gruesse']);
  });

  test('subject contains "請求書"', async () => {
    await expectTaken({ subject: { contains: '請求書' } }, ['seikyusho']);
  });

  test('subject /regex/ (anchored, alternation, case-insensitive)', async () => {
    await expectTaken({ subject: { regex: '^(invoice|rechnung)\\b', flags: 'i' } }, ['rechnung', 'invoice']);
    await expectTaken({ subject: { regex: '^請求書\\s', flags: 'u' } }, ['seikyusho']);
  });

  test('has attachment', async () => {
    await expectTaken({ hasAttachment: true }, ['rechnung', 'seikyusho', 'invoice']);
  });

  test('attachment type by extension (an RFC 2231 non-ASCII file name too) or by MIME type', async () => {
    await expectTaken({ attachmentTypes: ['pdf'] }, ['rechnung']);
    await expectTaken({ attachmentTypes: ['.XML'] }, ['invoice']);
    await expectTaken({ attachmentTypes: ['csv'] }, ['invoice']);
    await expectTaken({ attachmentTypes: ['application/pdf', 'image/png'] }, ['rechnung', 'seikyusho']);
    await expectTaken({ attachmentTypes: ['text/csv'] }, ['invoice']);
    await expectTaken({ attachmentTypes: ['docx', 'application/zip'] }, []);
  });

  test('max age (INTERNALDATE): the 2020 message is left out', async () => {
    await expectTaken({ maxAgeDays: 30 }, ['rechnung', 'seikyusho', 'invoice', 'gruesse']);
  });

  test('unread only', async () => {
    await expectTaken({ unreadOnly: true }, ['rechnung', 'invoice', 'gruesse']);
  });

  test('filters combine with AND', async () => {
    await expectTaken({ subject: { contains: 'rechnung' }, hasAttachment: true }, ['rechnung']);
    await expectTaken({ from: { contains: 'example.org' }, unreadOnly: true, maxAgeDays: 7 }, ['rechnung', 'gruesse']);
  });

  test('a second run of a filtered rule fetches and skips nothing; the mailbox is unchanged', async () => {
    const { name } = await runFilter({ subject: { contains: 'Grüße' } });
    const again = await t.app.connect.sync(t.orgId, name);
    assert.deepEqual({ fetched: again.fetched, archived: again.archived, skipped: again.skipped }, { fetched: 0, archived: 0, skipped: 0 });
    const left = await folderMessages(peer, FOLDER);
    assert.equal(left.length, ALL.length);
    // Reading never marks a message read (BODY.PEEK): the unread ones are still unread.
    assert.deepEqual(
      left.filter((m) => !m.flags.has('\\Seen')).map((m) => m.subject).sort(),
      ALL.filter((k) => !MESSAGES[k].seen).map((k) => MESSAGES[k].subject).sort(),
    );
  });
});
