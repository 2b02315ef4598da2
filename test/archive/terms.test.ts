import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { indexTerms, queryTerms, tokenizeGeneral } from '../../src/archive/search/terms.ts';

/** Deterministic randomness (mulberry32). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Text that a mailbox holds: prose in many scripts, addresses, numbers, markup remnants. */
const SAMPLES = [
  'Please find the quarterly figures below. Invoice 2024-117, due 2024-03-31!',
  'Re: AW: Fwd: Meeting on THURSDAY at 10:00 -- see https://example.com/a/b?c=d&e=f#x',
  '"Alice Walker" <alice.walker+tag@example.test>, Bob <bob@EXAMPLE.test>',
  'Anbei die Rechnung für März. Viele Grüße aus München; GRÜSSE, Straße, STRASSE.',
  'Veuillez trouver ci-joint le relevé de décembre. Voilà, à bientôt — Hélène Bérénice.',
  'Добрый день, высылаю счёт за март. Йошкар-Ола, ЁЛКА, ёлка.',
  'Γειά σου κόσμε· το συμβόλαιο επισυνάπτεται. ΣΊΣΥΦΟΣ ς',
  'お世話になっております。請求書を添付いたします。ｶﾀｶﾅ ﾊﾟｿｺﾝ ー',
  '见附件中的报价单，请查收。報價單 2024年3月',
  '회의 자료를 첨부합니다. 확인 부탁드립니다. ᄒᆞᆫ글',
  'ภาษาไทยเป็นภาษาที่ไม่มีการเว้นวรรคระหว่างคำ ThaiMixedไทยword ๑๒๓',
  'ພາສາລາວ ភាសាខ្មែរ မြန်မာဘာသာ',
  'Zoë Ünal, Øresund, Łódź, İstanbul, ıi, ǅemal, ﬁnance ﬂoor, Ⅻ, ①②, ⑴, ½, ㎏, ™',
  'Ｆｕｌｌｗｉｄｔｈ ＡＢＣ１２３ abcＤＥＦghi ＡＢＣ-def',
  'combining: e\u0301 cafe\u0301s A\u030a \u0301lead x\u0301\u0302\u0303 ,\u0301 a<\u0338b =\u0338 >\u0338c',
  'emoji 👋🏽 family 👨‍👩‍👧 flags 🇩🇪 😀text😀 𝐁𝐨𝐥𝐝 𝔉𝔯𝔞𝔨𝔱𝔲𝔯 𠀋𠀌',
  'Arabic: مرحبا بالعالم ١٢٣ Hebrew: שלום עולם Hindi: नमस्ते दुनिया Tamil: வணக்கம்',
  'tabs\tand\r\nnewlines\n\n> quoted From line\u00a0nbsp\u2003emsp\u200bzwsp\u200czwnj\ufeffbom',
  'control \u0000\u0001\u007f\u0080\u009f chars, lone surrogates \ud800 x \udc00 y',
  `${'a'.repeat(70)} ${'B'.repeat(64)} ${'c'.repeat(63)}é ${'ü'.repeat(70)} ${'x'.repeat(65)}Ä`,
  'ABC', 'abc', '', ' ', '-', 'é', 'a', 'Ä', '字', '字字', 'ไทย', '\u0301', '<\u0338',
];

/** Pieces to glue together at random, including ones that interact across the glue. */
const PIECES = [
  'hello', 'World', 'ABC123', 'x', '42', 'naïve', 'Grüße', 'ß', 'SS', 'ÉCOLE', 'Σ', 'ς', 'İ', 'ı', 'K', 'Å',
  'счёт', 'ЙОД', 'λόγος', '東京', 'とうきょう', 'トウキョウ', 'ﾄｳｷｮｳ', '서울', 'ー', '々', 'ไทย', 'ภาษา', 'ລາວ',
  'ﬁ', 'Ａ', '１', '①', '⑴', '½', '™', '℡', '\u0301', '\u0308', '\u0338', '\u20dd', '\u3099', '\u309a', 'ｶ', 'ﾞ',
  '👋', '🏽', '\u200d', '\ufe0f', '𝐀', '\ud83d', '\ude00', '\u00a0', '\u2028', '\u1100', '\u1161', '\u11a8',
  ' ', ' ', ' ', '  ', '\n', '\t', '-', '.', ',', '<', '=', '>', '@', '_', "'", '"', '/', '\\', '(', ')', '&',
];

function randomText(random: () => number, pieces: number): string {
  let s = '';
  for (let i = 0; i < pieces; i++) s += PIECES[Math.floor(random() * PIECES.length)]!;
  return s;
}

describe('tokenizer fast path', () => {
  it('gives the same index terms as the general path on varied text', () => {
    for (const text of SAMPLES) assert.deepEqual(indexTerms(text), tokenizeGeneral(text, false), JSON.stringify(text));
    const all = SAMPLES.join('\n');
    assert.deepEqual(indexTerms(all), tokenizeGeneral(all, false));
  });

  it('gives the same query terms as the general path', () => {
    for (const text of SAMPLES) assert.deepEqual(queryTerms(text), [...new Set(tokenizeGeneral(text, true))], JSON.stringify(text));
  });

  it('agrees with the general path on random mixtures of scripts, marks and separators', () => {
    const random = rng(7);
    for (let i = 0; i < 3000; i++) {
      const text = randomText(random, 1 + Math.floor(random() * 40));
      assert.deepEqual(indexTerms(text), tokenizeGeneral(text, false), JSON.stringify(text));
      assert.deepEqual(queryTerms(text), [...new Set(tokenizeGeneral(text, true))], JSON.stringify(text));
    }
  });

  it('agrees with the general path when a token crosses the 64-character term limit', () => {
    for (const len of [63, 64, 65, 130]) {
      for (const tail of ['', 'é', 'Ä', '字', 'ไทย', '\u0301', 'Ａ']) {
        const text = `x ${'Ab'.repeat(len).slice(0, len)}${tail} y`;
        assert.deepEqual(indexTerms(text), tokenizeGeneral(text, false), text);
      }
    }
  });

  it('agrees with the general path at the 100,000-term cap', () => {
    const ascii = Array.from({ length: 100_010 }, (_, i) => `w${i}`).join(' ');
    assert.equal(indexTerms(ascii).length, 100_000);
    assert.deepEqual(indexTerms(ascii), tokenizeGeneral(ascii, false));
    // The cap reached inside a region of the general path, and just after one.
    const mixed = Array.from({ length: 33_340 }, (_, i) => (i % 2 === 0 ? `Wort${i} Grüße 字字` : `x${i}`)).join(' ');
    assert.deepEqual(indexTerms(mixed), tokenizeGeneral(mixed, false));
    const cjk = `${'a '.repeat(99_990)}${'字'.repeat(50)} tail`;
    assert.deepEqual(indexTerms(cjk), tokenizeGeneral(cjk, false));
  });

  it('keeps the documented folding rules', () => {
    assert.deepEqual(indexTerms('Grüße GRUSSE grusse'), ['grusse', 'grusse', 'grusse']);
    assert.deepEqual(indexTerms('Hélène'), ['helene']);
    assert.deepEqual(indexTerms('ＡＢＣ abc'), ['abc', 'abc']);
    assert.deepEqual(indexTerms('東京都'), ['東', '京', '都', '東京', '京都']);
    assert.deepEqual(queryTerms('東京都'), ['東京', '京都']);
    assert.deepEqual(indexTerms('Invoice-2024 FOO_bar'), ['invoice', '2024', 'foo', 'bar']);
  });
});
