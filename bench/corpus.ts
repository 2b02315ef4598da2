/**
 * What the benchmarks' message generators share (bench/import.ts's mbox, bench/imap/generate.ts's
 * Maildir): deterministic randomness, the words, the charset and transfer encoders, RFC 2047
 * words and addresses. Each generator keeps its own mix of languages and message shapes, so a
 * corpus generated with a given seed stays the same message for message.
 */
import { createCipheriv } from 'node:crypto';
import iconv from 'iconv-lite';

/** Deterministic randomness (mulberry32): the same seed gives the same corpus. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(list: readonly T[]): T {
    return list[this.int(list.length)]!;
  }
  /** `n` pseudo-random bytes (incompressible, like a JPEG or a ZIP): AES-CTR keyed from this generator. */
  bytes(n: number): Buffer {
    const key = Buffer.alloc(16);
    for (let i = 0; i < 16; i += 4) key.writeUInt32LE((this.next() * 4294967296) >>> 0, i);
    const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
    return Buffer.concat([cipher.update(Buffer.alloc(n)), cipher.final()]);
  }
}

export type Charset = 'UTF-8' | 'ISO-8859-1' | 'windows-1252' | 'KOI8-R' | 'Shift_JIS' | 'ISO-2022-JP' | 'GB2312';
export type Cte = 'quoted-printable' | 'base64' | '8bit' | '7bit';

/** Text material of one language, and the transfer encodings that suit its charset. */
export interface Language {
  charset: Charset;
  sentences: string[];
  names: string[];
  subjects: string[];
  encodings: Cte[];
}

// ---------------------------------------------------------------------------------------------
// Text material per language: each generator picks from its own list of these.

export const ENGLISH_UTF8: Language = {
  charset: 'UTF-8',
  sentences: ['Please find the quarterly figures below.', 'Let me know if anything is unclear — thanks!', 'The shipment left the warehouse this morning.', 'Could you confirm the meeting on Thursday at 10:00?'],
  names: ['Alice Walker', 'Bob Stone', 'Carol Diaz', 'Dan Ng'],
  subjects: ['Quarterly report', 'Invoice 2024-117', 'Meeting on Thursday', 'Re: shipment status'],
  encodings: ['quoted-printable', '8bit', 'base64'],
};

export const GERMAN_LATIN1: Language = {
  charset: 'ISO-8859-1',
  sentences: ['Anbei die Rechnung für März.', 'Viele Grüße aus München und schönes Wochenende.', 'Bitte prüfen Sie die Änderungen bis Freitag.', 'Die Lieferung ist unterwegs; Übergabe am Montag.'],
  names: ['Jürgen Müller', 'Björn Weiß', 'Käthe Groß', 'Sören Öztürk'],
  subjects: ['Rechnung für März', 'Grüße aus München', 'Änderungen am Vertrag', 'Lieferung übermorgen'],
  encodings: ['quoted-printable', '8bit'],
};

/** French as Windows mailers send it (typographic quotes, dashes and € in windows-1252). */
export const FRENCH_WINDOWS1252: Language = {
  charset: 'windows-1252',
  sentences: ['Veuillez trouver ci-joint le relevé de décembre – merci.', 'La réunion est déplacée à jeudi prochain… à bientôt.', '“Le devis” coûte 1 250 € hors taxes.', 'Voilà le résumé des échanges de la semaine.'],
  names: ['Hélène Dubois', 'François Lefèvre', 'Zoé Bérénice', 'Maël Pérez'],
  subjects: ['Relevé de décembre', 'Réunion déplacée', 'Devis – 1 250 €', 'Votre commande n° 4471'],
  encodings: ['quoted-printable', '8bit'],
};

export const RUSSIAN_KOI8R: Language = {
  charset: 'KOI8-R',
  sentences: ['Добрый день, высылаю счёт за март.', 'Пожалуйста, проверьте договор до пятницы.', 'Груз отправлен сегодня утром.', 'Спасибо за быстрый ответ, до встречи.'],
  names: ['Иван Петров', 'Ольга Смирнова', 'Сергей Иванов', 'Анна Кузнецова'],
  subjects: ['Счёт за март', 'Проверка договора', 'Груз отправлен', 'Встреча в четверг'],
  encodings: ['quoted-printable', 'base64', '8bit'],
};

