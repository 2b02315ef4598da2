import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { hashContent, parseMessage, type AttachmentSink, type ParsedMessage } from '../../src/archive/parse/index.ts';
import { Base64Decoder } from '../../src/archive/parse/base64.ts';
import { ChunkQueue } from '../../src/archive/parse/chunk-queue.ts';

const FIXTURES = new URL('../fixtures/mime/', import.meta.url);

/** The attachment bodies of the generator (test/fixtures/mime/generate.ts). */
const PDF = Buffer.from('%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n', 'latin1');
const PNG = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000', 'hex');

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

interface Stored {
  sha256: string;
  size: number;
  chunks: number;
}

/** A sink like the blob store's: hashes and counts the stream, remembering what it got. */
function recordingSink(): { sink: AttachmentSink; stored: Stored[] } {
  const stored: Stored[] = [];
  const sink: AttachmentSink = async (content) => {
    const hash = createHash('sha256');
    let size = 0;
    let chunks = 0;
    for await (const chunk of content) {
      const buf = chunk as Buffer;
      hash.update(buf);
      size += buf.length;
      chunks++;
    }
    const result = { sha256: hash.digest('hex'), size };
    stored.push({ ...result, chunks });
    return result;
  };
  return { sink, stored };
}

async function parse(input: Buffer | Readable, options?: { maxNesting?: number }): Promise<{ result: ParsedMessage; stored: Stored[] }> {
  const { sink, stored } = recordingSink();
  const result = await parseMessage(input, sink, options);
  return { result, stored };
}

function fixture(name: string): Buffer {
  return readFileSync(new URL(name, FIXTURES));
}

/** Every attachment went to the sink exactly once, and the record carries what the sink returned. */
function assertSinkConsistent(result: ParsedMessage, stored: Stored[]): void {
  assert.equal(stored.length, result.attachments.length, 'one sink call per attachment');
  const fromSink = stored.map((s) => `${s.sha256}:${s.size}`).sort();
  const recorded = result.attachments.map((a) => `${a.sha256}:${a.size}`).sort();
  assert.deepEqual(recorded, fromSink);
}

function lines(...l: string[]): Buffer {
  return Buffer.from(l.join('\r\n'), 'utf8');
}

interface Expected {
  subject: string;
  fromName?: string;
  fromAddress?: string;
  /** Substrings of bodyText. */
  body?: string[];
  /** [partPath, filename, contentType] in order. */
  attachments?: Array<[string, string, string]>;
  attachmentText?: string[];
  /** Each pattern must match one warning; without it the message must have no warnings. */
  warnings?: RegExp[];
  date?: string | null;
  options?: { maxNesting?: number };
}

