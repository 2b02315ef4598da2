/**
 * The outbox against real Postfix 3.7 instances (root): everything goes in through the outbox
 * (enqueue → worker → pooled SMTP sender) and is read back from Postfix's Maildir.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { simpleParser, type AddressObject } from 'mailparser';
import { startPostfix, type PostfixPeer } from '../support/peers/postfix.ts';
import { SAMPLES } from '../mime/samples.ts';
import { harness, messageIdCounts, postfixStart, postfixStop, settle, smtpService, sleep, type Harness } from './support.ts';

function addrs(obj: AddressObject | AddressObject[] | undefined): Array<{ name: string; address: string | undefined }> {
  const list = obj === undefined ? [] : Array.isArray(obj) ? obj : [obj];
  return list.flatMap((o) => o.value.map((v) => ({ name: v.name, address: v.address })));
}

const LANGUAGES = [
  { lang: 'de', name: 'Jörg Müller-Lüdenscheidt', text: SAMPLES.de, file: 'Überweisungsbeleg März 2026 – Größe.pdf' },
  { lang: 'fr', name: 'François Lefèvre-Noël', text: SAMPLES.fr, file: 'Reçu à l’été – facture n° 42.pdf' },
  { lang: 'ru', name: 'Эдуард Щукин', text: SAMPLES.ru, file: 'Счёт-фактура № 17 от 01.03.2026.pdf' },
  { lang: 'ja', name: '山田 太郎', text: SAMPLES.ja, file: '請求書（テスト）令和八年三月分.pdf' },
  { lang: 'zh', name: '王小明', text: SAMPLES.zh, file: '发票（二〇二六年三月）.pdf' },
  { lang: 'emoji', name: '😀 Emoji 🎉 Person', text: SAMPLES.emoji, file: '😀 party 🎉 👩‍💻.pdf' },
] as const;

/** An archived original with 8-bit UTF-8, a folded header and CRLF line ends. */
const ARCHIVED = Buffer.from(
  [
    'Return-Path: <lieferant@example.test>',
    'From: =?UTF-8?Q?Gro=C3=9Fh=C3=A4ndler_M=C3=BCller?= <lieferant@example.test>',
    'To: einkauf@example.test',
    'Subject: =?UTF-8?B?UmVjaG51bmcgTsKwIDQyIOKAkyBHcsO8w59l?=',
    'Date: Mon, 02 Mar 2026 09:15:00 +0100',
    'Message-ID: <archived-42@example.test>',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
    'X-Long-Header: a folded',
    '\tcontinuation line',
    '',
    'Sehr geehrte Damen und Herren,',
    '',
    'anbei die Rechnung Nr. 42 über 1.234,56 € – mit freundlichen Grüßen.',
    '.a line starting with a dot',
    '',
  ].join('\r\n'),
  'utf8',
);