export const JAPANESE_SHIFT_JIS: Language = {
  charset: 'Shift_JIS',
  sentences: ['お世話になっております。請求書を添付いたします。', '来週の会議の件でご連絡いたしました。', 'ご確認のほど、よろしくお願いいたします。', '本日、商品を発送いたしました。'],
  names: ['山田太郎', '佐藤花子', '鈴木一郎', '高橋美咲'],
  subjects: ['請求書の送付', '会議のご案内', 'ご確認のお願い', '商品発送のお知らせ'],
  encodings: ['base64', '8bit'],
};

export const JAPANESE_ISO2022JP: Language = {
  charset: 'ISO-2022-JP',
  sentences: ['お世話になっております。見積書をお送りします。', '打ち合わせの日程を調整させてください。', '資料をご確認いただけますでしょうか。', '今後ともよろしくお願い申し上げます。'],
  names: ['田中健', '伊藤愛', '渡辺誠', '中村優子'],
  subjects: ['見積書の送付', '打ち合わせ日程', '資料のご確認', 'ご挨拶'],
  encodings: ['7bit'],
};

export const CHINESE_GB2312: Language = {
  charset: 'GB2312',
  sentences: ['您好，附件是本月的报价单，请查收。', '会议改到下周三上午十点。', '货物已经发出，预计周五到达。', '谢谢您的及时回复。'],
  names: ['王小明', '李华', '张伟', '刘洋'],
  subjects: ['报价单', '会议时间变更', '发货通知', '合同确认'],
  encodings: ['base64', '8bit'],
};

/** Several scripts in one message (CJK, Hangul, Greek, emoji). */
export const MIXED_UTF8: Language = {
  charset: 'UTF-8',
  sentences: ['Grüße, привет, 你好, こんにちは, Γειά σου 👋', '见附件中的报价单，请查收。', '회의 자료를 첨부합니다. 확인 부탁드립니다.', 'Ελπίζω να είστε καλά· το συμβόλαιο επισυνάπτεται.'],
  names: ['王小明', '김민수', 'Νίκος Παππάς', 'Zoë Ünal'],
  subjects: ['报价单 / quotation', '회의 자료', 'Συμβόλαιο', 'Hello 👋 world'],
  encodings: ['base64', 'quoted-printable', '8bit'],
};

export const FRENCH_UTF8: Language = {
  charset: 'UTF-8',
  sentences: ['Veuillez trouver ci-joint le relevé de décembre.', 'Merci de votre réponse rapide, à bientôt.', 'La réunion est déplacée à jeudi prochain.', 'Voilà le résumé des échanges de la semaine.'],
  names: ['Hélène Dubois', 'François Lefèvre', 'Zoé Bérénice', 'Maël Pérez'],
  subjects: ['Relevé de décembre', 'Réunion déplacée', 'Résumé de la semaine', 'Votre commande n° 4471'],
  encodings: ['quoted-printable', 'base64', '8bit'],
};

const SYLLABLES = ['ka', 'lo', 'mi', 'ren', 'sto', 'va', 'qui', 'dor', 'pel', 'tur', 'ex', 'bri', 'zan', 'fo', 'gul', 'hei', 'jor', 'nix', 'pra', 'sel'];
const ENGLISH = 'the invoice for march is attached please review the contract before friday meeting agenda quarterly report shipment delivered customer account balance payment reminder project schedule budget approval'.split(' ');

/** A pseudo-word; with `unique` set it carries the message number, so the index keeps growing. */
export function word(r: Rng, unique: number | null): string {
  if (unique !== null) return `${r.pick(SYLLABLES)}${unique.toString(36)}${r.pick(SYLLABLES)}`;
  if (r.next() < 0.5) return r.pick(ENGLISH);
  let w = '';
  for (let i = 1 + r.int(3); i > 0; i--) w += r.pick(SYLLABLES);
  return w;
}

/**
 * Paragraphs of about `bytes` UTF-8 bytes, wrapped at ~72 columns. `fromLines`: now and then a
 * line that starts with "From " (an mbox must quote it).
 */
export function bodyText(r: Rng, lang: Language, bytes: number, n: number, fromLines = false): string {
  const lines: string[] = [];
  let size = 0;
  let line = '';
  while (size < bytes) {
    const piece = r.next() < 0.35 ? r.pick(lang.sentences) : word(r, r.next() < 0.1 ? n * 7 + r.int(7) : null);
    if (line.length + piece.length > 72) {
      lines.push(line);
      size += Buffer.byteLength(line) + 1;
      line = '';
      if (r.next() < 0.08) lines.push('');
      if (fromLines && r.next() < 0.003) lines.push('From the desk of the director: see below.');
      if (r.next() < 0.02) lines.push('> quoted text from the previous message');
    }
    line = line === '' ? piece : `${line} ${piece}`;
  }
  if (line !== '') lines.push(line);
  return lines.join('\n');
}