const EXPECTED: Record<string, Expected> = {
  '01-iso-2022-jp.eml': { subject: '会議の議事録について', fromName: '山田太郎', fromAddress: 'yamada@example.jp', body: ['お疲れ様です。議事録を添付します。', 'よろしくお願いします。'], date: '2026-03-03T09:00:00.000Z' },
  '02-shift-jis.eml': {
    subject: '見積書①の送付',
    fromName: '佐藤花子',
    body: ['見積書を送付いたします。～ご確認ください①'],
    attachments: [['2', '見積書.pdf', 'application/pdf']],
    date: '2026-03-04T00:15:00.000Z',
  },
  '03-gb2312.eml': { subject: '关于下周会议的通知', fromName: '王小明', body: ['下周一上午开会', '王喆'] },
  '04-x-gbk-qq.eml': { subject: '季度报表', fromName: '李雷', body: ['请查收本季度的报表。'], attachments: [['2', '报表.xls', 'application/vnd.ms-excel']] },
  '05-big5.eml': { subject: '會議通知', fromName: '陳大文', body: ['請查收附件。謝謝！'] },
  '06-ks-c-5601-1987.eml': { subject: '회의 안내', fromName: '김철수', body: ['똠방각하', '월요일입니다'] },
  '07-euc-kr.eml': { subject: '견적서 송부', fromName: 'Park', body: ['견적서를 보내드립니다.'] },
  '08-koi8-r.eml': { subject: 'Привет из Москвы', fromName: 'Иван Петров', body: ['Съешь же ещё этих мягких французских булок'] },
  '09-windows-1251-rfc2231.eml': {
    subject: 'Отчёт за квартал',
    fromName: 'Olga',
    body: ['Отчёт во вложении.'],
    attachments: [['2', 'Отчёт.docx', 'application/vnd.openxmlformats-officedocument.wordprocessingml.document']],
  },
  '10-greek.eml': { subject: 'Καλημέρα κόσμε', fromName: 'Γιώργος', body: ['ψυχοφθόρα βδελυγμία'] },
  '11-hebrew.eml': { subject: 'שלום עולם', fromName: 'דוד', body: ['מה שלומך'] },
  '12-arabic.eml': { subject: 'مرحبا بالعالم', fromName: 'أحمد', body: ['شكرا جزيلا'] },
  '13-thai.eml': { subject: 'สวัสดีครับ', fromName: 'Somchai', body: ['ขอบคุณมากครับ'] },
  '14-turkish.eml': { subject: 'Pijamalı hasta yağız şoföre çabucak güvendi', fromName: 'Ayşe Yılmaz', body: ['Günaydın', 'üçte'] },
  '15-german-latin1.eml': { subject: 'Grüße aus München', fromName: 'Jürgen Weiß', body: ['Die Straße kostet 5 € pro Stück.'] },
  '16-french-latin9.eml': { subject: 'Œuvre coûte 5 €', fromName: 'Amélie', body: ['Le cœur', 'coûte 5 €'] },
  '17-cp1252-alias.eml': { subject: '“Quoted” – naïve', fromName: 'François Lefèvre', body: ['Café — “smart quotes” and €uro'] },
  '18-utf8-emoji-split.eml': { subject: 'Party 🎉 tonight 🍕', fromName: 'Zoë 😀', body: ['snacks 🍿', 'vibes ✨'] },
  '19-utf7.eml': { subject: 'Grüße aus Köln', fromName: 'Old Outlook Express', body: ['Hi Mom -☺-!', 'Schöne Grüße.'] },
  // RFC 2047 6.2: whitespace between adjacent encoded words is dropped, whatever their charsets.
  '20-split-q-words.eml': { subject: '日本語の件名ですfür Team', fromName: 'Renée Müller', body: ['Umlauten: äöü'] },
  '21-rfc2231-continuations.eml': {
    subject: 'Grüße – test ✓',
    fromName: 'Nodemailer',
    body: ['Beleg anbei.'],
    attachments: [
      ['2', 'Überweisungsbeleg März 2026 – sehr langer Dateiname.pdf', 'application/pdf'],
      ['3', 'résumé.txt', 'text/plain'],
    ],
    attachmentText: ['Résumé du projet: tout va bien.'],
  },
  '22-rfc2047-in-params.eml': {
    subject: 'Files',
    fromName: 'Outlook User',
    body: ['See attached.'],
    attachments: [
      ['2', 'Übersicht Ärger.png', 'image/png'],
      ['3', 'Kündigung.pdf', 'application/octet-stream'],
    ],
    date: '2026-03-10T17:00:00.000Z',
  },
  '23-raw-utf8-headers.eml': { subject: 'Größenänderung ✓ 完了', fromName: 'Jürgen Groß', body: ['Anbei die Übersicht.'], attachments: [['2', 'Übersicht 2026.pdf', 'application/pdf']] },
  '24-raw-cp1252-headers.eml': {
    subject: 'Rückmeldung – Angebot für Café',
    fromName: 'José Müller',
    body: ['Angebot für Sie.'],
    attachments: [['2', 'Angebot Müller.pdf', 'application/pdf']],
  },
  '25-html-only.eml': { subject: 'Weekly digest', fromName: 'Newsletter', body: ['Digest', 'Café & crème brûlée', 'Alpha', 'Beta'] },
  '26-text-attachments.eml': {
    subject: 'Exports',
    fromName: 'Reports',
    body: ['Three exports attached.'],
    attachments: [
      ['2', 'notes.txt', 'text/plain'],
      ['3', 'umsatz.csv', 'text/csv'],
      ['4', 'page.html', 'text/html'],
      ['5', 'scan.pdf', 'application/pdf'],
    ],
    attachmentText: ['Notizen: Bärenhunger', 'März;1000 €', 'Zebrafinch & Kolibri'],
  },
  '27-nested-rfc822.eml': {
    subject: 'Fwd: Fwd: Innermost message',
    fromName: 'Outer Sender',
    body: ['Platypus'],
    attachments: [
      ['2', 'middle.eml', 'message/rfc822'],
      ['2.2', 'middle.pdf', 'application/pdf'],
      ['2.3', 'innermost.eml', 'message/rfc822'],
      ['2.3.2', 'pixel.png', 'image/png'],
      ['3', '', 'message/rfc822'],
      ['3.2', 'pixel.png', 'image/png'],
    ],
    attachmentText: ['Wombat', 'Quokka', 'Middle Person <middle@example.net>'],
  },
  '28-unclosed-boundary.eml': {
    subject: 'Truncated upload',
    body: ['The body survives the missing end.'],
    attachments: [['2', 'cut.pdf', 'application/pdf']],
    warnings: [/^multipart boundary "never-closed" was never closed$/],
  },
  '29-missing-content-type.eml': { subject: 'Cron <root@host> backup', fromName: 'Script', body: ['naïve check passed'] },
  '30-broken-base64.eml': {
    subject: 'Broken attachment',
    body: ['Attachment is damaged.'],
    attachments: [['2', 'broken.pdf', 'application/pdf']],
    warnings: [/^part 2: invalid base64/],
  },
  '31-header-only.eml': { subject: 'Only a header', fromName: 'Someone', body: [], warnings: [/^message has no body$/] },
  '32-empty.eml': { subject: '', body: [], date: null, warnings: [/^message has no header$/, /^message has no body$/, /^missing From header$/, /^missing Date header$/] },
  '33-missing-from-bad-date.eml': { subject: 'No sender', body: ['Anonymous.'], date: null, warnings: [/^missing From header$/, /^unparsable Date header "Mittwoch, 3\. März 2026 10:00"$/] },
  '34-unknown-charset.eml': {
    subject: 'Grüße',
    fromName: 'Klingon',
    body: ['Grüße aus dem All'],
    warnings: [/^unknown charset "x-klingon" in part 1; decoded as windows-1252$/, /^unknown charset "x-klingon" in the Subject header/],
  },
  '35-nul-bytes.eml': { subject: 'Nulled subject', body: ['BeforeAfter'], warnings: [/NUL bytes removed/, /NUL bytes in the header/] },
  '36-mac-charsets.eml': { subject: 'Привет', fromName: 'Apple Mail', body: ['Grüße vom Mac'] },
  '37-cp437.eml': { subject: 'Grüße', fromName: 'DOS Gateway', body: ['Grüße aus der Box'] },
  '38-nesting-limit.eml': {
    subject: 'Level 0',
    body: ['Level zero.'],
    attachments: [
      ['2', '', 'message/rfc822'],
      ['2.2', '', 'message/rfc822'],
      ['2.2.2', '', 'message/rfc822'],
    ],
    attachmentText: ['Level one.', 'Level two.'],
    warnings: [/^attached message 2\.2: part 2\.2\.2: attached message not parsed, nesting limit of 2 reached$/],
    options: { maxNesting: 2 },
  },
  '39-lf-only.eml': { subject: 'LF line endings — mbox export', fromName: 'Unix User', body: ['A soft line break joins this sentence and ümlauts decode.'], date: '2026-03-16T05:10:00.000Z' },
  '40-multipart-no-boundary.eml': { subject: 'Lost boundary', body: ['This text sits in a multipart without boundary.'], warnings: [/multipart\/mixed without a boundary/] },
  '41-apple-mail-inline.eml': {
    subject: 'Photo',
    fromName: 'Apple User',
    body: ['Look at this:', 'Nice, right?'],
    attachments: [
      ['2', 'photo.png', 'image/png'],
      ['4', 'readme.txt', 'text/plain'],
    ],
    attachmentText: ['Axolotl'],
  },
  '42-delivery-status.eml': {
    subject: 'Undelivered Mail Returned to Sender',
    fromName: 'Mail Delivery System',
    fromAddress: 'MAILER-DAEMON@mx.example.com',
    body: ['could not be delivered'],
    attachments: [
      ['2', '', 'message/delivery-status'],
      ['3', '', 'text/rfc822-headers'],
    ],
    attachmentText: ['Status: 5.1.1', 'Capybara'],
  },
  '43-euc-jp-and-raw-jis-header.eml': { subject: 'お知らせ', fromName: 'Old Japanese Mailer', body: ['お疲れ様です'] },
  '44-date-and-ids.eml': { subject: 'Re: Re: Threading', fromName: 'Doe, John', fromAddress: 'john@example.com', body: ['Reply text.'], date: '2026-03-18T07:59:59.000Z' },
  '46-alternative-related.eml': {
    subject: 'Alternative with related HTML',
    fromName: 'Thunderbird',
    body: ['Plain version mentions Narwhal.', 'Forwarded note about Pangolin'],
    attachments: [['1.2.2', '', 'image/png']],
  },
  '47-flowed-delsp.eml': { subject: 'Flowed', fromName: 'iPhone', body: ['日本語の長い文章です。', 'Sent from my iPhone'] },
  '48-mbox-from-line.eml': { subject: 'lower-case hex ä', fromName: 'Mbox Export', body: ['Lower-case hex: ü and a soft break.', '>From the mbox escape.'] },
  '49-raw-koi8r-headers.eml': { subject: 'Счёт на оплату', fromName: 'Сергей', body: ['Счёт во вложении'] },
  '45-windows-874-and-utf16.eml': { subject: 'ใบแจ้งหนี้', fromName: 'Thai Office', body: ['กรุณาชำระเงิน'], attachments: [['2', 'utf16.txt', 'text/plain']], attachmentText: ['UTF-16 text: Kakapo'] },
};

