/**
 * The base64 decoder of src/archive/parse/base64.ts gives byte for byte what mailsplit's own
 * decoder (libbase64) gives, for plain bodies and for every oddity (padding in the middle or
 * per line, blanks, stray bytes, truncation), however the input is cut into chunks, whether it
 * pushes the bytes or hands them to a digest; and
 * scanPlainBase64 counts letters as the per-byte check does; its native proof agrees with the
 * regular expression on every input, and proves the chunks mailers write.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { Readable, type Transform } from 'node:stream';
import { describe, test } from 'node:test';
import { Base64Decoder, countLineBreaks, provePlainBase64, scanPlainBase64, scanPlainBase64ByRegex } from '../../src/archive/parse/base64.ts';

// libbase64 as mailsplit loads it (a dependency of mailsplit, not of ours).
const requireFromMailsplit = createRequire(createRequire(import.meta.url).resolve('@zone-eu/mailsplit'));
const libbase64 = requireFromMailsplit('libbase64') as { Decoder: new () => Transform };

// mulberry32: in 32-bit integer arithmetic, so successive picks are not correlated (a float
// LCG here once picked the same few odd characters over and over).
let seed = 20261129;
function random(): number {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;

async function decodeWith(decoder: Transform, chunks: Buffer[]): Promise<Buffer> {
  const out: Buffer[] = [];
  decoder.on('data', (d: Buffer) => out.push(d));
  const done = new Promise<void>((resolve, reject) => {
    decoder.once('end', resolve);
    decoder.once('error', reject);
  });
  Readable.from(chunks).pipe(decoder);
  await done;
  return Buffer.concat(out);
}

function cut(input: Buffer): Buffer[] {
  const chunks: Buffer[] = [];
  for (let i = 0; i < input.length; ) {
    const n = 1 + Math.floor(random() * pick([3, 17, 80, 1000, 70_000]));
    chunks.push(input.subarray(i, i + n));
    i += n;
  }
  return chunks;
}

function body(kind: string): Buffer {
  const bytes = Buffer.from(Array.from({ length: Math.floor(random() * 5000) }, () => Math.floor(random() * 256)));
  let text = bytes.toString('base64');
  if (kind === 'per-line padding') {
    text = Array.from({ length: 20 }, () => Buffer.from(Array.from({ length: 1 + Math.floor(random() * 50) }, () => Math.floor(random() * 256))).toString('base64')).join('\r\n');
  }
  let lined = text.replace(/.{76}/g, '$&\r\n');
  if (kind === 'LF only') lined = lined.replace(/\r\n/g, '\n');
  if (kind === 'truncated') lined = lined.slice(0, Math.max(0, lined.length - 1 - Math.floor(random() * 3)));
  const chars = [...lined];
  const insert = (what: string): void => {
    chars.splice(Math.floor(random() * chars.length), 0, what);
  };
  if (kind === 'blanks') for (let i = 0; i < 10; i++) insert(pick([' ', '\t']));
  if (kind === 'stray bytes') for (let i = 0; i < 10; i++) insert(pick(['*', '\u00e9', '\u0000', '-', '_', '.']));
  if (kind === 'padding inside') for (let i = 0; i < 3; i++) insert('=');
  return Buffer.from(chars.join(''), 'latin1');
}

describe('base64 decoding', () => {
  const kinds = ['plain', 'LF only', 'truncated', 'per-line padding', 'blanks', 'stray bytes', 'padding inside'];
  for (const kind of kinds) {
    test(`same bytes as libbase64: ${kind}, 40 bodies, random chunking`, async () => {
      for (let i = 0; i < 40; i++) {
        const input = body(kind);
        const chunks = cut(input);
        const expected = await decodeWith(new libbase64.Decoder(), chunks);
        const got = await decodeWith(new Base64Decoder(() => new libbase64.Decoder()), chunks);
        assert.deepEqual(got, expected, `${kind} #${i}: ${input.toString('latin1').slice(0, 60)}…`);
        // Digesting: the same bytes, handed over as views of a reused buffer (hence the copies).
        const digesting = new Base64Decoder(() => new libbase64.Decoder());
        const digested: Buffer[] = [];
        digesting.digestInto((bytes) => digested.push(Buffer.from(bytes)));
        assert.equal((await decodeWith(digesting, chunks)).length, 0, 'a digesting decoder pushes nothing');
        assert.deepEqual(Buffer.concat(digested), expected, `digested, ${kind} #${i}`);
      }
    });
  }

  test('a plain body decodes without the slow decoder; anything odd hands over to it', async () => {
    let slowMade = 0;
    const slow = (): Transform => {
      slowMade++;
      return new libbase64.Decoder();
    };
    const content = Buffer.from(Array.from({ length: 3000 }, (_, i) => i % 256));
    const plain = Buffer.from(content.subarray(0, 2999).toString('base64').replace(/.{76}/g, '$&\r\n').replace(/=+$/, ''));
    assert.deepEqual(await decodeWith(new Base64Decoder(slow), cut(plain)), content.subarray(0, 2999));
    assert.equal(slowMade, 0);
    const padded = Buffer.from(content.subarray(0, 2999).toString('base64').replace(/.{76}/g, '$&\r\n'));
    assert.ok(padded.toString().endsWith('='));
    assert.deepEqual(await decodeWith(new Base64Decoder(slow), cut(padded)), content.subarray(0, 2999));
    assert.equal(slowMade, 0, 'the final padding is decoded natively too');
    const blank = Buffer.concat([padded.subarray(0, 100), Buffer.from(' '), padded.subarray(100)]);
    assert.deepEqual(await decodeWith(new Base64Decoder(slow), cut(blank)), content.subarray(0, 2999));
    assert.equal(slowMade, 1, 'a blank went through libbase64');
  });

  test('scanPlainBase64 counts letters and final padding as the per-byte check does, or declines', () => {
    assert.deepEqual(scanPlainBase64('QUJD\r\nREVG\r\n'), { letters: 8, end: 12, padding: 0 });
    assert.deepEqual(scanPlainBase64('QUJD\nRA'), { letters: 6, end: 7, padding: 0 });
    assert.deepEqual(scanPlainBase64('QUJD\r\nQUI=\r\n'), { letters: 7, end: 9, padding: 1 });
    assert.deepEqual(scanPlainBase64('QQ==\r\n'), { letters: 2, end: 2, padding: 2 });
    assert.equal(scanPlainBase64('QQ==\r\nQUJD'), null, 'letters after the padding');
    assert.equal(scanPlainBase64('QU JD'), null);
    assert.equal(scanPlainBase64('QU\u00e9JD'), null);
    assert.deepEqual(scanPlainBase64(''), { letters: 0, end: 0, padding: 0 });
    assert.equal(countLineBreaks('a\r\nb\nc\r'), 4);
    assert.equal(countLineBreaks('a\r\nb\nc\r', 3), 2);
  });

  /** A chunk of a body as mailers write it: lines of `width` letters, cut out anywhere. */
  function lined(width: number, eol: string, padded: boolean): string {
    const bytes = Buffer.from(Array.from({ length: 2000 + Math.floor(random() * 3000) }, () => Math.floor(random() * 256)));
    let text = bytes.toString('base64');
    if (!padded) text = text.replace(/=+$/, '');
    const all = text.replace(new RegExp(`.{${width}}`, 'g'), `$&${eol}`) + (random() < 0.5 ? eol : '');
    const from = random() < 0.3 ? 0 : Math.floor(random() * all.length * 0.5);
    const to = padded || random() < 0.3 ? all.length : from + Math.floor(random() * (all.length - from));
    return all.slice(from, to);
  }

  test('provePlainBase64 proves the chunks mailers write, with the counts of the regular expression', () => {
    let proved = 0;
    for (let i = 0; i < 3000; i++) {
      const text = lined(pick([76, 72, 64, 60, 100, 3]), pick(['\r\n', '\n']), random() < 0.3);
      const exact = scanPlainBase64ByRegex(text);
      // (A padding split over two lines is not plain to the regex either.)
      if (exact === null) continue;
      proved++;
      assert.deepEqual(provePlainBase64(text), exact, `${JSON.stringify(text.slice(0, 60))}…${JSON.stringify(text.slice(-60))}`);
    }
    // One long line, a chunk that ends inside a CRLF, one that starts with the LF of one.
    for (const text of ['QUJDREVG', 'QUJD\r\nREVG\r', '\nQUJD\r\nREVG\r\n', 'QUJD\r\nQUI=\r\n', 'QQ==', '']) {
      assert.deepEqual(provePlainBase64(text), scanPlainBase64ByRegex(text), JSON.stringify(text));
    }
    assert.ok(proved > 2900, `${proved} of 3000 chunks were plain`);
  });

  test('provePlainBase64 never proves a chunk with anything odd in it; scanPlainBase64 then agrees with the regex', () => {
    const odd = [' ', '\t', '-', '_', '=', '.', '*', '\u0000', '\u00e9', '\u00ff', '\r', '\n', '==', 'QQ=', '\r\n\r\n'];
    let declined = 0;
    for (let i = 0; i < 6000; i++) {
      const text = lined(pick([76, 64, 7]), pick(['\r\n', '\n']), random() < 0.3);
      // One odd character at any place: where it makes the letter count 1 modulo 4 a skipped
      // character costs no decoded byte, which the proof must catch by other means.
      const at = Math.floor(random() * (text.length + 1));
      const spoiled = text.slice(0, at) + pick(odd) + text.slice(at);
      const exact = scanPlainBase64ByRegex(spoiled);
      const proved = provePlainBase64(spoiled);
      if (proved === null) declined++;
      else assert.deepEqual(proved, exact, `proved wrongly: ${JSON.stringify(spoiled.slice(Math.max(0, at - 20), at + 20))} at ${at}`);
      assert.deepEqual(scanPlainBase64(spoiled), exact);
    }
    assert.ok(declined > 4000, `declined ${declined} of 6000`);
  });

  test('provePlainBase64 relies on Node skipping every character but the letters: all 256, at every count modulo 4', () => {
    const plain = 'QUJDREVGR0hJSktM\r\nTU5PUFFSU1RVVldY\r\n';
    for (let c = 0; c < 256; c++) {
      const ch = String.fromCharCode(c);
      if (/[A-Za-z0-9+/\r\n]/.test(ch)) continue;
      for (const at of [0, 1, 2, 3, 5, 18, 21, plain.length - 3]) {
        const spoiled = plain.slice(0, at) + ch + plain.slice(at);
        assert.equal(provePlainBase64(spoiled), null, `${JSON.stringify(ch)} at ${at}`);
        assert.deepEqual(scanPlainBase64(spoiled), scanPlainBase64ByRegex(spoiled));
      }
    }
  });
});
