/**
 * The SMTP sender against real Postfix 3.7 instances (root): one with SMTPUTF8, one without.
 * Everything delivered lands in the instance's Maildir and is parsed back with mailparser.
 */
import { strict as assert } from 'node:assert';
import { after, afterEach, before, describe, it } from 'node:test';
import { simpleParser, type AddressObject } from 'mailparser';
import { createSmtpSender } from '../../../src/gateways/smtp/index.ts';
import type { MailSender } from '../../../src/gateways/ports.ts';
import { composeMessage, type ComposeAttachment, type ComposeInput } from '../../../src/mime/index.ts';
import { startPostfix, type CapturedMessage, type PostfixPeer } from '../../support/peers/postfix.ts';
import { SAMPLES } from '../../mime/samples.ts';
import { expectAppError, plainSettings, startRecordingProxy } from './helpers.ts';

function addrs(obj: AddressObject | AddressObject[] | undefined): Array<{ name: string; address: string | undefined }> {
  const list = obj === undefined ? [] : Array.isArray(obj) ? obj : [obj];
  return list.flatMap((o) => o.value.map((v) => ({ name: v.name, address: v.address })));
}

function header(raw: Buffer, name: string): string | undefined {
  const text = raw.toString('utf8');
  return new RegExp(`^${name}: (.*)$`, 'mi').exec(text)?.[1];
}

async function byMessageId(captured: CapturedMessage[]): Promise<Map<string, CapturedMessage[]>> {
  const out = new Map<string, CapturedMessage[]>();
  for (const c of captured) {
    const id = (await simpleParser(c.raw)).messageId ?? '';
    out.set(id, [...(out.get(id) ?? []), c]);
  }
  return out;
}

/** Waits until Postfix has logged the end of `count` SMTP sessions. */
async function waitForDisconnects(peer: PostfixPeer, count: number, timeoutMs = 5000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lines = (await peer.readLog()).split('\n').filter((l) => /smtpd\[\d+\]: disconnect from/.test(l));
    if (lines.length >= count || Date.now() > deadline) return lines;
    await new Promise((r) => setTimeout(r, 50));
  }
}

const LANGUAGES: Array<{ lang: string; name: string; text: string; file: string }> = [
  { lang: 'de', name: 'Jörg Müller-Lüdenscheidt', text: SAMPLES.de, file: 'Überweisungsbeleg März 2026 – Größe.pdf' },
  { lang: 'fr', name: 'François Lefèvre-Noël', text: SAMPLES.fr, file: 'Reçu à l’été – facture n° 42.pdf' },
  { lang: 'ru', name: 'Эдуард Щукин', text: SAMPLES.ru, file: 'Счёт-фактура № 17 от 01.03.2026.pdf' },
  { lang: 'ja', name: '山田 太郎', text: SAMPLES.ja, file: '請求書（テスト）令和八年三月分.pdf' },
  { lang: 'zh', name: '王小明', text: SAMPLES.zh, file: '发票（二〇二六年三月）.pdf' },
  { lang: 'emoji', name: '😀 Emoji 🎉 Person', text: SAMPLES.emoji, file: '😀 party 🎉 👩‍💻.pdf' },
];

function languageMessage(l: (typeof LANGUAGES)[number]): ComposeInput {
  return {
    from: { name: `${l.name} (Absender)`, address: `from-${l.lang}@example.test` },
    to: [{ name: l.name, address: `to-${l.lang}@example.test` }],
    cc: [{ name: `${l.name} – cc`, address: `cc-${l.lang}@example.test` }],
    replyTo: { name: `${l.name} ↩`, address: `reply-${l.lang}@example.test` },
    subject: `[${l.lang}] ${l.text} ${l.text}`,
    text: `${l.text}\n\n${l.text.repeat(8)}\n`,
    html: `<p lang="${l.lang}">${l.text}</p>\n`,
    attachments: [
      { filename: l.file, contentType: 'application/pdf', content: Buffer.from(`%PDF-1.4 ${l.text}`, 'utf8') },
      { filename: `${l.text.slice(0, 12)}.txt`, content: Buffer.from(l.text, 'utf8') },
    ],
  };
}

