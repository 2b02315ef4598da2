/**
 * previewOf (src/archive/prepare.ts) reads only a prefix of a long body; its result must be
 * exactly that of collapsing and trimming the whole text, wherever the prefixes end.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { previewOf } from '../../src/archive/prepare.ts';

const reference = (text: string): string => text.replace(/\s+/g, ' ').trim().slice(0, 300);

let seed = 20261130;
function random(): number {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648;
}

/** Words and whitespace runs of every kind (Unicode spaces too), some runs long. */
function text(length: number, whitespaceShare: number): string {
  const blanks = [' ', '\t', '\r\n', '\n\n\n', '\u00a0', '\u2003', '\u3000', ' '.repeat(200), '\n'.repeat(700)];
  const words = ['Rechnung', 'invoice', 'Grüße', '請求書', 'x', 'a-b', '😀'];
  let out = '';
  while (out.length < length) out += random() < whitespaceShare ? blanks[Math.floor(random() * blanks.length)] : words[Math.floor(random() * words.length)];
  return out.slice(0, length);
}

describe('previewOf', () => {
  test('equals collapsing and trimming the whole text, for texts around every prefix boundary', () => {
    for (const length of [0, 1, 299, 300, 301, 511, 512, 513, 600, 4095, 4096, 4097, 9000]) {
      for (const share of [0, 0.3, 0.7, 0.97]) {
        for (let i = 0; i < 8; i++) {
          const t = text(length, share);
          assert.equal(previewOf(t), reference(t), `length ${length}, whitespace ${share}: ${JSON.stringify(t.slice(0, 80))}`);
        }
      }
    }
  });

  test('leading whitespace longer than a prefix, and a cut inside a whitespace run', () => {
    const cases = [
      ' '.repeat(5000) + 'word '.repeat(100),
      '\n'.repeat(600) + 'a'.repeat(400),
      'a'.repeat(299) + ' '.repeat(400) + 'b'.repeat(400),
      'x '.repeat(150) + '\t'.repeat(5000) + 'y',
      'w'.repeat(511) + '   ' + 'z'.repeat(10),
      // A prefix that collapses to just under 300 characters: the rest of the text counts.
      'a'.repeat(295) + ' '.repeat(217) + 'b'.repeat(100),
      'a'.repeat(299) + ' '.repeat(3800) + 'b'.repeat(100),
      'a'.repeat(300) + ' '.repeat(212) + 'b',
      // Exactly 300 with the last a blank that the whole text's trim removes.
      'a'.repeat(299) + ' '.repeat(300),
    ];
    for (const t of cases) assert.equal(previewOf(t), reference(t), JSON.stringify(t.slice(0, 40)));
  });
});
