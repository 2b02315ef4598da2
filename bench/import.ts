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
import {
  address,
  base64Lines,
  bodyText,
  encodeCharset,
  encodedWord,
  ENGLISH_UTF8,
  FRENCH_UTF8,
  GERMAN_LATIN1,
  JAPANESE_ISO2022JP,
  JAPANESE_SHIFT_JIS,
  MIXED_UTF8,
  MONTHS,
  rfc5322Date,
  Rng,
  RUSSIAN_KOI8R,
  transferEncode,
  WEEKDAYS,
  word,
  type Language,
} from './corpus.ts';

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
// The corpus (bench/corpus.ts): the same seed generates the same mbox.

const rng = new Rng(Number(args.seed));
const LANGUAGES: Language[] = [ENGLISH_UTF8, GERMAN_LATIN1, FRENCH_UTF8, RUSSIAN_KOI8R, JAPANESE_SHIFT_JIS, JAPANESE_ISO2022JP, MIXED_UTF8];

function html(text: string): string {
  const paragraphs = text.split('\n\n').map((p) => `<p>${p.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/\n/g, '<br>\n')}</p>`);
  return `<html><head><style>p{font-family:sans-serif}</style></head><body>\n${paragraphs.join('\n')}\n</body></html>`;
}

// ---------------------------------------------------------------------------------------------
// Messages.

function mboxDate(d: Date): string {
  const pad = (x: number): string => String(x).padStart(2, '0');
  return `${WEEKDAYS[d.getUTCDay()]} ${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} ${d.getUTCFullYear()}`;
}

/** One message as a latin1 string (bytes one to one) and its envelope sender and date. */
function message(n: number, targetBytes: number): { text: string; date: Date } {
  const lang = rng.pick(LANGUAGES);
  const date = new Date(Date.UTC(2015, 0, 1) + rng.int(9 * 365 * 86400) * 1000);
  const withAttachment = rng.next() < 0.2;
  const alternative = rng.next() < 0.6;
  const attachmentBytes = withAttachment ? 2048 + rng.int(18 * 1024) : 0;
  const textBudget = Math.max(600, targetBytes - 900 - attachmentBytes * 1.37);
  const text = bodyText(rng, lang, alternative ? textBudget / 2.4 : textBudget, n, true);
  const cte = rng.pick(lang.encodings);
  const headers = [
    `Return-Path: <bounce${n}@example.test>`,
    `Received: from mx${n % 7}.example.test (mx${n % 7}.example.test [192.0.2.${n % 250}]) by archive.example.test with ESMTPS id ${n.toString(36)}; ${rfc5322Date(date)}`,
    `Message-ID: <${n}.${date.getTime().toString(36)}@bench.example.test>`,
    `Date: ${rfc5322Date(date)}`,
    `From: ${address(rng, lang, n)}`,
    `To: ${Array.from({ length: 1 + rng.int(3) }, (_, k) => address(rng, lang, n + k + 1)).join(',\n ')}`,
    ...(rng.next() < 0.3 ? [`Cc: ${address(rng, lang, n + 5)}`] : []),
    `Subject: ${rng.next() < 0.3 ? 'Re: ' : ''}${encodedWord(rng, `${rng.pick(lang.subjects)} ${word(rng, n)}`, lang.charset)}`,
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
    const csv = rng.next() < 0.3;
    const content = csv
      ? Buffer.from(Array.from({ length: Math.ceil(attachmentBytes / 40) }, (_, r) => `${r};${word(rng, null)};${(rng.next() * 1000).toFixed(2)}`).join('\n'), 'utf8')
      : Buffer.from(Array.from({ length: attachmentBytes }, () => rng.int(256)));
    const filename = csv ? `report-${n}.csv` : rng.pick([`Rechnung_${n}.pdf`, `scan ${n}.pdf`, `photo_${n}.jpg`, `見積書_${n}.pdf`]);
    const encodedName = /^[\x20-\x7e]*$/.test(filename) ? `"${filename}"` : `"${encodedWord(rng, filename, 'UTF-8')}"`;
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
    const { text, date } = message(n, target * (0.3 + rng.next() * 1.4));
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