describe('SMTP sender against Postfix', () => {
  let utf8: PostfixPeer;
  let ascii: PostfixPeer;
  const senders: MailSender[] = [];
  const sender = (peer: PostfixPeer, pool = false): MailSender => {
    const s = createSmtpSender(plainSettings(peer.port), { pool, name: 'mailroom.test' });
    senders.push(s);
    return s;
  };

  before(async () => {
    [utf8, ascii] = await Promise.all([startPostfix({ smtputf8: true, name: 'smtp-utf8' }), startPostfix({ smtputf8: false, name: 'smtp-ascii' })]);
  });
  afterEach(async () => {
    for (const s of senders.splice(0)) await s.close();
    await Promise.all([utf8.clearMaildir(), ascii.clearMaildir()]);
  });
  after(async () => {
    await Promise.all([utf8?.stop(), ascii?.stop()]);
  });

  it('verify() reports SMTPUTF8 and SIZE from EHLO', async () => {
    assert.deepEqual(await sender(utf8).verify(), { smtputf8: true, maxSize: 104857600 });
    assert.deepEqual(await sender(ascii).verify(), { smtputf8: false, maxSize: 104857600 });
  });

  it('delivers German, French, Russian, Japanese, Chinese and emoji messages with every string intact (pooled)', async () => {
    const proxy = await startRecordingProxy(ascii.port);
    const s = createSmtpSender(plainSettings(proxy.port), { pool: true });
    senders.push(s);
    const inputs = LANGUAGES.map(languageMessage);
    const sent = new Map<string, ComposeInput>();
    for (const input of inputs) {
      const msg = await composeMessage(input);
      assert.equal(msg.needsSmtpUtf8, false);
      const result = await s.send(msg.envelope, msg.raw);
      assert.deepEqual(result.accepted, msg.envelope.to);
      assert.deepEqual(result.rejected, []);
      assert.match(result.response, /^250 2\.0\.0 Ok: queued as /);
      assert.ok(result.queueId && result.response.endsWith(result.queueId));
      sent.set(msg.messageId, input);
    }
    const captured = await ascii.waitForMessages(inputs.length * 2, 15_000); // To and Cc each get a copy
    const grouped = await byMessageId(captured);
    assert.equal(grouped.size, inputs.length);
    for (const [messageId, copies] of grouped) {
      const input = sent.get(messageId);
      assert.ok(input, `unexpected message ${messageId}`);
      assert.equal(copies.length, 2);
      for (const copy of copies) {
        const parsed = await simpleParser(copy.raw);
        assert.equal(parsed.subject, input.subject);
        assert.deepEqual(addrs(parsed.from), [{ name: input.from.name, address: input.from.address }]);
        assert.deepEqual(addrs(parsed.to), input.to.map((a) => ({ name: a.name, address: a.address })));
        assert.deepEqual(addrs(parsed.cc), (input.cc ?? []).map((a) => ({ name: a.name, address: a.address })));
        assert.deepEqual(addrs(parsed.replyTo), [{ name: input.replyTo?.name, address: input.replyTo?.address }]);
        assert.equal(parsed.text, input.text);
        assert.equal(parsed.html, input.html);
        const want: ComposeAttachment[] = input.attachments ?? [];
        assert.deepEqual(parsed.attachments.map((a) => a.filename), want.map((a) => a.filename));
        for (const [i, a] of want.entries()) assert.deepEqual(parsed.attachments[i]?.content, a.content);
      }
    }
    assert.equal(proxy.connections(), 1, 'the pool reused its one connection');
    await proxy.close();
  });

  it('delivers to a UTF-8 local part through the SMTPUTF8 instance, with SMTPUTF8 on MAIL FROM', async () => {
    const proxy = await startRecordingProxy(utf8.port);
    try {
      const s = createSmtpSender(plainSettings(proxy.port));
      senders.push(s);
      const msg = await composeMessage({
        from: { name: 'Δοκιμή', address: 'δοκιμή@παράδειγμα.δοκιμή' },
        to: [{ name: 'Jörg Groß', address: 'jörg.groß@bücher.example' }, { address: '用户@例子.广告' }],
        subject: `EAI ${SAMPLES.zh}`,
        text: `${SAMPLES.de}\n`,
      });
      assert.equal(msg.needsSmtpUtf8, true);
      const result = await s.send(msg.envelope, msg.raw);
      assert.deepEqual(result.accepted, ['jörg.groß@bücher.example', '用户@例子.广告']);
      const mailFrom = proxy.clientLines().find((l) => l.startsWith('MAIL FROM:'));
      assert.equal(mailFrom, `MAIL FROM:<δοκιμή@παράδειγμα.δοκιμή> SMTPUTF8 BODY=8BITMIME SIZE=${msg.raw.length}`);

      const captured = await utf8.waitForMessages(2, 10_000);
      const delivered = captured.map((c) => header(c.raw, 'Delivered-To')).sort();
      assert.deepEqual(delivered, ['jörg.groß@bücher.example', '用户@例子.广告'].sort());
      for (const c of captured) {
        assert.equal(header(c.raw, 'Return-Path'), '<δοκιμή@παράδειγμα.δοκιμή>');
        assert.match(c.raw.toString('utf8'), /with UTF8SMTP id /);
        const parsed = await simpleParser(c.raw);
        assert.equal(parsed.subject, `EAI ${SAMPLES.zh}`);
        assert.deepEqual(addrs(parsed.from), [{ name: 'Δοκιμή', address: 'δοκιμή@παράδειγμα.δοκιμή' }]);
        assert.deepEqual(addrs(parsed.to), [
          { name: 'Jörg Groß', address: 'jörg.groß@bücher.example' },
          { name: '', address: '用户@例子.广告' },
        ]);
        assert.equal(parsed.text, `${SAMPLES.de}\n`);
      }
    } finally {
      await proxy.close();
    }
  });

  it('refuses a UTF-8 local part on the instance without SMTPUTF8: MAIL_SMTPUTF8_REQUIRED, no MAIL FROM, nothing delivered', async () => {
    const proxy = await startRecordingProxy(ascii.port);
    try {
      const s = createSmtpSender(plainSettings(proxy.port));
      senders.push(s);
      const msg = await composeMessage({ from: { address: 'sender@example.test' }, to: [{ name: 'Jörg', address: 'jörg@bücher.example' }], subject: 's', text: 't' });
      const logBefore = (await waitForDisconnects(ascii, 0)).length;
      const err = await expectAppError(s.send(msg.envelope, msg.raw), 'MAIL_SMTPUTF8_REQUIRED');
      assert.equal(err.details?.permanent, true);
      assert.equal(err.details?.response, null);
      assert.match(err.message, /does not offer SMTPUTF8/);

      assert.doesNotMatch(proxy.clientText(), /MAIL FROM|RCPT TO|DATA/i, 'not a byte of the transaction went out');
      // Postfix's own account of the session: EHLO and QUIT, no MAIL.
      const disconnects = await waitForDisconnects(ascii, logBefore + 1);
      const last = disconnects[disconnects.length - 1] ?? '';
      assert.match(last, /ehlo=1/);
      assert.doesNotMatch(last, /mail=/);
      await new Promise((r) => setTimeout(r, 500));
      assert.deepEqual(await ascii.readMaildir(), []);
    } finally {
      await proxy.close();
    }
  });

  it('delivers to an IDN domain with an ASCII local part through the instance without SMTPUTF8 (A-labels)', async () => {
    const s = sender(ascii);
    const msg = await composeMessage({
      from: { name: 'Ａｎｎａ', address: 'anna@ｆｕｌｌｗｉｄｔｈ.example' },
      to: [{ name: 'Bücher Info', address: 'info@Bücher.example' }],
      subject: `IDN ${SAMPLES.ru}`,
      text: `${SAMPLES.fr}\n`,
    });
    assert.equal(msg.needsSmtpUtf8, false);
    const result = await s.send(msg.envelope, msg.raw);
    assert.deepEqual(result.accepted, ['info@xn--bcher-kva.example']);
    const [c] = await ascii.waitForMessages(1, 10_000);
    assert.ok(c);
    assert.equal(header(c.raw, 'Delivered-To'), 'info@xn--bcher-kva.example');
    assert.match(header(c.raw, 'To') ?? '', /<info@xn--bcher-kva\.example>$/);
    assert.equal(header(c.raw, 'From'), '=?UTF-8?B?77yh772O772O772B?= <anna@fullwidth.example>');
    assert.equal(header(c.raw, 'Return-Path'), '<anna@fullwidth.example>');
    assert.doesNotMatch(c.raw.toString('latin1'), /UTF8SMTP/);
    const parsed = await simpleParser(c.raw);
    // mailparser shows A-label domains in Unicode again
    assert.deepEqual(addrs(parsed.to), [{ name: 'Bücher Info', address: 'info@bücher.example' }]);
    assert.deepEqual(addrs(parsed.from), [{ name: 'Ａｎｎａ', address: 'anna@fullwidth.example' }]);
    assert.equal(parsed.subject, `IDN ${SAMPLES.ru}`);
    assert.equal(parsed.text, `${SAMPLES.fr}\n`);
  });

  it('a stopped Postfix is a transient failure (MAIL_HOST_UNREACHABLE), also for a pooled sender', async () => {
    const peer = await startPostfix({ name: 'smtp-stop' });
    try {
      const pooled = createSmtpSender(plainSettings(peer.port), { pool: true });
      const fresh = createSmtpSender(plainSettings(peer.port));
      senders.push(pooled, fresh);
      const msg = await composeMessage({ from: { address: 'a@example.test' }, to: [{ address: 'b@example.test' }], subject: 's', text: 't' });
      await pooled.send(msg.envelope, msg.raw);
      await peer.waitForMessages(1, 10_000);
      await peer.stop();
      for (const s of [pooled, fresh]) {
        const err = await expectAppError(s.send(msg.envelope, msg.raw), 'MAIL_HOST_UNREACHABLE');
        assert.equal(err.details?.permanent, false);
        assert.match(err.message, /ECONNREFUSED/);
      }
    } finally {
      await peer.stop();
    }
  });
});
