/**
 * The base64 decoder of src/archive/parse/base64.ts gives byte for byte what mailsplit's own
 * decoder (libbase64) gives, for plain bodies and for every oddity (padding in the middle or
 * per line, blanks, stray bytes, truncation), however the input is cut into chunks, whether it
 * pushes the bytes or hands them to a digest; and
 * plainBase64Length counts letters as the per-byte check does.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { Readable, type Transform } from 'node:stream';
import { describe, test } from 'node:test';
import { Base64Decoder, countLineBreaks, scanPlainBase64 } from '../../src/archive/parse/base64.ts';

// libbase64 as mailsplit loads it (a dependency of mailsplit, not of ours).
const requireFromMailsplit = createRequire(createRequire(import.meta.url).resolve('@zone-eu/mailsplit'));
const libbase64 = requireFromMailsplit('libbase64') as { Decoder: new () => Transform };

let seed = 20261129;
function random(): number {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648;
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
});