/** ISO-2022-JP from Shift_JIS bytes (JIS X 0208 rows are a fixed remapping of Shift_JIS). */
function iso2022jp(text: string): Buffer {
  const sjis = iconv.encode(text, 'shift_jis');
  const out: number[] = [];
  let kanji = false;
  for (let i = 0; i < sjis.length; i++) {
    const b = sjis[i]!;
    if (b < 0x80) {
      if (kanji) out.push(0x1b, 0x28, 0x42); // ESC ( B
      kanji = false;
      out.push(b);
      continue;
    }
    let c1 = b;
    let c2 = sjis[++i]!;
    if (!kanji) out.push(0x1b, 0x24, 0x42); // ESC $ B
    kanji = true;
    if (c1 >= 0xe0) c1 -= 0x40;
    c1 = (c1 - 0x81) * 2 + 0x21;
    if (c2 >= 0x9f) {
      c1 += 1;
      c2 -= 0x7e;
    } else {
      if (c2 >= 0x80) c2 -= 1;
      c2 -= 0x1f;
    }
    out.push(c1, c2);
  }
  if (kanji) out.push(0x1b, 0x28, 0x42);
  return Buffer.from(out);
}

export function encodeCharset(text: string, charset: Charset): Buffer {
  if (charset === 'ISO-2022-JP') return iso2022jp(text);
  if (charset === 'UTF-8') return Buffer.from(text, 'utf8');
  return iconv.encode(text, charset);
}

export function base64Lines(bytes: Buffer): string {
  const b64 = bytes.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 76) lines.push(b64.slice(i, i + 76));
  return lines.join('\n');
}

function quotedPrintable(bytes: Buffer): string {
  const out: string[] = [];
  let line = '';
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b === 0x0a) {
      out.push(line);
      line = '';
      continue;
    }
    const lit = (b >= 0x21 && b <= 0x7e && b !== 0x3d) || (b === 0x20 && bytes[i + 1] !== 0x0a && i + 1 < bytes.length);
    const piece = lit ? String.fromCharCode(b) : `=${b.toString(16).toUpperCase().padStart(2, '0')}`;
    if (line.length + piece.length > 75) {
      out.push(line + '=');
      line = '';
    }
    line += piece;
  }
  out.push(line);
  return out.join('\n');
}

/** Body bytes (as a latin1 string so 8-bit bytes pass through) for a transfer encoding. */
export function transferEncode(bytes: Buffer, cte: Cte): string {
  if (cte === 'base64') return base64Lines(bytes);
  if (cte === 'quoted-printable') return quotedPrintable(bytes);
  return bytes.toString('latin1');
}

/** An RFC 2047 encoded word (B or Q) unless the text is plain ASCII. */
export function encodedWord(r: Rng, text: string, charset: Charset): string {
  // eslint-disable-next-line no-control-regex
  if (/^[\x20-\x7e]*$/.test(text)) return text;
  const bytes = encodeCharset(text, charset);
  if (charset !== 'ISO-2022-JP' && r.next() < 0.4) {
    let q = '';
    for (const b of bytes) q += (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) ? String.fromCharCode(b) : b === 0x20 ? '_' : `=${b.toString(16).toUpperCase().padStart(2, '0')}`;
    return `=?${charset}?Q?${q}?=`;
  }
  return `=?${charset}?B?${bytes.toString('base64')}?=`;
}

/** A display name and address; mostly RFC 2047, some UTF-8 names raw (RFC 6532, and careless mailers). */
export function address(r: Rng, lang: Language, i: number): string {
  const name = r.pick(lang.names);
  const display = lang.charset === 'UTF-8' && r.next() < 0.3 ? `"${Buffer.from(name, 'utf8').toString('latin1')}"` : encodedWord(r, name, lang.charset);
  return `${display} <user${i % 997}@example${i % 13}.test>`;
}

export const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
export const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

export function rfc5322Date(d: Date): string {
  const pad = (x: number): string => String(x).padStart(2, '0');
  return `${WEEKDAYS[d.getUTCDay()]}, ${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
}