describe('parseMessage: fixtures', () => {
  it('has an expectation for every fixture file (and at least 30 fixtures)', () => {
    const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.eml')).sort();
    assert.ok(files.length >= 30);
    assert.deepEqual(files, Object.keys(EXPECTED).sort());
  });

  for (const [name, expected] of Object.entries(EXPECTED)) {
    it(name, async () => {
      const { result, stored } = await parse(fixture(name), expected.options);
      assert.equal(result.subject, expected.subject);
      if (expected.fromName !== undefined) assert.equal(result.from?.name, expected.fromName);
      if (expected.fromAddress !== undefined) assert.equal(result.from?.address, expected.fromAddress);
      for (const word of expected.body ?? []) assert.ok(result.bodyText.includes(word), `bodyText ${JSON.stringify(result.bodyText)} lacks ${JSON.stringify(word)}`);
      if (expected.body !== undefined && expected.body.length === 0) assert.equal(result.bodyText, '');
      assert.deepEqual(
        result.attachments.map((a) => [a.partPath, a.filename, a.contentType]),
        expected.attachments ?? [],
      );
      for (const word of expected.attachmentText ?? []) {
        assert.ok(result.attachmentText.includes(word), `attachmentText ${JSON.stringify(result.attachmentText)} lacks ${JSON.stringify(word)}`);
      }
      if (expected.warnings === undefined) {
        assert.deepEqual(result.warnings, []);
      } else {
        assert.equal(result.warnings.length, expected.warnings.length, `warnings: ${JSON.stringify(result.warnings)}`);
        for (const pattern of expected.warnings) assert.ok(result.warnings.some((w) => pattern.test(w)), `no warning matches ${pattern}: ${JSON.stringify(result.warnings)}`);
      }
      if (expected.date !== undefined) assert.equal(result.date, expected.date);
      assertSinkConsistent(result, stored);
    });
  }

  it('uses the plain alternative instead of its HTML twin', async () => {
    const { result } = await parse(fixture('46-alternative-related.eml'));
    assert.ok(!result.bodyText.includes('HTML version'), result.bodyText);
  });

  it('gives the same result for a stream in small chunks as for a Buffer', async () => {
    for (const name of Object.keys(EXPECTED)) {
      const data = fixture(name);
      const options = EXPECTED[name]?.options;
      const fromBuffer = await parse(data, options);
      const chunks: Buffer[] = [];
      for (let i = 0; i < data.length; i += 7) chunks.push(data.subarray(i, i + 7));
      const fromStream = await parse(Readable.from(chunks), options);
      assert.deepEqual(fromStream.result, fromBuffer.result, name);
    }
  });
});

