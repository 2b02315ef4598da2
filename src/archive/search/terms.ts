/**
 * One tokenizer for indexing and querying, shared by both database dialects, so a word finds
 * the same documents on SQLite and PostgreSQL.
 *
 * - Scripts written with spaces: runs of letters and digits, NFKC-folded, lower-cased, Latin /
 *   Greek / Cyrillic diacritics removed (so "Grüße" is found by "grusse" and by "grüße").
 * - Han, Kana and Hangul have no reliable word boundaries (and Korean glues particles to words):
 *   every character and every pair of neighbours is a term (the CJK bigram scheme of Lucene's
 *   CJKBigramFilter), so any substring of two or more characters is found.
 * - Thai, Lao, Khmer and Myanmar are segmented with ICU's dictionary (Intl.Segmenter).
 */
const CJK = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}\u30FC]+/u;
const SPLIT_CJK = new RegExp(`(${CJK.source})`, 'u');
const WORD = /[\p{L}\p{N}\p{M}]+/gu;
const NO_SPACE_SCRIPTS = /[\p{Script=Thai}\p{Script=Lao}\p{Script=Khmer}\p{Script=Myanmar}]/u;
const DIACRITICS = /[\u0300-\u036f]/g;
const MAX_TERM = 64;
/** Bounds the index row of a huge body; the first terms are the ones that matter for ranking. */
const MAX_TERMS = 100_000;

let segmenter: Intl.Segmenter | undefined;

function normalise(word: string): string {
  // German ß folds to ss as in Unicode full case folding, so "Grüße" and "GRUSSE" meet.
  return word.normalize('NFKD').replace(DIACRITICS, '').normalize('NFC').toLowerCase().replace(/ß/g, 'ss');
}

function pushWord(out: string[], word: string): void {
  if (NO_SPACE_SCRIPTS.test(word)) {
    segmenter ??= new Intl.Segmenter('th', { granularity: 'word' });
    for (const seg of segmenter.segment(word)) {
      if (seg.isWordLike) out.push(normalise(seg.segment).slice(0, MAX_TERM));
    }
    return;
  }
  const term = normalise(word);
  // NFKD can turn a single compatibility character into something with punctuation; re-split.
  for (const part of term.match(WORD) ?? []) out.push(part.slice(0, MAX_TERM));
}

function cjkGrams(run: string, out: string[], withUnigrams: boolean): void {
  const chars = [...run.normalize('NFKC')];
  if (chars.length === 1 || withUnigrams) out.push(...chars);
  for (let i = 0; i + 1 < chars.length; i++) out.push(chars[i]! + chars[i + 1]!);
}

function tokenize(text: string, forQuery: boolean): string[] {
  const out: string[] = [];
  for (const [i, piece] of text.normalize('NFKC').split(SPLIT_CJK).entries()) {
    if (out.length >= MAX_TERMS) break;
    if (i % 2 === 1) {
      cjkGrams(piece, out, !forQuery);
      continue;
    }
    for (const word of piece.match(WORD) ?? []) pushWord(out, word);
  }
  return out.length > MAX_TERMS ? out.slice(0, MAX_TERMS) : out;
}

/** The terms of a document, in order (positions matter for ranking). */
export function indexTerms(text: string): string[] {
  return tokenize(text, false);
}

/** The distinct terms a query needs; a document matches when it has all of them. */
export function queryTerms(query: string): string[] {
  return [...new Set(tokenize(query, true))];
}
