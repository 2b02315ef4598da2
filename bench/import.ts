/**
 * Import benchmark: `npm run bench:import -- --count 20000 [--size 20] [--concurrency 1]
 * [--batch 50] [--dir /tmp] [--keep] [--seed 1] [--mbox FILE]`.
 *
 * Generates an mbox of varied, realistic messages (UTF-8, ISO-8859-1, Shift_JIS, ISO-2022-JP and
 * KOI8-R; plain text and multipart/alternative with HTML; about 20 % with small attachments;
 * quoted-printable, base64, 8bit and 7bit bodies; RFC 2047 headers; words unique to each message)
 * streaming it to a temporary directory, then imports it into a fresh SQLite data directory
 * through the same reader and importer as `mailroom import`, and prints what it measured.
 * `--mbox FILE` imports an existing mbox instead (e.g. one kept with --keep) and skips generation.
 *
 * The importer runs under bin/mailroom's memory settings (MALLOC_ARENA_MAX=2,
 * --max-semi-space-size=2, --heap-growing-percent=100): the benchmark re-runs itself with them
 * unless they are given already; `--node-defaults` measures with Node's defaults instead.
 */
import { runSelfForJson } from './child-json.ts';
import { runTuned, TUNED_RUNTIME } from './tuned.ts';
import { createWriteStream } from 'node:fs';
import { mkdtemp, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import iconv from 'iconv-lite';

const { values: args } = parseArgs({
  options: {
    count: { type: 'string', default: '20000' },
    size: { type: 'string', default: '20' },
    concurrency: { type: 'string', default: '1' },
    batch: { type: 'string', default: '50' },
    dir: { type: 'string', default: tmpdir() },
    seed: { type: 'string', default: '1' },
    keep: { type: 'boolean', default: false },
    mbox: { type: 'string' },
    'generate-into': { type: 'string' },
    'scan-only': { type: 'string' },
    'node-defaults': { type: 'boolean', default: false },
  },
  allowPositionals: false,
});

const tuned = !args['node-defaults'];
const helper = args['generate-into'] !== undefined || args['scan-only'] !== undefined;
if (tuned && !helper) runTuned(import.meta.url);

const COUNT = Number(args.count);
const SIZE_KB = Number(args.size);
const CONCURRENCY = Number(args.concurrency);
const BATCH = Number(args.batch);
if (!(COUNT > 0) || !(SIZE_KB > 0) || !(CONCURRENCY >= 1) || !(BATCH >= 1)) {
  process.stderr.write('usage: npm run bench:import -- --count N [--size KB] [--concurrency N] [--batch N] [--dir DIR] [--keep]\n');
  process.exit(2);
}

const out = (line = ''): boolean => process.stdout.write(line + '\n');

// ---------------------------------------------------------------------------------------------
// Deterministic randomness (mulberry32), so runs with the same seed generate the same mbox.

let seed = Number(args.seed) >>> 0;
function random(): number {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const int = (n: number): number => Math.floor(random() * n);
const pick = <T>(list: readonly T[]): T => list[int(list.length)]!;

// ---------------------------------------------------------------------------------------------
// Text material per language.

const SYLLABLES = ['ka', 'lo', 'mi', 'ren', 'sto', 'va', 'qui', 'dor', 'pel', 'tur', 'ex', 'bri', 'zan', 'fo', 'gul', 'hei', 'jor', 'nix', 'pra', 'sel'];
const ENGLISH = 'the invoice for march is attached please review the contract before friday meeting agenda quarterly report shipment delivered customer account balance payment reminder project schedule budget approval'.split(' ');

interface Language {
  name: string;
  charset: 'UTF-8' | 'ISO-8859-1' | 'Shift_JIS' | 'ISO-2022-JP' | 'KOI8-R';
  sentences: string[];
  names: string[];
  subjects: string[];
  /** Transfer encodings that suit the charset. */
  encodings: Array<'quoted-printable' | 'base64' | '8bit' | '7bit'>;
}

const LANGUAGES: Language[] = [
  {
    name: 'en',
    charset: 'UTF-8',
    sentences: ['Please find the quarterly figures below.', 'Let me know if anything is unclear — thanks!', 'The shipment left the warehouse this morning.', 'Could you confirm the meeting on Thursday at 10:00?'],
    names: ['Alice Walker', 'Bob Stone', 'Carol Diaz', 'Dan Ng'],
    subjects: ['Quarterly report', 'Invoice 2024-117', 'Meeting on Thursday', 'Re: shipment status'],
    encodings: ['quoted-printable', '8bit', 'base64'],
  },
  {
    name: 'de',
    charset: 'ISO-8859-1',
    sentences: ['Anbei die Rechnung für März.', 'Viele Grüße aus München und schönes Wochenende.', 'Bitte prüfen Sie die Änderungen bis Freitag.', 'Die Lieferung ist unterwegs; Übergabe am Montag.'],
    names: ['Jürgen Müller', 'Björn Weiß', 'Käthe Groß', 'Sören Öztürk'],
    subjects: ['Rechnung für März', 'Grüße aus München', 'Änderungen am Vertrag', 'Lieferung übermorgen'],
    encodings: ['quoted-printable', '8bit'],
  },
  {
    name: 'fr',
    charset: 'UTF-8',
    sentences: ['Veuillez trouver ci-joint le relevé de décembre.', 'Merci de votre réponse rapide, à bientôt.', 'La réunion est déplacée à jeudi prochain.', 'Voilà le résumé des échanges de la semaine.'],
    names: ['Hélène Dubois', 'François Lefèvre', 'Zoé Bérénice', 'Maël Pérez'],
    subjects: ['Relevé de décembre', 'Réunion déplacée', 'Résumé de la semaine', 'Votre commande n° 4471'],
    encodings: ['quoted-printable', 'base64', '8bit'],
  },
  {
    name: 'ru',
    charset: 'KOI8-R',
    sentences: ['Добрый день, высылаю счёт за март.', 'Пожалуйста, проверьте договор до пятницы.', 'Груз отправлен сегодня утром.', 'Спасибо за быстрый ответ, до встречи.'],
    names: ['Иван Петров', 'Ольга Смирнова', 'Сергей Иванов', 'Анна Кузнецова'],
    subjects: ['Счёт за март', 'Проверка договора', 'Груз отправлен', 'Встреча в четверг'],
    encodings: ['quoted-printable', 'base64', '8bit'],
  },
  {
    name: 'ja-sjis',
    charset: 'Shift_JIS',
    sentences: ['お世話になっております。請求書を添付いたします。', '来週の会議の件でご連絡いたしました。', 'ご確認のほど、よろしくお願いいたします。', '本日、商品を発送いたしました。'],
    names: ['山田太郎', '佐藤花子', '鈴木一郎', '高橋美咲'],
    subjects: ['請求書の送付', '会議のご案内', 'ご確認のお願い', '商品発送のお知らせ'],
    encodings: ['base64', '8bit'],
  },
  {
    name: 'ja-jis',
    charset: 'ISO-2022-JP',
    sentences: ['お世話になっております。見積書をお送りします。', '打ち合わせの日程を調整させてください。', '資料をご確認いただけますでしょうか。', '今後ともよろしくお願い申し上げます。'],
    names: ['田中健', '伊藤愛', '渡辺誠', '中村優子'],
    subjects: ['見積書の送付', '打ち合わせ日程', '資料のご確認', 'ご挨拶'],
    encodings: ['7bit'],
  },
  {
    name: 'mixed',
    charset: 'UTF-8',
    sentences: ['Grüße, привет, 你好, こんにちは, Γειά σου 👋', '见附件中的报价单，请查收。', '회의 자료를 첨부합니다. 확인 부탁드립니다.', 'Ελπίζω να είστε καλά· το συμβόλαιο επισυνάπτεται.'],
    names: ['王小明', '김민수', 'Νίκος Παππάς', 'Zoë Ünal'],
    subjects: ['报价单 / quotation', '회의 자료', 'Συμβόλαιο', 'Hello 👋 world'],
    encodings: ['base64', 'quoted-printable', '8bit'],
  },
];

/** A pseudo-word; with `unique` set it carries the message number, so the index keeps growing. */
function word(unique: number | null): string {
  if (unique !== null) return `${pick(SYLLABLES)}${unique.toString(36)}${pick(SYLLABLES)}`;
  if (random() < 0.5) return pick(ENGLISH);
  let w = '';
  for (let i = 1 + int(3); i > 0; i--) w += pick(SYLLABLES);
  return w;
}

/** Paragraphs of about `bytes` UTF-8 bytes, wrapped at ~72 columns. */
function bodyText(lang: Language, bytes: number, n: number): string {
  const lines: string[] = [];
  let size = 0;
  let line = '';
  while (size < bytes) {
    const piece = random() < 0.35 ? pick(lang.sentences) : `${word(random() < 0.1 ? n * 7 + int(7) : null)}`;
    if (line.length + piece.length > 72) {
      lines.push(line);
      size += Buffer.byteLength(line) + 1;
      line = '';
      if (random() < 0.08) lines.push('');
      if (random() < 0.003) lines.push('From the desk of the director: see below.');
      if (random() < 0.02) lines.push('> quoted text from the previous message');
    }
    line = line === '' ? piece : `${line} ${piece}`;
  }
  if (line !== '') lines.push(line);
  return lines.join('\n');
}

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

function encodeCharset(text: string, charset: Language['charset']): Buffer {
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
function transferEncode(bytes: Buffer, cte: Language['encodings'][number]): string {
  if (cte === 'base64') return base64Lines(bytes);
  if (cte === 'quoted-printable') return quotedPrintable(bytes);
  return bytes.toString('latin1');
}

/** An RFC 2047 encoded word (B or Q) unless the text is plain ASCII. */
function encodedWord(text: string, charset: Language['charset']): string {
  // eslint-disable-next-line no-control-regex
  if (/^[\x20-\x7e]*$/.test(text)) return text;
  const bytes = encodeCharset(text, charset);
  if (charset !== 'ISO-2022-JP' && random() < 0.4) {
    let q = '';
    for (const b of bytes) q += (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) ? String.fromCharCode(b) : b === 0x20 ? '_' : `=${b.toString(16).toUpperCase().padStart(2, '0')}`;
    return `=?${charset}?Q?${q}?=`;
  }
  return `=?${charset}?B?${bytes.toString('base64')}?=`;
}

function html(text: string): string {
  const paragraphs = text.split('\n\n').map((p) => `<p>${p.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/\n/g, '<br>\n')}</p>`);
  return `<html><head><style>p{font-family:sans-serif}</style></head><body>\n${paragraphs.join('\n')}\n</body></html>`;
}

// ---------------------------------------------------------------------------------------------
// Messages.

const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function rfc5322Date(d: Date): string {
  const pad = (x: number): string => String(x).padStart(2, '0');
  return `${WEEKDAYS[d.getUTCDay()]}, ${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
}

function mboxDate(d: Date): string {
  const pad = (x: number): string => String(x).padStart(2, '0');
  return `${WEEKDAYS[d.getUTCDay()]} ${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} ${d.getUTCFullYear()}`;
}

function address(lang: Language, i: number): string {
  const name = pick(lang.names);
  const local = `user${i % 997}`;
  // Mostly RFC 2047; some UTF-8 names raw, as RFC 6532 mailers (and careless ones) send them.
  const display = lang.charset === 'UTF-8' && random() < 0.3 ? `"${Buffer.from(name, 'utf8').toString('latin1')}"` : encodedWord(name, lang.charset);
  return `${display} <${local}@example${i % 13}.test>`;
}

/** One message as a latin1 string (bytes one to one) and its envelope sender and date. */
function message(n: number, targetBytes: number): { text: string; date: Date } {
  const lang = pick(LANGUAGES);
  const date = new Date(Date.UTC(2015, 0, 1) + int(9 * 365 * 86400) * 1000);
  const withAttachment = random() < 0.2;
  const alternative = random() < 0.6;
  const attachmentBytes = withAttachment ? 2048 + int(18 * 1024) : 0;
  const textBudget = Math.max(600, targetBytes - 900 - attachmentBytes * 1.37);
  const text = bodyText(lang, alternative ? textBudget / 2.4 : textBudget, n);
  const cte = pick(lang.encodings);
  const headers = [
    `Return-Path: <bounce${n}@example.test>`,
    `Received: from mx${n % 7}.example.test (mx${n % 7}.example.test [192.0.2.${n % 250}]) by archive.example.test with ESMTPS id ${n.toString(36)}; ${rfc5322Date(date)}`,
    `Message-ID: <${n}.${date.getTime().toString(36)}@bench.example.test>`,
    `Date: ${rfc5322Date(date)}`,
    `From: ${address(lang, n)}`,
    `To: ${Array.from({ length: 1 + int(3) }, (_, k) => address(lang, n + k + 1)).join(',\n ')}`,
    ...(random() < 0.3 ? [`Cc: ${address(lang, n + 5)}`] : []),
    `Subject: ${random() < 0.3 ? 'Re: ' : ''}${encodedWord(`${pick(lang.subjects)} ${word(n)}`, lang.charset)}`,
    'MIME-Version: 1.0',
  ];
  const textPart = (subtype: 'plain' | 'html', body: string): string[] => [
    `Content-Type: text/${subtype}; charset=${lang.charset === 'ISO-2022-JP' ? 'ISO-2022-JP' : `"${lang.charset}"`}`,
    `Content-Transfer-Encoding: ${cte}`,
    '',
    transferEncode(encodeCharset(body, lang.charset), cte),
  ];
  let body: string[];
  const altBoundary = `=_alt_${n.toString(36)}`;
  const alt = (): string[] => [
    `Content-Type: multipart/alternative; boundary="${altBoundary}"`,
    '',
    `--${altBoundary}`,
    ...textPart('plain', text),
    `--${altBoundary}`,
    ...textPart('html', html(text)),
    `--${altBoundary}--`,
  ];
  if (!withAttachment) {
    body = alternative ? alt() : textPart('plain', text);
  } else {
    const mixed = `=_mixed_${n.toString(36)}`;
    const csv = random() < 0.3;
    const content = csv
      ? Buffer.from(Array.from({ length: Math.ceil(attachmentBytes / 40) }, (_, r) => `${r};${word(null)};${(random() * 1000).toFixed(2)}`).join('\n'), 'utf8')
      : Buffer.from(Array.from({ length: attachmentBytes }, () => int(256)));
    const filename = csv ? `report-${n}.csv` : pick([`Rechnung_${n}.pdf`, `scan ${n}.pdf`, `photo_${n}.jpg`, `見積書_${n}.pdf`]);
    const encodedName = /^[\x20-\x7e]*$/.test(filename) ? `"${filename}"` : `"${encodedWord(filename, 'UTF-8')}"`;
    body = [
      `Content-Type: multipart/mixed; boundary="${mixed}"`,
      '',
      'This is a multi-part message in MIME format.',
      `--${mixed}`,
      ...(alternative ? alt() : textPart('plain', text)),
      `--${mixed}`,
      `Content-Type: ${csv ? 'text/csv; charset=utf-8' : filename.endsWith('.jpg') ? 'image/jpeg' : 'application/pdf'}; name=${encodedName}`,
      `Content-Disposition: attachment; filename=${encodedName}`,
      'Content-Transfer-Encoding: base64',
      '',
      base64Lines(content),
      `--${mixed}--`,
    ];
  }
  return { text: [...headers, ...body, ''].join('\n'), date };
}

/** mboxrd quoting: a line that is ">*From " gets one more ">". */
function mboxrdQuote(text: string): string {
  return text.includes('From ') ? text.replace(/^(>*From )/gm, '>$1') : text;
}

async function generate(file: string): Promise<{ bytes: number; seconds: number }> {
  const started = performance.now();
  const stream = createWriteStream(file, { highWaterMark: 1024 * 1024 });
  let pending: string[] = [];
  let pendingLength = 0;
  const write = async (): Promise<void> => {
    const chunk = Buffer.from(pending.join(''), 'latin1');
    pending = [];
    pendingLength = 0;
    if (!stream.write(chunk)) await new Promise<void>((resolve) => stream.once('drain', () => resolve()));
  };
  const target = SIZE_KB * 1024;
  for (let n = 1; n <= COUNT; n++) {
    // Sizes spread from about 0.3x to 1.7x of the average.
    const { text, date } = message(n, target * (0.3 + random() * 1.4));
    const piece = `From bounce${n}@example.test ${mboxDate(date)}\n${mboxrdQuote(text)}\n`;
    pending.push(piece);
    pendingLength += piece.length;
    if (pendingLength > 1024 * 1024) await write();
  }
  await write();
  await new Promise<void>((resolve, reject) => stream.end((err?: Error | null) => (err ? reject(err) : resolve())));
  return { bytes: (await stat(file)).size, seconds: (performance.now() - started) / 1000 };
}

// ---------------------------------------------------------------------------------------------

const MB = 1024 * 1024;
const fmt = (x: number, digits = 1): string => x.toFixed(digits);

/** Reader alone: how fast the mbox is split (the file is in the page cache after generation). */
async function scan(mbox: string): Promise<{ messages: number; bytes: number; seconds: number }> {
  const { readMbox } = await import('../src/archive/import/index.ts');
  let messages = 0;
  let bytes = 0;
  const started = performance.now();
  for await (const m of readMbox(mbox)) {
    messages++;
    bytes += m.size;
  }
  return { messages, bytes, seconds: (performance.now() - started) / 1000 };
}

interface Prepared {
  bytes: number;
  generateSeconds: number;
  scan: { messages: number; bytes: number; seconds: number };
}

/**
 * Generation (unless --mbox) and the scan run in a child process, so that their memory does not
 * count in the importing process's peak RSS and maxRSS.
 */
function prepareInChild(mbox: string, generateIt: boolean): Promise<Prepared> {
  const what = generateIt ? ['--generate-into', mbox] : ['--scan-only', mbox];
  return runSelfForJson<Prepared>(import.meta.url, [...what, '--count', String(COUNT), '--size', String(SIZE_KB), '--seed', String(args.seed)]);
}

/** Microseconds to create, write and close a small file in `dir` (file systems differ a lot). */
async function fileCreationCost(dir: string): Promise<number> {
  const probe = path.join(dir, 'probe');
  await mkdir(probe, { recursive: true });
  const started = performance.now();
  for (let i = 0; i < 200; i++) await writeFile(path.join(probe, String(i)), 'x');
  const wall = (performance.now() - started) * 1000;
  // Left in place (removed with the work directory): on ext4 without a journal, files deleted
  // in the last seconds slow down creating files nearby, i.e. the import's blobs.
  return wall / 200;
}

async function main(): Promise<void> {
  if (args['generate-into'] !== undefined || args['scan-only'] !== undefined) {
    const mbox = args['generate-into'] ?? args['scan-only']!;
    const gen = args['generate-into'] !== undefined ? await generate(mbox) : { bytes: (await stat(mbox)).size, seconds: 0 };
    const result: Prepared = { bytes: gen.bytes, generateSeconds: gen.seconds, scan: await scan(mbox) };
    out(JSON.stringify(result));
    return;
  }
  await mkdir(args.dir, { recursive: true });
  const root = await mkdtemp(path.join(args.dir, 'mailroom-bench-'));
  const mbox = args.mbox ?? path.join(root, 'bench.mbox');
  const dataDir = path.join(root, 'data');
  out(`mailroom import benchmark: ${args.mbox ?? `${COUNT} generated messages of ~${SIZE_KB} KB`}, batch ${BATCH}, concurrency ${CONCURRENCY}`);
  out(tuned ? `runtime: ${TUNED_RUNTIME}` : 'runtime: Node defaults (--node-defaults)');
  out(`machine: ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), node ${process.version}, ${os.platform()} ${os.release()}, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}, ${new Date().toISOString()}`);
  out(`work dir: ${root} (creating a file there takes ${fmt(await fileCreationCost(root), 0)} µs)`);
  try {
    const prepared = await prepareInChild(mbox, args.mbox === undefined);
    if (args.mbox === undefined) {
      out(`generated ${COUNT} messages, ${fmt(prepared.bytes / MB)} MB (avg ${fmt(prepared.bytes / COUNT / 1024)} KB) in ${fmt(prepared.generateSeconds, 2)} s`);
      if (prepared.scan.messages !== COUNT) throw new Error(`the reader found ${prepared.scan.messages} messages, expected ${COUNT}`);
    }
    out(`mbox scan: ${prepared.scan.messages} messages, ${fmt(prepared.scan.bytes / MB)} MB in ${fmt(prepared.scan.seconds, 2)} s`);

    const [{ openApp }, { loadConfig }, { createLogger }, { addToSummary, emptySummary, importMessages, readMbox }] = await Promise.all([
      import('../src/app.ts'),
      import('../src/config/index.ts'),
      import('../src/log/index.ts'),
      import('../src/archive/import/index.ts'),
    ]);
    const config = loadConfig({ MAILROOM_DATA: dataDir });
    const app = await openApp(config, createLogger('warn'));
    const rssAtStart = process.memoryUsage().rss;
    let peakRss = rssAtStart;
    let peakHeap = 0;
    let peakExternal = 0;
    const sampler = setInterval(() => {
      const m = process.memoryUsage();
      peakRss = Math.max(peakRss, m.rss);
      peakHeap = Math.max(peakHeap, m.heapUsed);
      peakExternal = Math.max(peakExternal, m.external);
    }, 100);
    const cpuBefore = process.cpuUsage();
    const summary = emptySummary();
    let seconds = 0;
    try {
      const org = await app.orgs.ensureOrg('default');
      const cabinet = await app.archive.ensureCabinet(org.id, 'Bench');
      const spillDir = path.join(dataDir, 'tmp');
      await mkdir(spillDir, { recursive: true });
      const started = performance.now();
      const results = importMessages(app.archive, readMbox(mbox, { spillDir }), {
        orgId: org.id,
        cabinetId: cabinet.id,
        batchMessages: BATCH,
        concurrency: CONCURRENCY,
      });
      let firstError: string | null = null;
      for await (const r of results) {
        addToSummary(summary, r);
        if (!r.ok && firstError === null) firstError = `${r.file}: [${r.error.code}] ${r.error.message}`;
      }
      seconds = (performance.now() - started) / 1000;
      if (firstError !== null) out(`first failure: ${firstError}`);
    } finally {
      clearInterval(sampler);
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
      await app.close();
    }
    const cpu = process.cpuUsage(cpuBefore);
    const maxRss = process.resourceUsage().maxRSS * 1024;
    out(`imported ${summary.imported}, duplicates ${summary.duplicates}, flagged ${summary.contentDiffers}, failed ${summary.failed}`);
    out('');
    out(`import:        ${fmt(seconds, 2)} s`);
    out(`messages/s:    ${fmt(summary.messages / seconds, 0)}`);
    out(`MB/s:          ${fmt(summary.bytes / MB / seconds, 1)}`);
    out(`peak RSS:      ${fmt(peakRss / MB, 0)} MB (sampled every 100 ms during the import; ${fmt(rssAtStart / MB, 0)} MB before it)`);
    out(`maxRSS:        ${fmt(maxRss / MB, 0)} MB (process.resourceUsage of the importing process)`);
    out(`peak heap:     ${fmt(peakHeap / MB, 0)} MB used, ${fmt(peakExternal / MB, 0)} MB external (sampled)`);
    out(`CPU:           ${fmt((cpu.user + cpu.system) / 1e6, 2)} s (${fmt(cpu.user / 1e6, 2)} user + ${fmt(cpu.system / 1e6, 2)} system) = ${fmt((cpu.user + cpu.system) / 1000 / summary.messages, 2)} ms/message, all threads`);
    out(`generation:    ${fmt(prepared.generateSeconds, 2)} s (separate process, not included above)`);
    out(`mbox scan:     ${fmt(prepared.bytes / MB / prepared.scan.seconds, 0)} MB/s (reader alone)`);
    if (summary.failed > 0) process.exitCode = 1;
  } finally {
    if (args.keep) out(`kept ${root}`);
    else await rm(root, { recursive: true, force: true });
  }
}

await main();