describe('outbox through Postfix', () => {
  let utf8: PostfixPeer;
  let ascii: PostfixPeer;
  let h: Harness;

  before(async () => {
    [utf8, ascii] = await Promise.all([startPostfix({ smtputf8: true, name: 'outbox-utf8' }), startPostfix({ smtputf8: false, name: 'outbox-ascii' })]);
    h = await harness();
    await smtpService(h, 'pf-utf8', utf8.port, { fromName: 'Mailroom Versand' });
    await smtpService(h, 'pf-ascii', ascii.port);
    await h.outbox.components.set(h.orgId, 'workflows', 'pf-utf8');
  });
  afterEach(async () => {
    await Promise.all([utf8.clearMaildir(), ascii.clearMaildir()]);
  });
  after(async () => {
    await h?.cleanup();
    await Promise.all([utf8?.stop(), ascii?.stop()]);
  });

  test('German, French, Russian, Japanese, Chinese and emoji: subject, names, body and file names arrive exactly', async () => {
    const sent = new Map<string, (typeof LANGUAGES)[number]>();
    for (const l of LANGUAGES) {
      const { messageId } = await h.outbox.send(h.orgId, {
        from: { name: `${l.name} (Absender)`, address: `from-${l.lang}@example.test` },
        to: [{ name: l.name, address: `to-${l.lang}@example.test` }],
        cc: [{ name: `${l.name} – cc`, address: `cc-${l.lang}@example.test` }],
        subject: `[${l.lang}] ${l.text} ${l.text}`,
        text: `${l.text}\n\n${l.text.repeat(8)}\n`,
        html: `<p lang="${l.lang}">${l.text}</p>\n`,
        attachments: [
          { filename: l.file, contentType: 'application/pdf', contentBase64: Buffer.from(`%PDF-1.4 ${l.text}`, 'utf8').toString('base64') },
          { filename: `${l.text.slice(0, 12)}.txt`, contentBase64: Buffer.from(l.text, 'utf8').toString('base64') },
        ],
      });
      sent.set(messageId, l);
    }
    assert.deepEqual(await h.outbox.worker.drain(), { sent: 6, deferred: 0, failed: 0 });
    const captured = await settle(utf8, 12); // To and Cc each get a copy
    assert.equal(captured.length, 12);
    for (const c of captured) {
      const parsed = await simpleParser(c.raw);
      const l = sent.get(parsed.messageId ?? '');
      assert.ok(l, `unexpected message ${parsed.messageId}`);
      assert.equal(parsed.subject, `[${l.lang}] ${l.text} ${l.text}`);
      assert.deepEqual(addrs(parsed.from), [{ name: `${l.name} (Absender)`, address: `from-${l.lang}@example.test` }]);
      assert.deepEqual(addrs(parsed.to), [{ name: l.name, address: `to-${l.lang}@example.test` }]);
      assert.deepEqual(addrs(parsed.cc), [{ name: `${l.name} – cc`, address: `cc-${l.lang}@example.test` }]);
      assert.equal(parsed.text, `${l.text}\n\n${l.text.repeat(8)}\n`);
      assert.equal(parsed.html, `<p lang="${l.lang}">${l.text}</p>\n`);
      assert.deepEqual(parsed.attachments.map((a) => a.filename), [l.file, `${l.text.slice(0, 12)}.txt`]);
      assert.deepEqual(parsed.attachments[0]?.content, Buffer.from(`%PDF-1.4 ${l.text}`, 'utf8'));
      assert.deepEqual(parsed.attachments[1]?.content, Buffer.from(l.text, 'utf8'));
    }
    for (const id of sent.keys()) assert.ok(captured.some((c) => c.raw.includes(id)));
  });

  test('an archived document attached by id arrives byte-exact as message/rfc822; one of its attachments by index', async () => {
    const cabinet = await h.archive.createCabinet(h.orgId, 'Rechnungen');
    const withAttachment = Buffer.from(
      [
        'From: a@example.test',
        'To: b@example.test',
        'Subject: mit Anhang',
        'Message-ID: <with-attachment@example.test>',
        'MIME-Version: 1.0',
        'Content-Type: multipart/mixed; boundary="b1"',
        '',
        '--b1',
        'Content-Type: text/plain; charset=utf-8',
        '',
        'Text',
        '--b1',
        'Content-Type: application/pdf; name="Lieferschein.pdf"',
        'Content-Disposition: attachment; filename*=utf-8\'\'Lieferschein%20M%C3%A4rz.pdf',
        'Content-Transfer-Encoding: base64',
        '',
        Buffer.from('%PDF-1.7 Lieferschein März').toString('base64'),
        '--b1--',
        '',
      ].join('\r\n'),
    );
    const outcomes = await h.archive.ingest(h.orgId, cabinet.id, [
      { raw: ARCHIVED, source: 'test' },
      { raw: withAttachment, source: 'test' },
    ]);
    const ids = outcomes.map((o) => {
      assert.ok(o.ok);
      return o.id;
    });
    const doc = await h.archive.getDocument(h.orgId, ids[0]!);
    const attIndex = (await h.archive.getDocument(h.orgId, ids[1]!)).attachments?.find((a) => a.filename === 'Lieferschein März.pdf')?.index;
    assert.equal(typeof attIndex, 'number');

    const { id, messageId } = await h.outbox.send(h.orgId, {
      to: ['kunde@example.test'],
      subject: 'Ihre Unterlagen',
      text: 'Anbei das Original und der Lieferschein.',
      attachments: [{ documentId: ids[0]! }, { documentId: ids[1]!, index: attIndex! }],
    });
    // The stored message carries the original byte for byte (CRLF, 8-bit, the dot line).
    const stored = (await h.store.db.kysely.selectFrom('outbox').select('raw').where('id', '=', id).executeTakeFirstOrThrow()).raw;
    assert.ok(Buffer.from(stored).includes(ARCHIVED), 'the composed message contains the archived bytes unchanged');
    // A file to save, not inline body text (nodemailer's default for message/* parts).
    assert.match(Buffer.from(stored).toString('utf8'), /Content-Type: message\/rfc822;[^]*?Content-Transfer-Encoding: 8bit\r\nContent-Disposition: attachment;/);

    await h.outbox.worker.drain();
    assert.equal((await h.outbox.get(h.orgId, id)).status, 'sent');
    const [delivered] = await settle(utf8, 1);
    const parsed = await simpleParser(delivered!.raw);
    assert.equal(parsed.messageId, messageId);
    const eml = parsed.attachments.find((a) => a.contentType === 'message/rfc822');
    assert.ok(eml, 'the original is attached as message/rfc822');
    assert.equal(eml.filename, `${doc.subject}.eml`);
    // Postfix's Maildir delivery stores lines with LF; every other byte is the original's.
    assert.deepEqual(eml.content, Buffer.from(ARCHIVED.toString('latin1').replace(/\r\n/g, '\n'), 'latin1'));
    const pdf = parsed.attachments.find((a) => a.filename === 'Lieferschein März.pdf');
    assert.equal(pdf?.contentType, 'application/pdf');
    assert.deepEqual(pdf?.content, Buffer.from('%PDF-1.7 Lieferschein März'));

    // Another organisation cannot attach these documents.
    const other = await h.store.orgs.insert({ id: crypto.randomUUID(), name: 'Fremd', created_at: new Date().toISOString() }).then(async () => (await h.store.orgs.byName('Fremd'))!.id);
    await smtpService(h, 'fremd-out', utf8.port, { orgId: other });
    await h.outbox.components.set(other, 'workflows', 'fremd-out');
    await assert.rejects(h.outbox.send(other, { to: ['x@example.test'], subject: 's', attachments: [{ documentId: ids[0]! }] }), { code: 'DOCUMENT_NOT_FOUND' });
  });

  test('a message needing SMTPUTF8 fails permanently against Postfix without it, with a clear reason; nothing is delivered', async () => {
    const { id } = await h.outbox.send(h.orgId, { service: 'pf-ascii', to: [{ name: 'Jörg', address: 'jörg@bücher.example' }], subject: 'EAI', text: 'x' });
    assert.deepEqual(await h.outbox.worker.drain(), { sent: 0, deferred: 0, failed: 1 });
    const v = await h.outbox.get(h.orgId, id);
    assert.equal(v.status, 'failed');
    assert.equal(v.code, 'MAIL_SMTPUTF8_REQUIRED');
    assert.equal(v.attempts, 1);
    assert.match(v.reply ?? '', /does not offer SMTPUTF8 \(RFC 6531\), which the address jörg@bücher\.example .*need.*\. Nothing was sent/);
    assert.deepEqual(v.events?.map((e) => e.type), ['queued', 'failed']);
    await sleep(500);
    assert.deepEqual(await ascii.readMaildir(), []);
    // The same message through the SMTPUTF8 instance is fine.
    const ok = await h.outbox.send(h.orgId, { to: [{ name: 'Jörg', address: 'jörg@bücher.example' }], subject: 'EAI', text: 'x' });
    await h.outbox.worker.drain();
    assert.equal((await h.outbox.get(h.orgId, ok.id)).status, 'sent');
    const [got] = await settle(utf8, 1);
    assert.match(got!.raw.toString('utf8'), /^Delivered-To: jörg@bücher\.example$/m);
  });

  test('Postfix stopped: deferred with the connection error logged; started again and retried now: delivered once', async () => {
    await postfixStop(utf8);
    let restarted = false;
    try {
      const { id, messageId } = await h.outbox.send(h.orgId, { to: ['later@example.test'], subject: 'while down', text: 'x' });
      const t0 = Date.now();
      assert.deepEqual(await h.outbox.worker.drain(), { sent: 0, deferred: 1, failed: 0 });
      const v = await h.outbox.get(h.orgId, id);
      assert.equal(v.status, 'deferred');
      assert.equal(v.code, 'MAIL_HOST_UNREACHABLE');
      assert.match(v.reply ?? '', /cannot be reached.*ECONNREFUSED/);
      const deferred = v.events?.find((e) => e.type === 'deferred');
      assert.match(deferred?.message ?? '', /ECONNREFUSED.*Next attempt at /);
      // The first retry is due about a minute later (±10 %).
      const wait = Date.parse(v.nextAttemptAt!) - t0;
      assert.ok(wait > 50_000 && wait < 70_000, `next attempt in ${wait} ms`);
      assert.deepEqual(await h.outbox.worker.drain(), { sent: 0, deferred: 0, failed: 0 }, 'not due yet');

      await postfixStart(utf8);
      restarted = true;
      const retried = await h.outbox.retry(h.orgId, id, { email: 'admin@example.test' });
      assert.equal(retried.status, 'queued');
      assert.deepEqual(await h.outbox.worker.drain(), { sent: 1, deferred: 0, failed: 0 });
      const done = await h.outbox.get(h.orgId, id);
      assert.equal(done.status, 'sent');
      assert.equal(done.attempts, 2);
      assert.deepEqual(done.events?.map((e) => e.type), ['queued', 'deferred', 'retry', 'sent']);
      const counts = await messageIdCounts(await settle(utf8, 1));
      assert.deepEqual([...counts], [[messageId, 1]]);
    } finally {
      if (!restarted) await postfixStart(utf8);
    }
  });
});
