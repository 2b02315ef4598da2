import { strict as assert } from 'node:assert';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { simpleParser, type AddressObject, type ParsedMail } from 'mailparser';
import { composeMessage, type ComposeInput } from '../../src/mime/index.ts';
import { isAppError } from '../../src/errors/index.ts';
import { SAMPLES } from './samples.ts';


function addrs(obj: AddressObject | AddressObject[] | undefined): Array<{ name: string; address: string | undefined }> {
  const list = obj === undefined ? [] : Array.isArray(obj) ? obj : [obj];
  return list.flatMap((o) => o.value.map((v) => ({ name: v.name, address: v.address })));
}

/** The header block of the message and of every MIME part, as raw lines. */
function headerLines(raw: Buffer): string[] {
  const text = raw.toString('latin1');
  const lines: string[] = [];
  let inHeader = true;
  for (const line of text.split('\r\n')) {
    if (inHeader) {
      if (line === '') inHeader = false;
      else lines.push(line);
    } else if (/^--/.test(line)) {
      inHeader = true; // a boundary line: a part header follows
    }
  }
  return lines;
}

function multilingualInput(): ComposeInput {
  return {
    from: { name: `Jörg Müller – ${SAMPLES.de}`, address: 'joerg.mueller@example.test' },
    to: [
      { name: `François Lefèvre ${SAMPLES.fr}`, address: 'francois@example.test' },
      { name: 'Щукин Эдуард Петрович', address: 'eduard@example.test' },
      { name: '山田 太郎（やまだ たろう）', address: 'yamada@example.test' },
    ],
    cc: [
      { name: '王小明', address: 'wang@example.test' },
      { name: '😀 Emoji Person 🎉', address: 'emoji@example.test' },
    ],
    replyTo: { name: 'Buchhaltung Größe', address: 'buchhaltung@example.test' },
    subject: `${SAMPLES.de} | ${SAMPLES.fr} | ${SAMPLES.ru} | ${SAMPLES.ja} | ${SAMPLES.zh} | ${SAMPLES.emoji}`,
    text: Object.values(SAMPLES).join('\n') + '\n' + 'Lange Zeile: ' + 'Äpfel und Birnen '.repeat(30) + '\n',
    html: `<p>${Object.values(SAMPLES).join('</p>\n<p>')}</p>\n`,
    attachments: [
      { filename: 'Überweisungsbeleg März 2026 – sehr langer Dateiname für die Buchhaltung.pdf', contentType: 'application/pdf', content: Buffer.from('%PDF-1.4 de') },
      { filename: 'Reçu à l’été – facture n° 42.txt', content: Buffer.from('fr ü', 'utf8') },
      { filename: 'Счёт-фактура № 17.docx', content: Buffer.from([0, 1, 2, 255]) },
      { filename: '請求書（テスト）.xlsx', content: Buffer.from('ja') },
      { filename: '发票.pdf', contentType: 'application/pdf', content: Buffer.from('zh') },
      { filename: '😀 party 🎉.png', contentType: 'image/png', content: Buffer.from('png') },
      { filename: 'plain-ascii.csv', content: Buffer.from('a,b\n1,2\n') },
    ],
    headers: { 'Auto-Submitted': 'auto-generated', 'X-Mailroom-Test': 'yes' },
    date: new Date('2026-03-01T10:20:30Z'),
  };
}

async function expectValidation(input: ComposeInput, mention: RegExp): Promise<void> {
  await assert.rejects(composeMessage(input), (err: unknown) => {
    assert.ok(isAppError(err), `expected AppError, got ${String(err)}`);
    assert.equal(err.code, 'VALIDATION_FAILED');
    assert.match(err.message, mention);
    return true;
  });
}

