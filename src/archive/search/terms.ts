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
 *
 * `tokenizeGeneral` states these rules directly. `tokenize` gives exactly the same terms faster
 * (test/archive/terms.test.ts compares them): most mail text is ASCII, and an ASCII word between
 * ASCII separators needs no Unicode work, only lower-casing. Every other token (the characters
 * between two ASCII separators) is handed to the general path alone, and its terms are cached.
 * That is exact because no Unicode normalisation crosses the boundary before an ASCII character
 * (it never decomposes, has combining class 0 and is never the second character of a
 * composition), nor the one after an ASCII separator unless a combining mark follows it (see
 * pushToken), and neither a word nor a CJK run can span an ASCII separator.
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

/** The terms of one non-CJK word (a run of letters, digits and marks). */
function wordTerms(word: string): string[] {
  const out: string[] = [];
  if (NO_SPACE_SCRIPTS.test(word)) {
    segmenter ??= new Intl.Segmenter('th', { granularity: 'word' });
    for (const seg of segmenter.segment(word)) {
      if (seg.isWordLike) out.push(normalise(seg.segment).slice(0, MAX_TERM));
    }
    return out;
  }
  const term = normalise(word);
  // NFKD can turn a single compatibility character into something with punctuation; re-split.
  for (const part of term.match(WORD) ?? []) out.push(part.slice(0, MAX_TERM));
  return out;
}

/**
 * wordTerms is a pure function of the word and words repeat (Zipf), so its results are kept:
 * the Unicode normalisations and regular expressions run once per distinct word, not per
 * occurrence. The cache is emptied when full, which bounds its memory (about 1-2 MB).
 */
const WORD_CACHE_LIMIT = 20_000;
const wordCache = new Map<string, string[]>();

function pushWord(out: string[], word: string): void {
  let terms = wordCache.get(word);
  if (terms === undefined) {
    terms = wordTerms(word);
    if (wordCache.size >= WORD_CACHE_LIMIT) wordCache.clear();
    wordCache.set(word, terms);
  }
  for (let i = 0; i < terms.length; i++) out.push(terms[i]!);
}

function cjkGrams(run: string, out: string[], withUnigrams: boolean): void {
  const chars = [...run.normalize('NFKC')];
  if (chars.length === 1 || withUnigrams) out.push(...chars);
  for (let i = 0; i + 1 < chars.length; i++) out.push(chars[i]! + chars[i + 1]!);
}

/** The general path, appending to `out`; stops once `out` holds MAX_TERMS terms or more. */
function tokenizeInto(out: string[], text: string, forQuery: boolean): void {
  const pieces = text.normalize('NFKC').split(SPLIT_CJK);
  for (let i = 0; i < pieces.length; i++) {
    if (out.length >= MAX_TERMS) break;
    const piece = pieces[i]!;
    if (i % 2 === 1) {
      cjkGrams(piece, out, !forQuery);
      continue;
    }
    for (const word of piece.match(WORD) ?? []) pushWord(out, word);
  }
}

/**
 * The rules applied to the whole text at once: the reference the fast path must agree with.
 * Exported for the tests.
 */
export function tokenizeGeneral(text: string, forQuery: boolean): string[] {
  const out: string[] = [];
  tokenizeInto(out, text, forQuery);
  return out.length > MAX_TERMS ? out.slice(0, MAX_TERMS) : out;
}

/** 1 for the ASCII letters and digits (the only ASCII characters in \p{L}\p{N}\p{M}). */
const ASCII_ALNUM = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  if ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)) ASCII_ALNUM[c] = 1;
}

/**
 * A combining mark right after an ASCII separator may compose with it (e.g. "<" + U+0338 is
 * "≮"), so such a token's terms depend on the character before it. Every other token's terms
 * depend on the token alone: Unicode's compositions with an ASCII first character all have a
 * combining mark second.
 */
const STARTS_WITH_MARK = /^\p{M}/u;

/** Tokens up to this length have their terms cached (index terms only). */
const TOKEN_CACHE_MAX_LENGTH = 48;
const TOKEN_CACHE_LIMIT = 20_000;
const tokenCache = new Map<string, string[]>();

/** The general path for one non-ASCII token, `text[start, end)`, bounded by ASCII separators. */
function pushToken(out: string[], text: string, start: number, end: number, forQuery: boolean): void {
  const first = text.charCodeAt(start);
  // A token that may compose with the separator before it goes with that separator.
  const context = start > 0 && first >= 0x300 && STARTS_WITH_MARK.test(text.slice(start, start + 2));
  if (forQuery || context || end - start > TOKEN_CACHE_MAX_LENGTH) {
    tokenizeInto(out, text.slice(context ? start - 1 : start, end), forQuery);
    return;
  }
  const token = text.slice(start, end);
  let terms = tokenCache.get(token);
  if (terms === undefined) {
    terms = [];
    tokenizeInto(terms, token, false);
    if (tokenCache.size >= TOKEN_CACHE_LIMIT) tokenCache.clear();
    tokenCache.set(token, terms);
  }
  for (let k = 0; k < terms.length; k++) out.push(terms[k]!);
}

function tokenize(text: string, forQuery: boolean): string[] {
  const out: string[] = [];
  const n = text.length;
  let i = 0;
  while (i < n && out.length < MAX_TERMS) {
    let c = text.charCodeAt(i);
    if (c < 128 && ASCII_ALNUM[c] === 0) {
      i++;
      continue;
    }
    // A token: the characters up to the next ASCII separator.
    const start = i;
    let ascii = true;
    let upper = false;
    for (; i < n; i++) {
      c = text.charCodeAt(i);
      if (c >= 128) ascii = false;
      else if (ASCII_ALNUM[c] === 0) break;
      else if (c <= 0x5a && c >= 0x41) upper = true;
    }
    if (!ascii) {
      pushToken(out, text, start, i, forQuery);
      continue;
    }
    const end = i - start > MAX_TERM ? start + MAX_TERM : i;
    const word = text.slice(start, end);
    out.push(upper ? word.toLowerCase() : word);
  }
  return out.length > MAX_TERMS ? out.slice(0, MAX_TERMS) : out;
}

/** The terms of a document, in order (positions matter for ranking). */
export function indexTerms(text: string): string[] {
  return tokenize(text, false);
}

/**
 * indexTerms joined by line feeds: one string is far cheaper to hand between threads than an
 * array of thousands. No term contains a line feed: terms are letters, digits and marks, CJK
 * characters, or Thai-script segments of those, and Unicode normalisation and case mapping
 * never produce a control character.
 */
export function indexTermLines(text: string): string {
  return tokenize(text, false).join('\n');
}

/** The distinct terms a query needs; a document matches when it has all of them. */
export function queryTerms(query: string): string[] {
  return [...new Set(tokenize(query, true))];
}
