/**
 * Deterministic, streaming generator of a Maildir folder for the IMAP benchmark (bench/imap.ts).
 *
 * Messages are varied and realistic: UTF-8, ISO-8859-1, windows-1252, KOI8-R, Shift_JIS,
 * ISO-2022-JP, GB2312 and mixed-script UTF-8; text/plain, multipart/alternative with HTML and
 * multipart/mixed with attachments (PDF/JPEG/ZIP-like binary, CSV); quoted-printable, base64, 8bit
 * and 7bit bodies; RFC 2047 headers. Exactly one message in 50 (2 %) carries a 2-6 MB attachment;
 * together they make the average about 95 KB. Every message is written straight into `cur/` as
 * its own file (LF line endings, as Dovecot stores them) with a Maildir name carrying S= and W=
 * (physical and CRLF size), the Date header as mtime (Dovecot's INTERNALDATE) and the mail
 * uid/gid as owner, so Dovecot only has to index the directory.
 *
 * Nothing but the message being written is held in memory.
 */
import { createCipheriv } from 'node:crypto';
import { chown, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import iconv from 'iconv-lite';

export interface GenerateOptions {
  count: number;
  seed: number;
  /** Owner of the written files (Dovecot's mail_uid/mail_gid); null leaves them as created. */
  owner: { uid: number; gid: number } | null;
  /** Only the mix's small messages, or only messages with a multi-MB attachment; null: the mix. */
  only?: 'small' | 'large' | null;
}

export interface GenerateResult {
  messages: number;
  /** Bytes on disk (LF line endings). */
  bytes: number;
  /** Bytes as IMAP sends them (CRLF line endings): the sum of RFC822.SIZE. */
  imapBytes: number;
  large: number;
  largeBytes: number;
  seconds: number;
}

/** Every LARGE_EVERY-th message gets a multi-MB attachment (exactly 2 %). */
const LARGE_EVERY = 50;
const WRITES_IN_FLIGHT = 8;

// ---------------------------------------------------------------------------------------------
// Deterministic randomness (mulberry32).

class Rng {
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

// ---------------------------------------------------------------------------------------------
// Text material per language.

type Charset = 'UTF-8' | 'ISO-8859-1' | 'windows-1252' | 'KOI8-R' | 'Shift_JIS' | 'ISO-2022-JP' | 'GB2312';
type Cte = 'quoted-printable' | 'base64' | '8bit' | '7bit';

interface Language {
  charset: Charset;
  sentences: string[];
  names: string[];
  subjects: string[];
  encodings: Cte[];
}

const SYLLABLES = ['ka', 'lo', 'mi', 'ren', 'sto', 'va', 'qui', 'dor', 'pel', 'tur', 'ex', 'bri', 'zan', 'fo', 'gul', 'hei', 'jor', 'nix', 'pra', 'sel'];
const ENGLISH = 'the invoice for march is attached please review the contract before friday meeting agenda quarterly report shipment delivered customer account balance payment reminder project schedule budget approval'.split(' ');

const LANGUAGES: Language[] = [
  {
    charset: 'UTF-8',
    sentences: ['Please find the quarterly figures below.', 'Let me know if anything is unclear — thanks!', 'The shipment left the warehouse this morning.', 'Could you confirm the meeting on Thursday at 10:00?'],
    names: ['Alice Walker', 'Bob Stone', 'Carol Diaz', 'Dan Ng'],
    subjects: ['Quarterly report', 'Invoice 2024-117', 'Meeting on Thursday', 'Re: shipment status'],
    encodings: ['quoted-printable', '8bit', 'base64'],
  },
  {
    charset: 'ISO-8859-1',
    sentences: ['Anbei die Rechnung für März.', 'Viele Grüße aus München und schönes Wochenende.', 'Bitte prüfen Sie die Änderungen bis Freitag.', 'Die Lieferung ist unterwegs; Übergabe am Montag.'],
    names: ['Jürgen Müller', 'Björn Weiß', 'Käthe Groß', 'Sören Öztürk'],
    subjects: ['Rechnung für März', 'Grüße aus München', 'Änderungen am Vertrag', 'Lieferung übermorgen'],
    encodings: ['quoted-printable', '8bit'],
  },
  {
    charset: 'windows-1252',
    sentences: ['Veuillez trouver ci-joint le relevé de décembre – merci.', 'La réunion est déplacée à jeudi prochain… à bientôt.', '“Le devis” coûte 1 250 € hors taxes.', 'Voilà le résumé des échanges de la semaine.'],
    names: ['Hélène Dubois', 'François Lefèvre', 'Zoé Bérénice', 'Maël Pérez'],
    subjects: ['Relevé de décembre', 'Réunion déplacée', 'Devis – 1 250 €', 'Votre commande n° 4471'],
    encodings: ['quoted-printable', '8bit'],
  },
  {
    charset: 'KOI8-R',
    sentences: ['Добрый день, высылаю счёт за март.', 'Пожалуйста, проверьте договор до пятницы.', 'Груз отправлен сегодня утром.', 'Спасибо за быстрый ответ, до встречи.'],
    names: ['Иван Петров', 'Ольга Смирнова', 'Сергей Иванов', 'Анна Кузнецова'],
    subjects: ['Счёт за март', 'Проверка договора', 'Груз отправлен', 'Встреча в четверг'],
    encodings: ['quoted-printable', 'base64', '8bit'],
  },
  {
    charset: 'Shift_JIS',
    sentences: ['お世話になっております。請求書を添付いたします。', '来週の会議の件でご連絡いたしました。', 'ご確認のほど、よろしくお願いいたします。', '本日、商品を発送いたしました。'],
    names: ['山田太郎', '佐藤花子', '鈴木一郎', '高橋美咲'],
    subjects: ['請求書の送付', '会議のご案内', 'ご確認のお願い', '商品発送のお知らせ'],
    encodings: ['base64', '8bit'],
  },
  {
    charset: 'ISO-2022-JP',
    sentences: ['お世話になっております。見積書をお送りします。', '打ち合わせの日程を調整させてください。', '資料をご確認いただけますでしょうか。', '今後ともよろしくお願い申し上げます。'],
    names: ['田中健', '伊藤愛', '渡辺誠', '中村優子'],
    subjects: ['見積書の送付', '打ち合わせ日程', '資料のご確認', 'ご挨拶'],
    encodings: ['7bit'],
  },
  {
    charset: 'GB2312',
    sentences: ['您好，附件是本月的报价单，请查收。', '会议改到下周三上午十点。', '货物已经发出，预计周五到达。', '谢谢您的及时回复。'],
    names: ['王小明', '李华', '张伟', '刘洋'],
    subjects: ['报价单', '会议时间变更', '发货通知', '合同确认'],
    encodings: ['base64', '8bit'],
  },
  {
    charset: 'UTF-8',
    sentences: ['Grüße, привет, 你好, こんにちは, Γειά σου 👋', '见附件中的报价单，请查收。', '회의 자료를 첨부합니다. 확인 부탁드립니다.', 'Ελπίζω να είστε καλά· το συμβόλαιο επισυνάπτεται.'],
    names: ['王小明', '김민수', 'Νίκος Παππάς', 'Zoë Ünal'],
    subjects: ['报价单 / quotation', '회의 자료', 'Συμβόλαιο', 'Hello 👋 world'],
    encodings: ['base64', 'quoted-printable', '8bit'],
  },
];

// ---------------------------------------------------------------------------------------------
// Encoders.

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

function encodeCharset(text: string, charset: Charset): Buffer {
  if (charset === 'ISO-2022-JP') return iso2022jp(text);
  if (charset === 'UTF-8') return Buffer.from(text, 'utf8');
  return iconv.encode(text, charset);
}

function base64Lines(bytes: Buffer): string {
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
function transferEncode(bytes: Buffer, cte: Cte): string {
  if (cte === 'base64') return base64Lines(bytes);
  if (cte === 'quoted-printable') return quotedPrintable(bytes);
  return bytes.toString('latin1');
}

const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function rfc5322Date(d: Date): string {
  const pad = (x: number): string => String(x).padStart(2, '0');
  return `${WEEKDAYS[d.getUTCDay()]}, ${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
}

// ---------------------------------------------------------------------------------------------
// Messages.

class MessageFactory {
  constructor(
    private readonly rng: Rng,
    private readonly only: GenerateOptions['only'] = null,
  ) {}

  /** A pseudo-word; with `unique` set it carries the message number, so the index keeps growing. */
  private word(unique: number | null): string {
    const r = this.rng;
    if (unique !== null) return `${r.pick(SYLLABLES)}${unique.toString(36)}${r.pick(SYLLABLES)}`;
    if (r.next() < 0.5) return r.pick(ENGLISH);
    let w = '';
    for (let i = 1 + r.int(3); i > 0; i--) w += r.pick(SYLLABLES);
    return w;
  }

  /** Paragraphs of about `bytes` bytes, wrapped at ~72 columns. */
  private bodyText(lang: Language, bytes: number, n: number): string {
    const r = this.rng;
    const lines: string[] = [];
    let size = 0;
    let line = '';
    while (size < bytes) {
      const piece = r.next() < 0.35 ? r.pick(lang.sentences) : this.word(r.next() < 0.1 ? n * 7 + r.int(7) : null);
      if (line.length + piece.length > 72) {
        lines.push(line);
        size += Buffer.byteLength(line) + 1;
        line = '';
        if (r.next() < 0.08) lines.push('');
        if (r.next() < 0.02) lines.push('> quoted text from the previous message');
      }
      line = line === '' ? piece : `${line} ${piece}`;
    }
    if (line !== '') lines.push(line);
    return lines.join('\n');
  }

  /** An RFC 2047 encoded word (B or Q) unless the text is plain ASCII. */
  private encodedWord(text: string, charset: Charset): string {
    // eslint-disable-next-line no-control-regex
    if (/^[\x20-\x7e]*$/.test(text)) return text;
    const bytes = encodeCharset(text, charset);
    if (charset !== 'ISO-2022-JP' && this.rng.next() < 0.4) {
      let q = '';
      for (const b of bytes) q += (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) ? String.fromCharCode(b) : b === 0x20 ? '_' : `=${b.toString(16).toUpperCase().padStart(2, '0')}`;
      return `=?${charset}?Q?${q}?=`;
    }
    return `=?${charset}?B?${bytes.toString('base64')}?=`;
  }

  private address(lang: Language, i: number): string {
    const name = this.rng.pick(lang.names);
    const display = lang.charset === 'UTF-8' && this.rng.next() < 0.3 ? `"${Buffer.from(name, 'utf8').toString('latin1')}"` : this.encodedWord(name, lang.charset);
    return `${display} <user${i % 997}@example${i % 13}.test>`;
  }

  private html(text: string): string {
    const paragraphs = text.split('\n\n').map((p) => `<p>${p.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/\n/g, '<br>\n')}</p>`);
    return `<html><head><style>p{font-family:sans-serif;margin:0 0 1em}</style></head><body>\n<div class="mail">\n${paragraphs.join('\n')}\n</div>\n</body></html>`;
  }

  private attachment(n: number, k: number, bytes: number, boundary: string): string[] {
    const r = this.rng;
    const csv = bytes < 200 * 1024 && r.next() < 0.25;
    const content = csv
      ? Buffer.from(Array.from({ length: Math.ceil(bytes / 40) }, (_, row) => `${row};${this.word(null)};${(r.next() * 1000).toFixed(2)}`).join('\n'), 'utf8')
      : r.bytes(bytes);
    const filename = csv ? `report-${n}-${k}.csv` : r.pick([`Rechnung_${n}.pdf`, `scan ${n}-${k}.pdf`, `photo_${n}_${k}.jpg`, `見積書_${n}.pdf`, `archive-${n}.zip`]);
    // eslint-disable-next-line no-control-regex
    const encodedName = /^[\x20-\x7e]*$/.test(filename) ? `"${filename}"` : `"${this.encodedWord(filename, 'UTF-8')}"`;
    const type = csv ? 'text/csv; charset=utf-8' : filename.endsWith('.jpg') ? 'image/jpeg' : filename.endsWith('.zip') ? 'application/zip' : 'application/pdf';
    return [
      `--${boundary}`,
      `Content-Type: ${type}; name=${encodedName}`,
      `Content-Disposition: attachment; filename=${encodedName}`,
      'Content-Transfer-Encoding: base64',
      '',
      base64Lines(content),
    ];
  }

  /** One message as a latin1 string (bytes one to one), and its date. */
  message(n: number): { text: string; date: Date } {
    const r = this.rng;
    const lang = r.pick(LANGUAGES);
    const date = new Date(Date.UTC(2016, 0, 1) + r.int(8 * 365 * 86400) * 1000);
    const large = this.only === null ? n % LARGE_EVERY === LARGE_EVERY / 2 : this.only === 'large';
    // Attachment sizes are of the decoded content; base64 adds a third.
    const attachments: number[] = large
      ? [Math.round((2 + r.next() * 4) * 1024 * 1024 * 0.74)]
      : r.next() < 0.22
        ? Array.from({ length: 1 + (r.next() < 0.25 ? 1 : 0) }, () => 2048 + r.int(20 * 1024))
        : [];
    const alternative = r.next() < 0.6;
    const textBytes = 800 + r.int(r.next() < 0.15 ? 24 * 1024 : 7 * 1024);
    const text = this.bodyText(lang, alternative ? textBytes / 2.2 : textBytes, n);
    const cte = r.pick(lang.encodings);
    const headers = [
      `Return-Path: <bounce${n}@example.test>`,
      `Received: from mx${n % 7}.example.test (mx${n % 7}.example.test [192.0.2.${n % 250}])\n\tby imap.example.test with ESMTPS id ${n.toString(36)}\n\tfor <alice@example.test>; ${rfc5322Date(date)}`,
      `Message-ID: <${n}.${date.getTime().toString(36)}@bench.example.test>`,
      `Date: ${rfc5322Date(date)}`,
      `From: ${this.address(lang, n)}`,
      `To: ${Array.from({ length: 1 + r.int(3) }, (_, k) => this.address(lang, n + k + 1)).join(',\n ')}`,
      ...(r.next() < 0.3 ? [`Cc: ${this.address(lang, n + 5)}`] : []),
      `Subject: ${r.next() < 0.3 ? 'Re: ' : ''}${this.encodedWord(`${r.pick(lang.subjects)} ${this.word(n)}`, lang.charset)}`,
      ...(r.next() < 0.3 ? [`In-Reply-To: <${n - 1}.prev@bench.example.test>`, `References: <${n - 2}.prev@bench.example.test> <${n - 1}.prev@bench.example.test>`] : []),
      'MIME-Version: 1.0',
    ];
    const charsetParam = lang.charset === 'ISO-2022-JP' ? 'ISO-2022-JP' : `"${lang.charset}"`;
    const textPart = (subtype: 'plain' | 'html', body: string): string[] => [
      `Content-Type: text/${subtype}; charset=${charsetParam}`,
      `Content-Transfer-Encoding: ${cte}`,
      '',
      transferEncode(encodeCharset(body, lang.charset), cte),
    ];
    const altBoundary = `=_alt_${n.toString(36)}`;
    const alt = (): string[] => [
      `Content-Type: multipart/alternative; boundary="${altBoundary}"`,
      '',
      `--${altBoundary}`,
      ...textPart('plain', text),
      `--${altBoundary}`,
      ...textPart('html', this.html(text)),
      `--${altBoundary}--`,
    ];
    let body: string[];
    if (attachments.length === 0) {
      body = alternative ? alt() : textPart('plain', text);
    } else {
      const mixed = `=_mixed_${n.toString(36)}`;
      body = [
        `Content-Type: multipart/mixed; boundary="${mixed}"`,
        '',
        'This is a multi-part message in MIME format.',
        `--${mixed}`,
        ...(alternative ? alt() : textPart('plain', text)),
        ...attachments.flatMap((bytes, k) => this.attachment(n, k, bytes, mixed)),
        `--${mixed}--`,
      ];
    }
    return { text: [...headers, ...body, ''].join('\n'), date };
  }
}

function countNewlines(buf: Buffer): number {
  let n = 0;
  for (let i = buf.indexOf(0x0a); i !== -1; i = buf.indexOf(0x0a, i + 1)) n++;
  return n;
}

/** Writes `count` messages into `<maildir>/cur/` (which must exist). */
export async function generateMaildir(maildir: string, opts: GenerateOptions): Promise<GenerateResult> {
  const started = performance.now();
  const factory = new MessageFactory(new Rng(opts.seed), opts.only ?? null);
  const cur = path.join(maildir, 'cur');
  const result: GenerateResult = { messages: 0, bytes: 0, imapBytes: 0, large: 0, largeBytes: 0, seconds: 0 };
  const base = 1_700_000_000;
  // A few files are written while the next message is generated (the file system is the slow part).
  const inFlight = new Set<Promise<void>>();
  for (let n = 1; n <= opts.count; n++) {
    const { text, date } = factory.message(n);
    const raw = Buffer.from(text, 'latin1');
    if (raw.includes(0x0d)) throw new Error(`message ${n} contains a CR; sizes would be wrong`);
    const size = raw.length;
    const vsize = size + countNewlines(raw);
    const flags = n % 3 === 0 ? '' : n % 17 === 0 ? 'FS' : 'S';
    // Maildir name: <unique>,S=<size>,W=<CRLF size>:2,<flags> (Dovecot reads both sizes from it).
    const file = path.join(cur, `${base + n}.M${n}P1V801I${n.toString(16)}.bench,S=${size},W=${vsize}:2,${flags}`);
    const write = (async () => {
      await writeFile(file, raw, { mode: 0o600 });
      if (opts.owner) await chown(file, opts.owner.uid, opts.owner.gid);
      await utimes(file, date, date);
    })();
    inFlight.add(write);
    void write.finally(() => inFlight.delete(write)).catch(() => undefined);
    if (inFlight.size >= WRITES_IN_FLIGHT) await Promise.race(inFlight);
    result.messages++;
    result.bytes += size;
    result.imapBytes += vsize;
    if (size > 1024 * 1024) {
      result.large++;
      result.largeBytes += vsize;
    }
  }
  await Promise.all(inFlight);
  result.seconds = (performance.now() - started) / 1000;
  return result;
}