describe('parseMessage: index fields', () => {
  it('reads addresses, groups, folded ids, In-Reply-To and References', async () => {
    const { result } = await parse(fixture('44-date-and-ids.eml'));
    assert.equal(result.messageId, 'folded.id@example.com');
    assert.deepEqual(result.from, { name: 'Doe, John', address: 'john@example.com' });
    assert.deepEqual(result.to, []);
    assert.deepEqual(result.cc, [
      { name: '', address: 'alice@example.com' },
      { name: 'Bob B.', address: 'bob@example.com' },
      { name: '', address: 'carol@example.com' },
    ]);
    assert.equal(result.inReplyTo, 'parent@example.com');
    assert.deepEqual(result.references, ['root@example.com', 'middle@example.com', 'parent@example.com']);
  });

  it('decodes encoded words in display names of To and Cc and keeps raw UTF-8 names', async () => {
    const { result } = await parse(fixture('23-raw-utf8-headers.eml'));
    assert.deepEqual(result.to, [{ name: 'Łukasz Żółw', address: 'lz@example.pl' }]);
    assert.deepEqual(result.from, { name: 'Jürgen Groß', address: 'jg@example.de' });
  });

  it('keeps a comma from a decoded name inside the name', async () => {
    const raw = lines('From: =?utf-8?Q?M=C3=BCller=2C_Hans?= <hm@example.de>, x@example.com', 'To: "=?utf-8?B?w4RyZ2VyLCBBbm5h?=" <aa@example.de>', 'Date: Tue, 3 Mar 2026 10:00:00 +0000', '', 'b');
    const { result } = await parse(raw);
    assert.deepEqual(result.from, { name: 'Müller, Hans', address: 'hm@example.de' });
    assert.deepEqual(result.to, [{ name: 'Ärger, Anna', address: 'aa@example.de' }]);
  });

  const dates: Array<[string, string | null]> = [
    ['Tue, 3 Mar 2026 10:59:59 +0100 (CET)', '2026-03-03T09:59:59.000Z'],
    ['3 Mar 2026 10:59 +0100', '2026-03-03T09:59:00.000Z'],
    ['Tue,  3 Mar 26 10:59:59 EST', '2026-03-03T15:59:59.000Z'],
    ['Tue, 03 Mar 1999 23:00:00 -0000', '1999-03-03T23:00:00.000Z'],
    ['tue, 3 mar 2026 10:59:59 gmt', '2026-03-03T10:59:59.000Z'],
    ['Tue Mar  3 10:59:59 2026', '2026-03-03T10:59:59.000Z'],
    ['2026-03-03T10:59:59+02:00', '2026-03-03T08:59:59.000Z'],
    ['2026-03-03 10:59:59', '2026-03-03T10:59:59.000Z'],
    ['Tue, 31 Feb 2026 10:00:00 +0000', null],
    ['yesterday', null],
    ['1', null],
  ];
  for (const [value, iso] of dates) {
    it(`Date: ${value}`, async () => {
      const { result } = await parse(lines('From: a@example.com', `Date: ${value}`, '', 'x'));
      assert.equal(result.date, iso);
      if (iso === null) assert.ok(result.warnings.some((w) => w.startsWith('unparsable Date header')), JSON.stringify(result.warnings));
      else assert.deepEqual(result.warnings, []);
    });
  }

  it('does not warn about a missing Message-ID', async () => {
    const { result } = await parse(lines('From: a@example.com', 'Date: Tue, 3 Mar 2026 10:00:00 +0000', '', 'x'));
    assert.equal(result.messageId, null);
    assert.deepEqual(result.warnings, []);
  });
});

describe('parseMessage: charset aliases in encoded words', () => {
  // Byte strings produced once with iconv-lite (cross-checked with ICU where it has the charset).
  const aliases: Array<[string, string, string]> = [
    ['ks_c_5601-1987', 'c8b8c0c7208c63', '회의 똠'],
    ['x-sjis', '8ca990cf8f918740', '見積書①'],
    ['cp1252', '936e61ef7665942080', '“naïve” €'],
    ['utf8', '4772c3bcc39f6520e29c93', 'Grüße ✓'],
    ['x-gbk', 'bcbeb6c8b1a8b1ed86b4', '季度报表喆'],
    ['gb2312', 'bbe1d2e9cda8d6aa', '会议通知'],
    ['iso-2022-jp', '1b2442242a434e2469243b1b2842', 'お知らせ'],
    ['windows-874', 'cac7d1cab4d5', 'สวัสดี'],
    ['tis-620', 'a2cdbaa4d8b3', 'ขอบคุณ'],
    ['x-mac-roman', '47729fa765', 'Grüße'],
    ['x-mac-cyrillic', '8ff0e8e2e5f2', 'Привет'],
    ['x-mac-greek', 'bae1ece8eddbf2e1', 'Καλημέρα'],
    ['x-mac-turkish', '479f6e617964dd6e', 'Günaydın'],
    ['x-mac-ce', 'fc976490', 'Łódź'],
    ['ibm437', '477281e165', 'Grüße'],
    ['cp437', '466187616465', 'Façade'],
    ['cp850', '92729b', 'Ærø'],
    ['ibm866', '8caee1aaa2a0', 'Москва'],
    ['koi8-u', 'ebc9a7d7', 'Київ'],
    ['windows-1251', 'cef2f7b8f2', 'Отчёт'],
    ['iso-8859-8-i', 'f9ece5ed', 'שלום'],
    ['iso-8859-6-i', 'e5d1cdc8c7', 'مرحبا'],
    ['x-euc-jp', 'a4aac3cea4e9a4bb', 'お知らせ'],
    ['x-euc-kr', 'bec8b3e7', '안녕'],
    ['big5', 'b77cc4b3', '會議'],
    ['x-x-big5', 'aafea5f3', '附件'],
    ['latin1', '4dfc6c6c6572', 'Müller'],
    ['iso-8859-1', '35208020666565', '5 € fee'],
    ['x-cp1250', 'aff3b3e6', 'Żółć'],
    ['iso-8859-2', 'ae6c75bb6f75e86bfd', 'Žluťoučký'],
    ['iso-8859-9', 'fe6f66f672', 'şoför'],
    ['windows-1258', '53e069', 'Sài'],
    ['gb18030', 'd6d0cec49439fc36', '中文😀'],
    ['unicode-1-1-utf-7', '47722b4150774133772d65', 'Grüße'],
    ['x-unicode-2-0-utf-7', '47722b4150774133772d65', 'Grüße'],
    ['utf-16le', '5700690064006500', 'Wide'],
  ];
  for (const [label, hex, text] of aliases) {
    it(label, async () => {
      const data = Buffer.from(hex, 'hex');
      const subject = `=?${label}?B?${data.toString('base64')}?=`;
      const { result } = await parse(lines('From: a@example.com', `Subject: ${subject}`, 'Date: Tue, 3 Mar 2026 10:00:00 +0000', '', 'x'));
      assert.equal(result.subject, text);
      assert.deepEqual(result.warnings, []);
    });
  }

  it('decodes the body in an aliased charset too', async () => {
    const raw = Buffer.concat([lines('From: a@example.com', 'Date: Tue, 3 Mar 2026 10:00:00 +0000', 'Content-Type: text/plain; charset=ks_c_5601-1987', 'Content-Transfer-Encoding: 8bit', '', ''), Buffer.from('c8b8c0c7208c63', 'hex')]);
    const { result } = await parse(raw);
    assert.equal(result.bodyText, '회의 똠');
  });
});