describe('composeMessage', () => {
  it('round-trips German, French, Russian, Japanese, Chinese and emoji through mailparser exactly', async () => {
    const input = multilingualInput();
    const msg = await composeMessage(input);
    const parsed: ParsedMail = await simpleParser(msg.raw);

    assert.equal(parsed.subject, input.subject);
    assert.deepEqual(addrs(parsed.from), [{ name: input.from.name, address: input.from.address }]);
    assert.deepEqual(addrs(parsed.to), input.to.map((a) => ({ name: a.name, address: a.address })));
    assert.deepEqual(addrs(parsed.cc), (input.cc ?? []).map((a) => ({ name: a.name, address: a.address })));
    assert.deepEqual(addrs(parsed.replyTo), [{ name: input.replyTo?.name, address: input.replyTo?.address }]);
    assert.equal(parsed.text, input.text);
    assert.equal(parsed.html, input.html);
    assert.equal(parsed.messageId, msg.messageId);
    assert.equal(parsed.date?.toISOString(), '2026-03-01T10:20:30.000Z');
    assert.equal(parsed.headers.get('auto-submitted'), 'auto-generated');

    const want = input.attachments ?? [];
    assert.equal(parsed.attachments.length, want.length);
    for (const [i, a] of want.entries()) {
      const got = parsed.attachments[i];
      assert.ok(got);
      assert.equal(got.filename, a.filename);
      assert.ok(Buffer.isBuffer(a.content));
      assert.deepEqual(got.content, a.content);
      if (a.contentType) assert.equal(got.contentType, a.contentType);
    }
    assert.equal(msg.needsSmtpUtf8, false);
    assert.equal(/[\x80-\xff]/.test(msg.raw.toString('latin1')), false, 'an ASCII-address message is 7-bit throughout');
  });

  it('keeps header lines within 998 octets and encoded-word lines within 76, words within 75', async () => {
    const input = multilingualInput();
    input.subject = `${SAMPLES.ja} ${SAMPLES.zh} ${SAMPLES.ru} ${SAMPLES.emoji} `.repeat(12);
    input.to = Array.from({ length: 40 }, (_, i) => ({ name: `Empfänger Nr. ${i} 日本`, address: `r${i}@example.test` }));
    const msg = await composeMessage(input);
    assert.ok(msg.raw.includes('\r\n'), 'CRLF line ends');
    assert.equal(/[^\r]\n/.test(msg.raw.toString('latin1')), false, 'no bare LF');
    const lines = headerLines(msg.raw);
    assert.ok(lines.length > 20);
    for (const line of lines) {
      assert.ok(Buffer.byteLength(line, 'latin1') <= 998, `header line over 998 octets: ${line.slice(0, 80)}…`);
      if (line.includes('=?')) assert.ok(line.length <= 76, `encoded-word line over 76 chars: ${line}`);
      for (const word of line.match(/=\?[^?]+\?[BQbq]\?[^?]*\?=/g) ?? []) {
        assert.ok(word.length <= 75, `encoded word over 75 chars: ${word}`);
      }
    }
    const subjectLines = msg.raw.toString('latin1').match(/^Subject:.*(?:\r\n[ \t].*)*/m)?.[0].split('\r\n') ?? [];
    assert.ok(subjectLines.length > 5, 'the long subject is folded');
    const parsed = await simpleParser(msg.raw);
    assert.equal(parsed.subject, input.subject);
  });

  it('gives non-ASCII attachment names both an RFC 2231 filename* and an RFC 2047 name=', async () => {
    const msg = await composeMessage(multilingualInput());
    const text = msg.raw.toString('latin1');
    const parts = text.split(/\r\n--[^\r\n]+\r\n/).filter((p) => /Content-Disposition: attachment/.test(p));
    assert.equal(parts.length, 7);
    for (const part of parts) {
      const head = part.slice(0, part.indexOf('\r\n\r\n')).replace(/\r\n[ \t]+/g, ' ');
      if (/plain-ascii\.csv/.test(head)) {
        assert.match(head, /filename="?plain-ascii\.csv"?/);
        assert.match(head, /\bname="?plain-ascii\.csv"?/);
        continue;
      }
      assert.match(head, /Content-Disposition: attachment;.*filename\*(?:0\*)?=utf-8''[^;\s]*%[0-9A-F]{2}/i, `RFC 2231 filename*: ${head}`);
      assert.match(head, /Content-Type: [^;]+;.*\bname="=\?UTF-8\?[QB]\?[^"]+\?="/i, `RFC 2047 name=: ${head}`);
    }
    // Each of the two forms decodes to the same name on its own.
    const parsed = await simpleParser(msg.raw);
    assert.equal(parsed.attachments[0]?.filename, multilingualInput().attachments?.[0]?.filename);
  });

  it('maps IDN domains with UTS #46 (fullwidth) to ASCII when the local part is ASCII: no SMTPUTF8 needed', async () => {
    const msg = await composeMessage({
      from: { name: 'Ａｎｎａ', address: 'anna@ｆｕｌｌｗｉｄｔｈ.example' },
      to: [{ address: 'info@Bücher.Example' }, { address: 'kontakt@xn--bcher-kva.example' }],
      cc: [{ address: 'x@мойдомен.рф' }],
      subject: 'IDN',
      text: 'x',
    });
    assert.equal(msg.needsSmtpUtf8, false);
    assert.deepEqual(msg.envelope, {
      from: 'anna@fullwidth.example',
      to: ['info@xn--bcher-kva.example', 'kontakt@xn--bcher-kva.example', 'x@xn--d1acklchcc.xn--p1ai'],
    });
    const head = msg.raw.toString('latin1');
    assert.match(head, /^From: .*<anna@fullwidth\.example>/m);
    assert.match(head, /^To: info@xn--bcher-kva\.example, kontakt@xn--bcher-kva\.example/m);
    assert.match(head, /^Cc: x@xn--d1acklchcc\.xn--p1ai/m);
    assert.match(msg.messageId, /@fullwidth\.example>$/);
    assert.equal(/[\x80-\xff]/.test(head), false);
  });

  it('flags a non-ASCII local part as needing SMTPUTF8 and keeps it UTF-8 with a Unicode NFC domain', async () => {
    const msg = await composeMessage({
      from: { address: 'sender@example.test' },
      to: [{ name: 'Jörg', address: 'jörg@xn--bcher-kva.example' }, { address: 'ascii@example.test' }],
      // decomposed (NFD) input comes out composed (NFC)
      cc: [{ address: 'me\u0301lanie@cafe\u0301.example' }],
      subject: 'EAI',
      text: 'x',
    });
    assert.equal(msg.needsSmtpUtf8, true);
    assert.deepEqual(msg.envelope.to, ['jörg@bücher.example', 'ascii@example.test', 'mélanie@café.example']);
    const text = msg.raw.toString('utf8');
    assert.match(text, /^To: .*<jörg@bücher\.example>/m);
    assert.match(text, /^Cc: mélanie@café\.example/m);
    const parsed = await simpleParser(msg.raw);
    assert.deepEqual(addrs(parsed.to).map((a) => a.address), ['jörg@bücher.example', 'ascii@example.test']);
    assert.equal(addrs(parsed.to)[0]?.name, 'Jörg');

    const fromOnly = await composeMessage({ from: { address: 'δοκιμή@παράδειγμα.δοκιμή' }, to: [{ address: 'a@example.test' }], subject: 's' });
    assert.equal(fromOnly.needsSmtpUtf8, true);
    assert.equal(fromOnly.envelope.from, 'δοκιμή@παράδειγμα.δοκιμή');
    assert.match(fromOnly.messageId, /@xn--hxajbheg2az3al\.xn--jxalpdlp>$/, 'the Message-ID stays ASCII');
  });

  it('puts Bcc into the envelope only, never into the headers, and deduplicates recipients', async () => {
    const msg = await composeMessage({
      from: { address: 'from@example.test' },
      to: [{ address: 'to@example.test' }],
      cc: [{ address: 'to@example.test' }, { address: 'cc@example.test' }],
      bcc: [{ name: 'Geheim Größe', address: 'secret@example.test' }, { address: 'hidden@example.test' }],
      subject: 'bcc',
      text: 'x',
    });
    assert.deepEqual(msg.envelope.to, ['to@example.test', 'cc@example.test', 'secret@example.test', 'hidden@example.test']);
    const text = msg.raw.toString('latin1');
    assert.doesNotMatch(text, /^Bcc:/im);
    assert.doesNotMatch(text, /secret|hidden|Geheim/i);
    const parsed = await simpleParser(msg.raw);
    assert.equal(parsed.bcc, undefined);

    // A name no Message-ID can end in (a random one ending in "...b" matched "b@example.test").
    const onlyBcc = await composeMessage({ from: { address: 'a@example.test' }, to: [], bcc: [{ address: 'blind.copy@example.test' }], subject: 's' });
    assert.deepEqual(onlyBcc.envelope.to, ['blind.copy@example.test']);
    assert.doesNotMatch(onlyBcc.raw.toString('latin1'), /blind\.copy/);
  });

  it('takes attachment content from a readable stream', async () => {
    const chunks = [Buffer.from('Hallo '), Buffer.from('Welt – ü')];
    const msg = await composeMessage({
      from: { address: 'a@example.test' },
      to: [{ address: 'b@example.test' }],
      subject: 'stream',
      text: 'x',
      attachments: [{ filename: 'Größe.txt', contentType: 'text/plain', content: Readable.from(chunks) }],
    });
    const parsed = await simpleParser(msg.raw);
    assert.deepEqual(parsed.attachments[0]?.content, Buffer.concat(chunks));
    assert.equal(parsed.attachments[0]?.filename, 'Größe.txt');
  });

  it('uses the given Message-ID and date, with angle brackets', async () => {
    const base = { from: { address: 'a@example.test' }, to: [{ address: 'b@example.test' }], subject: 's', text: 't' };
    const withBrackets = await composeMessage({ ...base, messageId: '<abc.123@mailroom.example>' });
    const without = await composeMessage({ ...base, messageId: 'abc.123@mailroom.example', date: new Date('2020-01-02T03:04:05Z') });
    assert.equal(withBrackets.messageId, '<abc.123@mailroom.example>');
    assert.equal(without.messageId, '<abc.123@mailroom.example>');
    assert.match(without.raw.toString('latin1'), /^Message-ID: <abc\.123@mailroom\.example>\r$/m);
    assert.match(without.raw.toString('latin1'), /^Date: Thu, 02 Jan 2020 03:04:05 \+0000\r$/m);
    const generated = await composeMessage(base);
    assert.match(generated.messageId, /^<[0-9a-f-]{36}@example\.test>$/);
  });

  it('rejects bad addresses with VALIDATION_FAILED naming the address', async () => {
    const base = { from: { address: 'a@example.test' }, to: [{ address: 'b@example.test' }], subject: 's', text: 't' };
    await expectValidation({ ...base, to: [{ address: 'not-an-address' }] }, /to address "not-an-address"/);
    await expectValidation({ ...base, to: [{ address: 'two@@example.test' }] }, /"two@@example\.test"/);
    await expectValidation({ ...base, cc: [{ address: 'x@-bad-.example' }] }, /cc address "x@-bad-\.example".*not a valid domain/);
    await expectValidation({ ...base, bcc: [{ address: 'a b@example.test' }] }, /bcc address "a b@example\.test"/);
    await expectValidation({ ...base, to: [{ address: '.dot@example.test' }] }, /"\.dot@example\.test"/);
    await expectValidation({ ...base, to: [{ address: 'x@example.test\r\nBcc: evil@example.test' }] }, /control characters/);
    await expectValidation({ ...base, from: { address: 'a@' } }, /from address "a@"/);
    await expectValidation({ ...base, replyTo: { address: 'x@exa mple.test' } }, /replyTo address/);
    await expectValidation({ ...base, to: [{ address: `${'a'.repeat(65)}@example.test` }] }, /longer than 64 octets/);
    await expectValidation({ ...base, to: [{ name: 'Evil\r\nBcc: x@example.test', address: 'b@example.test' }] }, /display name/);
    await expectValidation({ ...base, to: [] }, /no recipients/);
    await expectValidation({ ...base, headers: { Bcc: 'x@example.test' } }, /"Bcc" is set from the message fields/);
    await expectValidation({ ...base, headers: { 'X-Ok': 'a\r\nBcc: x@example.test' } }, /line break/);
    await expectValidation({ ...base, headers: { 'Bad Name': 'v' } }, /Invalid header name/);
    await expectValidation({ ...base, messageId: 'no at sign' }, /Invalid Message-ID/);
    await expectValidation({ ...base, attachments: [{ filename: '', content: Buffer.from('') }] }, /file name/);
  });
});