/** Deterministic pseudo-random bytes (xorshift32), so that a failure can be reproduced. */
function pseudoRandom(seed: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** A sink that waits `ms` before each chunk and tells `seen` how many bytes it has taken. */
function slowSink(ms: number, seen: (size: number) => void = () => undefined): AttachmentSink {
  return async (content) => {
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of content) {
      await new Promise((resolve) => setTimeout(resolve, ms));
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
      seen(size);
    }
    return { sha256: hash.digest('hex'), size };
  };
}

const HEAD = 'From: a@example.com\r\nDate: Tue, 3 Mar 2026 10:00:00 +0000\r\nSubject: hostile\r\n';

describe('parseMessage: hostile input', { timeout: 120_000 }, () => {
  it('survives random binary garbage', async () => {
    for (let seed = 1; seed <= 20; seed++) {
      const { result, stored } = await parse(pseudoRandom(seed, 64 * 1024));
      assert.equal(typeof result.bodyText, 'string');
      assertSinkConsistent(result, stored);
    }
  });

  it('survives mutated fixtures (bytes flipped, cut, duplicated)', async () => {
    const names = Object.keys(EXPECTED);
    for (let round = 0; round < 300; round++) {
      const source = fixture(names[round % names.length] ?? '');
      const noise = pseudoRandom(round + 1000, 64);
      const data = Buffer.from(source);
      for (let k = 0; k < 8 && data.length > 0; k++) data[((noise[k] ?? 0) * 131 + (noise[k + 8] ?? 0) * 7) % data.length] = noise[k + 16] ?? 0;
      const cut = data.subarray(0, Math.max(0, data.length - ((noise[30] ?? 0) % 200)));
      const doubled = round % 3 === 0 ? Buffer.concat([cut, cut.subarray(0, cut.length >> 1)]) : cut;
      const { result, stored } = await parse(doubled);
      assertSinkConsistent(result, stored);
    }
  });

  it('handles an empty input and NUL-only input', async () => {
    const empty = await parse(Buffer.alloc(0));
    assert.equal(empty.result.subject, '');
    const nul = await parse(Buffer.alloc(256 * 1024));
    assert.equal(nul.result.bodyText, '');
    assert.ok(nul.result.warnings.includes('missing From header'));
  });

  it('stops at absurdly deep multipart nesting with a warning', async () => {
    let raw = `${HEAD}Content-Type: multipart/mixed; boundary=b0\r\n\r\n`;
    for (let i = 1; i < 5000; i++) raw += `--b${i - 1}\r\nContent-Type: multipart/mixed; boundary=b${i}\r\n\r\n`;
    const { result } = await parse(Buffer.from(raw));
    assert.equal(result.subject, 'hostile');
    assert.ok(result.warnings.some((w) => w.startsWith('message structure only partly parsed')), JSON.stringify(result.warnings));
  });

  it('reads a part nested 500 multiparts deep', async () => {
    let raw = `${HEAD}Content-Type: multipart/mixed; boundary=b0\r\n\r\n`;
    for (let i = 1; i < 500; i++) raw += `--b${i - 1}\r\nContent-Type: multipart/mixed; boundary=b${i}\r\n\r\n`;
    raw += '--b499\r\nContent-Type: text/plain\r\n\r\nhello from the deep\r\n';
    const { result } = await parse(Buffer.from(raw));
    assert.equal(result.bodyText, 'hello from the deep');
    assert.ok(result.warnings.some((w) => w.startsWith('multipart nesting deeper than')));
    assert.ok(result.warnings.some((w) => /^multipart boundary "b0" was never closed$/.test(w)));
  });

  it('limits message/rfc822 recursion and still stores every attached message', async () => {
    let raw = 'From: a@example.com\r\nSubject: leaf\r\n\r\nleaf body\r\n';
    for (let i = 0; i < 200; i++) raw = `From: a@example.com\r\nSubject: level ${i}\r\nContent-Type: message/rfc822\r\n\r\n${raw}`;
    const { result, stored } = await parse(Buffer.from(raw), { maxNesting: 5 });
    assert.equal(result.subject, 'level 199');
    assert.deepEqual(
      result.attachments.map((a) => a.partPath),
      ['1', '1.1', '1.1.1', '1.1.1.1', '1.1.1.1.1', '1.1.1.1.1.1'],
    );
    assert.ok(result.warnings.some((w) => /attached message not parsed, nesting limit of 5 reached$/.test(w)), JSON.stringify(result.warnings));
    assertSinkConsistent(result, stored);
  });

  it('parses a 100k-line header', async () => {
    const junk: string[] = [];
    for (let i = 0; i < 100_000; i++) junk.push(`X-Junk-${i}: value ${i}`);
    const { result } = await parse(Buffer.from(`${HEAD}${junk.join('\r\n')}\r\n\r\nbody after the header\r\n`));
    assert.equal(result.subject, 'hostile');
    assert.equal(result.bodyText, 'body after the header');
  });

  it('gives up on a header past the size limit with a warning', async () => {
    const junk = 'X-J: v\r\n'.repeat(400_000);
    const { result } = await parse(Buffer.from(`${HEAD}${junk}\r\nbody\r\n`));
    assert.ok(result.warnings.some((w) => w.includes('Max header size')), JSON.stringify(result.warnings));
  });

  it('handles a 10 MB header line, 100k recipients and 100k encoded words', async () => {
    const long = await parse(Buffer.from(`${HEAD}X-Long: ${'a'.repeat(10 * 1024 * 1024)}\r\n\r\nbody\r\n`));
    assert.equal(long.result.bodyText, 'body');
    const recipients = Array.from({ length: 100_000 }, (_, i) => `u${i}@example.com`).join(', ');
    const many = await parse(Buffer.from(`${HEAD}To: ${recipients}\r\n\r\nbody\r\n`));
    assert.equal(many.result.to.length, 1000);
    assert.ok(many.result.warnings.includes('recipient list truncated to 1000 addresses'));
    const words = await parse(Buffer.from(`From: a@example.com\r\nSubject: ${'=?utf-8?B?w6Q=?= '.repeat(100_000)}\r\n\r\nbody\r\n`));
    assert.equal(words.result.subject, 'ä'.repeat(100_000));
  });

  it('strips tags from HTML nested too deeply for html-to-text', async () => {
    const { result } = await parse(Buffer.from(`${HEAD}Content-Type: text/html\r\n\r\n${'<div>'.repeat(200_000)}needle`));
    assert.equal(result.bodyText, 'needle');
    assert.ok(result.warnings.some((w) => w.startsWith('HTML body too deeply nested')));
  });

  it('survives a part limit overflow (2000 parts)', async () => {
    let raw = `${HEAD}Content-Type: multipart/mixed; boundary=m\r\n\r\n`;
    for (let i = 0; i < 2000; i++) raw += `--m\r\nContent-Type: application/octet-stream\r\n\r\n${i}\r\n`;
    const { result, stored } = await parse(Buffer.from(`${raw}--m--\r\n`));
    assert.ok(result.warnings.some((w) => w.includes('Max allowed child nodes')), JSON.stringify(result.warnings));
    assertSinkConsistent(result, stored);
  });

  it('survives 4 MB of invalid base64 and a 5 MB line without line breaks', async () => {
    const b64 = await parse(Buffer.from(`${HEAD}Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n${'!@#$'.repeat(1 << 20)}`));
    assert.equal(b64.result.attachments.length, 1);
    assert.ok(b64.result.warnings.some((w) => w.includes('invalid base64')));
    const line = await parse(Buffer.from(`${HEAD}\r\n${'x'.repeat(5 << 20)}`));
    assert.equal(line.result.bodyText.length, 5 << 20);
  });
  it('keeps every part split before the part limit, however slow the sink', async () => {
    let raw = `${HEAD}Content-Type: multipart/mixed; boundary=m\r\n\r\n`;
    for (let i = 0; i < 1100; i++) raw += `--m\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n${Buffer.from(`part ${i}`).toString('base64')}\r\n`;
    const data = Buffer.from(`${raw}--m--\r\n`);
    const fast = await parse(data);
    assert.ok(fast.result.warnings.some((w) => w.includes('Max allowed child nodes')), JSON.stringify(fast.result.warnings));
    assert.ok(fast.result.attachments.length > 900, `only ${fast.result.attachments.length} parts kept`);
    fast.result.attachments.forEach((a, i) => {
      assert.equal(a.partPath, String(i + 1));
      assert.equal(a.sha256, sha256(Buffer.from(`part ${i}`)), `content of part ${i + 1}`);
    });
    assertSinkConsistent(fast.result, fast.stored);
    // The splitter runs ahead of a slow sink; what it had split when it hit the limit still counts.
    assert.deepEqual(await parseMessage(data, slowSink(1)), fast.result);
  });

  it('keeps the parts before a part whose header is too large', async () => {
    const raw = `${HEAD}Content-Type: multipart/mixed; boundary=m\r\n\r\n--m\r\nContent-Type: text/plain\r\n\r\nfirst part\r\n--m\r\nContent-Type: application/pdf\r\n\r\n%PDF\r\n--m\r\n${'X-J: v\r\n'.repeat(300_000)}\r\nlost\r\n--m--\r\n`;
    const { result, stored } = await parse(Buffer.from(raw));
    assert.equal(result.bodyText, 'first part');
    assert.deepEqual(
      result.attachments.map((a) => [a.partPath, a.contentType, a.size]),
      [['2', 'application/pdf', 4]],
    );
    assert.ok(result.warnings.some((w) => w.includes('Max header size')), JSON.stringify(result.warnings));
    assertSinkConsistent(result, stored);
  });

  it('reads the parts of a "multipart/" without subtype and stores no attachment for it', async () => {
    const raw = `${HEAD}Content-Type: multipart/; boundary=m\r\n\r\npreamble\r\n--m\r\nContent-Type: text/plain\r\n\r\ninside\r\n--m\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=a.pdf\r\n\r\n%PDF\r\n--m\r\nContent-Type: multipart/\r\n\r\nno content\r\n--m--\r\n`;
    const { result, stored } = await parse(Buffer.from(raw));
    assert.equal(result.bodyText, 'inside');
    assert.deepEqual(
      result.attachments.map((a) => [a.partPath, a.filename, a.contentType]),
      [['2', 'a.pdf', 'application/pdf']],
    );
    assert.deepEqual(result.warnings, []);
    assertSinkConsistent(result, stored);
  });
});

describe('parseMessage: streaming and the sink', { timeout: 60_000 }, () => {
  const bigContent = pseudoRandom(7, 6 * 1024 * 1024);
  const bigMessage = Buffer.concat([
    Buffer.from(`${HEAD}Content-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\nContent-Type: text/plain\r\n\r\nsee the archive\r\n--z\r\nContent-Type: application/zip\r\nContent-Disposition: attachment; filename=big.zip\r\nContent-Transfer-Encoding: base64\r\n\r\n`),
    Buffer.from((bigContent.toString('base64').match(/.{1,76}/g) ?? []).join('\r\n')),
    Buffer.from('\r\n--z--\r\n'),
  ]);

  it('streams a large attachment to the sink in many chunks with the right hash', async () => {
    const chunks: Buffer[] = [];
    for (let i = 0; i < bigMessage.length; i += 64 * 1024) chunks.push(bigMessage.subarray(i, i + 64 * 1024));
    const { result, stored } = await parse(Readable.from(chunks));
    assert.equal(result.attachments.length, 1);
    assert.equal(result.attachments[0]?.filename, 'big.zip');
    assert.equal(result.attachments[0]?.size, bigContent.length);
    assert.equal(result.attachments[0]?.sha256, sha256(bigContent));
    assert.ok((stored[0]?.chunks ?? 0) > 10, 'content arrived as a stream, not one buffer');
    assert.equal(result.bodyText, 'see the archive');
  });

  it('records the sha256 and size the sink returns for known content', async () => {
    const { result } = await parse(fixture('26-text-attachments.eml'));
    const pdf = result.attachments.find((a) => a.filename === 'scan.pdf');
    assert.equal(pdf?.sha256, sha256(PDF));
    assert.equal(pdf?.size, PDF.length);
    const nested = await parse(fixture('27-nested-rfc822.eml'));
    const png = nested.result.attachments.filter((a) => a.filename === 'pixel.png');
    assert.equal(png.length, 2);
    for (const a of png) assert.equal(a.sha256, sha256(PNG));
  });

  it('digests base64 attachments in place with the default sink: what a sink of its own records', async () => {
    // Counts the parts digested in place, so that the comparison cannot pass by never doing so.
    const digestInto = Base64Decoder.prototype.digestInto;
    let inPlace = 0;
    Base64Decoder.prototype.digestInto = function (this: Base64Decoder, consume) {
      inPlace++;
      digestInto.call(this, consume);
    };
    try {
      const viaSink: AttachmentSink = (content) => hashContent(content);
      const chunks: Buffer[] = [];
      for (let i = 0; i < bigMessage.length; i += 64 * 1024) chunks.push(bigMessage.subarray(i, i + 64 * 1024));
      const big = await parseMessage(Readable.from(chunks));
      assert.deepEqual(big, await parseMessage(Readable.from(chunks), viaSink));
      assert.equal(big.attachments[0]?.sha256, sha256(bigContent));
      assert.equal(big.attachments[0]?.size, bigContent.length);
      assert.equal(inPlace, 1);
      for (const name of Object.keys(EXPECTED)) {
        const options = EXPECTED[name]?.options;
        assert.deepEqual(await parseMessage(fixture(name), undefined, options), await parseMessage(fixture(name), viaSink, options), name);
      }
      assert.ok(inPlace > 10, `only ${inPlace} parts of the fixtures were digested in place`);
    } finally {
      Base64Decoder.prototype.digestInto = digestInto;
    }
  });

  it('holds a stream input back by bytes, not only by chunks: 1 MiB chunks stay a few MiB ahead of a slow sink', async () => {
    const content = pseudoRandom(11, 24 * 1024 * 1024);
    const message = Buffer.concat([
      Buffer.from(`${HEAD}Content-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\nContent-Type: application/zip\r\nContent-Disposition: attachment; filename=big.zip\r\nContent-Transfer-Encoding: base64\r\n\r\n`),
      Buffer.from((content.toString('base64').match(/.{1,76}/g) ?? []).join('\r\n')),
      Buffer.from('\r\n--z--\r\n'),
    ]);
    let produced = 0;
    let consumed = 0;
    let lead = 0;
    const input = Readable.from(
      (function* () {
        for (let i = 0; i < message.length; i += 1024 * 1024) {
          produced += Math.min(1024 * 1024, message.length - i);
          yield message.subarray(i, i + 1024 * 1024);
        }
      })(),
    );
    const slow = slowSink(10, (size) => {
      // Decoded bytes are three quarters of the base64 (and line breaks) they came from.
      consumed = Math.floor((size * 78) / 57);
      lead = Math.max(lead, produced - consumed);
    });
    const result = await parseMessage(input, slow);
    assert.equal(result.attachments[0]?.sha256, sha256(content));
    assert.ok(lead < 12 * 1024 * 1024, `the input ran ${(lead / 1048576).toFixed(1)} MiB ahead of the sink`);
  });

  it('respects backpressure of a slow sink', async () => {
    const sizes: number[] = [];
    const slow: AttachmentSink = async (content, partPath) => {
      const stored = await slowSink(1)(content, partPath);
      sizes.push(stored.size);
      return stored;
    };
    const result = await parseMessage(bigMessage, slow);
    assert.equal(result.attachments[0]?.sha256, sha256(bigContent));
    const nested = await parseMessage(fixture('27-nested-rfc822.eml'), slow);
    assert.equal(nested.attachments.length, 6);
    assert.equal(sizes.length, 7);
  });

  it('rejects when the sink fails, without hanging', async () => {
    const failing: AttachmentSink = async (content) => {
      content.destroy();
      throw new Error('disk full');
    };
    await assert.rejects(parseMessage(bigMessage, failing), /disk full/);
    await assert.rejects(parseMessage(fixture('27-nested-rfc822.eml'), failing), /disk full/);
  });

  it('completes when the sink returns without reading the stream', async () => {
    const lazy: AttachmentSink = async () => ({ sha256: 'x', size: 0 });
    const result = await parseMessage(bigMessage, lazy);
    assert.equal(result.attachments[0]?.sha256, 'x');
    assert.equal(result.bodyText, 'see the archive');
  });

  it('rejects when the input stream fails', async () => {
    const broken = new Readable({
      read() {
        this.destroy(new Error('read error'));
      },
    });
    await assert.rejects(parseMessage(broken, recordingSink().sink), /read error/);
  });
  it('holds a stream input back while a slow sink catches up', async () => {
    let offset = 0;
    let pulled = 0;
    let received = 0;
    let maxAhead = 0;
    const input = new Readable({
      read() {
        if (offset >= bigMessage.length) {
          this.push(null);
          return;
        }
        const chunk = bigMessage.subarray(offset, offset + 16 * 1024);
        offset += chunk.length;
        pulled += chunk.length;
        this.push(chunk);
      },
    });
    const slow: AttachmentSink = async (content) => {
      const hash = createHash('sha256');
      for await (const chunk of content) {
        received += (chunk as Buffer).length;
        // base64: 4 input bytes per 3 decoded ones.
        maxAhead = Math.max(maxAhead, pulled - (received * 4) / 3);
        hash.update(chunk as Buffer);
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      return { sha256: hash.digest('hex'), size: received };
    };
    const result = await parseMessage(input, slow);
    assert.equal(result.attachments[0]?.sha256, sha256(bigContent));
    assert.ok(maxAhead < 1.5 * 1024 * 1024, `input ran ${Math.round(maxAhead)} bytes ahead of the sink`);
  });

  it('gives the same result for a stream of single bytes as for a Buffer', async () => {
    for (const name of ['27-nested-rfc822.eml', '26-text-attachments.eml', '28-unclosed-boundary.eml']) {
      const data = fixture(name);
      const bytes: Buffer[] = [];
      for (let i = 0; i < data.length; i++) bytes.push(data.subarray(i, i + 1));
      const fromStream = await parse(Readable.from(bytes));
      assert.deepEqual(fromStream.result, (await parse(data)).result, name);
    }
  });

  it('rejects when the input stream fails in the middle of an attachment or an attached message', async () => {
    const failingAfter = (data: Buffer, failAt: number): Readable => {
      let offset = 0;
      return new Readable({
        read() {
          if (offset >= failAt) {
            this.destroy(new Error('read error'));
            return;
          }
          const chunk = data.subarray(offset, Math.min(failAt, offset + 512));
          offset += chunk.length;
          this.push(chunk);
        },
      });
    };
    await assert.rejects(parse(failingAfter(bigMessage, 1024 * 1024)), /read error/);
    const nested = fixture('27-nested-rfc822.eml');
    await assert.rejects(parse(failingAfter(nested, nested.indexOf('innermost'))), /read error/);
  });
});

describe('ChunkQueue', () => {
  it('hands out items in order across compactions, then the end', async () => {
    const queue = new ChunkQueue<number>();
    let taken = 0;
    queue.onTake = () => taken++;
    for (let i = 0; i < 3000; i++) queue.push(i);
    for (let i = 0; i < 2500; i++) assert.equal(await queue.next(), i);
    for (let i = 3000; i < 5000; i++) queue.push(i);
    for (let i = 2500; i < 5000; i++) assert.equal(await queue.next(), i);
    assert.equal(queue.length, 0);
    assert.equal(taken, 5000);
    const waiting = queue.next();
    queue.end();
    assert.equal(await waiting, null);
  });

  it('tells what the queued items weigh', async () => {
    const queue = new ChunkQueue<Buffer>((b) => b.length);
    queue.push(Buffer.alloc(10));
    queue.push(Buffer.alloc(5));
    assert.equal(queue.bytes, 15);
    await queue.next();
    assert.equal(queue.bytes, 5);
    await queue.next();
    assert.equal(queue.bytes, 0);
  });

  it('throws an error only after the items pushed before it', async () => {
    const queue = new ChunkQueue<string>();
    queue.push('a');
    queue.push('b');
    queue.fail(new Error('limit'));
    queue.fail(new Error('second'));
    assert.equal(await queue.next(), 'a');
    assert.equal(await queue.next(), 'b');
    await assert.rejects(queue.next(), /^Error: limit$/);
  });
});
