/**
 * Send benchmark: `npm run bench:send -- --count 2000 [--concurrency 8] [--size 2048] [--runs 1]
 * [--only outbox|source|nodemailer] [--sink]` (root: it starts a private Postfix,
 * test/support/peers/postfix.ts, delivering into a Maildir).
 *
 * (a) outbox: enqueue every message (composed once, stored in SQLite with its `queued` event),
 *     then one worker at --concurrency sends them; the clock runs from the worker's start until
 *     the last message is in the Maildir. Enqueue is timed separately.
 * (b) Postfix's own `smtp-source -s CONCURRENCY -m COUNT -l SIZE`: the same server, no
 *     composition, no persistence, pipelined SMTP; the clock stops at the last Maildir file.
 * (c) a plain nodemailer pooled transport (maxConnections = CONCURRENCY) sending COUNT composed
 *     messages from CONCURRENCY loops, no persistence; same clock.
 * Prints msgs/s for each, the ratios, and peak RSS (sampled every 50 ms during each run).
 * `--sink` replaces Postfix by `smtp-sink` (accepts and discards; no queue, no delivery) and
 * stops each clock when the client is done: the client side alone, without Postfix's delivery.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import nodemailer from 'nodemailer';
import { loadConfig } from '../src/config/index.ts';
import { createServices } from '../src/connect/services.ts';
import { resolveSecretKey, SecretBox } from '../src/crypto/index.ts';
import { createLogger } from '../src/log/index.ts';
import { createOutbox } from '../src/outbox/index.ts';
import { openStore } from '../src/store/index.ts';
import { freePort, waitForPort } from '../test/support/peers/apt.ts';
import { startPostfix } from '../test/support/peers/postfix.ts';

const { values: args } = parseArgs({
  options: {
    count: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '8' },
    size: { type: 'string', default: '2048' },
    runs: { type: 'string', default: '1' },
    only: { type: 'string' },
    sink: { type: 'boolean', default: false },
  },
  allowPositionals: false,
});
const COUNT = Number(args.count);
const CONCURRENCY = Number(args.concurrency);
const SIZE = Number(args.size);
const RUNS = Number(args.runs);
if (!(COUNT > 0) || !(CONCURRENCY >= 1) || !(SIZE >= 100) || !(RUNS >= 1)) {
  process.stderr.write('usage: npm run bench:send -- --count N [--concurrency 8] [--size BYTES] [--runs N] [--only outbox|source|nodemailer] [--sink]\n');
  process.exit(2);
}
const only = args.only;

const out = (line = ''): boolean => process.stdout.write(line + '\n');
const execFileP = promisify(execFile);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A body of about `bytes` bytes of text lines (the headers add ~400 bytes). */
function body(i: number): string {
  const line = `Zeile ${i}: Grüße aus Köln – the quick brown fox jumps over the lazy dog.\n`;
  return line.repeat(Math.max(1, Math.floor((SIZE - 400) / Buffer.byteLength(line))));
}

/** Samples this process's RSS until stopped; returns the peak in MiB. */
function rssSampler(): { stop(): number } {
  let peak = process.memoryUsage().rss;
  const t = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
  return {
    stop() {
      clearInterval(t);
      return Math.max(peak, process.memoryUsage().rss) / 1024 / 1024;
    },
  };
}

/** Where the messages go: a Postfix delivering into a Maildir, or smtp-sink. */
interface Target {
  port: number;
  label: string;
  /** Resolves when `count` messages have arrived where the target puts them. */
  arrived(count: number): Promise<void>;
  /** Waits for an idle queue and empties the Maildir. */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

async function postfixTarget(): Promise<Target> {
  const pf = await startPostfix({ name: 'bench-send' });
  const idle = async (): Promise<void> => {
    for (let i = 0; i < 600; i++) {
      const { stdout } = await execFileP('postqueue', ['-c', pf.configDir, '-p']).catch(() => ({ stdout: '' }));
      if (/Mail queue is empty/.test(stdout)) return;
      await sleep(100);
    }
  };
  return {
    port: pf.port,
    label: 'Postfix 3.7 delivering into a Maildir; clocks stop when the last message is in the Maildir',
    arrived: async (count) => void (await pf.waitForMessages(count, 600_000)),
    reset: async () => {
      await idle();
      await pf.clearMaildir();
    },
    stop: () => pf.stop(),
  };
}

async function sinkTarget(): Promise<Target> {
  const port = await freePort();
  const sinkArgs = [...(process.getuid?.() === 0 ? ['-u', 'nobody'] : []), `127.0.0.1:${port}`, '256'];
  const child = spawn('smtp-sink', sinkArgs, { stdio: 'ignore' });
  await waitForPort('127.0.0.1', port, 10_000, '220');
  return {
    port,
    label: 'smtp-sink (accepts and discards, no delivery); clocks stop when the client is done',
    arrived: async () => undefined,
    reset: async () => undefined,
    stop: async () => void child.kill('SIGTERM'),
  };
}

interface Result {
  name: string;
  seconds: number;
  rate: number;
  rssMiB: number;
  note: string;
}

async function runOutbox(peer: Target): Promise<Result> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'mr-bench-send-'));
  const config = loadConfig({
    MAILROOM_DATA: dataDir,
    MAILROOM_SECRET_KEY: randomBytes(32).toString('base64'),
    MAILROOM_SMTP_HOST: '127.0.0.1',
    MAILROOM_SMTP_PORT: String(peer.port),
    MAILROOM_SMTP_SECURITY: 'none',
    MAILROOM_SMTP_FROM: 'bench@mailroom.example',
    MAILROOM_OUTBOX_CONCURRENCY: String(CONCURRENCY),
  });
  const store = await openStore(config);
  const secrets = new SecretBox(resolveSecretKey(config));
  const log = createLogger('warn');
  const outbox = createOutbox({ store, secrets, log, services: createServices(store, secrets), config });
  const orgId = crypto.randomUUID();
  await store.orgs.insert({ id: orgId, name: 'bench', created_at: new Date().toISOString() });
  const rss = rssSampler();
  try {
    const e0 = performance.now();
    for (let i = 0; i < COUNT; i++) {
      await outbox.enqueue({ orgId, component: 'workflows', to: [`rcpt${i % 50}@example.test`], subject: `Benchmark ${i} – Grüße`, text: body(i) });
    }
    const enqueueSeconds = (performance.now() - e0) / 1000;
    const sizes = await store.db.kysely.selectFrom('outbox').select((eb) => eb.fn.avg<number>('size').as('avg')).executeTakeFirst();
    const t0 = performance.now();
    const summary = await outbox.worker.drain();
    const drainSeconds = (performance.now() - t0) / 1000;
    await peer.arrived(COUNT);
    const seconds = (performance.now() - t0) / 1000;
    if (summary.sent !== COUNT) throw new Error(`outbox sent ${summary.sent} of ${COUNT}: ${JSON.stringify(summary)}`);
    return {
      name: `(a) outbox, concurrency ${CONCURRENCY}`,
      seconds,
      rate: COUNT / seconds,
      rssMiB: rss.stop(),
      note: `all recorded sent after ${drainSeconds.toFixed(2)} s; enqueue ${Math.round(COUNT / enqueueSeconds)}/s (${enqueueSeconds.toFixed(2)} s, compose + one durable transaction each); avg message ${Math.round(Number(sizes?.avg ?? 0))} bytes`,
    };
  } finally {
    await outbox.close();
    await store.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function runSmtpSource(peer: Target): Promise<Result> {
  const rss = rssSampler();
  const t0 = performance.now();
  await execFileP('smtp-source', ['-s', String(CONCURRENCY), '-m', String(COUNT), '-l', String(SIZE), '-f', 'bench@mailroom.example', '-t', 'rcpt@example.test', `127.0.0.1:${peer.port}`]);
  await peer.arrived(COUNT);
  const seconds = (performance.now() - t0) / 1000;
  return { name: `(b) smtp-source -s ${CONCURRENCY} -m ${COUNT} -l ${SIZE}`, seconds, rate: COUNT / seconds, rssMiB: rss.stop(), note: 'Postfix test client, C, pipelined' };
}

async function runNodemailer(peer: Target): Promise<Result> {
  const transport = nodemailer.createTransport({ pool: true, maxConnections: CONCURRENCY, maxMessages: Infinity, host: '127.0.0.1', port: peer.port, secure: false, ignoreTLS: true });
  const rss = rssSampler();
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let i = next++; i < COUNT; i = next++) {
        await transport.sendMail({ from: 'bench@mailroom.example', to: `rcpt${i % 50}@example.test`, subject: `Benchmark ${i} – Grüße`, text: body(i) });
      }
    }),
  );
  await peer.arrived(COUNT);
  const seconds = (performance.now() - t0) / 1000;
  transport.close();
  return { name: `(c) nodemailer pool, ${CONCURRENCY} connections`, seconds, rate: COUNT / seconds, rssMiB: rss.stop(), note: 'composes each message, no persistence' };
}

const baselineMiB = process.memoryUsage().rss / 1024 / 1024;
const peer = args.sink ? await sinkTarget() : await postfixTarget();
const results: Result[][] = [];
try {
  for (let run = 0; run < RUNS; run++) {
    const round: Result[] = [];
    for (const [key, fn] of [['outbox', runOutbox], ['source', runSmtpSource], ['nodemailer', runNodemailer]] as const) {
      if (only && only !== key) continue;
      await peer.reset();
      const r = await fn(peer);
      round.push(r);
      out(`run ${run + 1}: ${r.name}: ${COUNT} messages in ${r.seconds.toFixed(2)} s = ${Math.round(r.rate)} msgs/s; peak RSS ${r.rssMiB.toFixed(0)} MiB; ${r.note}`);
    }
    results.push(round);
    const [ra, rb, rc] = ['(a)', '(b)', '(c)'].map((k) => round.find((r) => r.name.startsWith(k)));
    if (ra && rb && rc) out(`run ${run + 1}: outbox / smtp-source = ${(ra.rate / rb.rate).toFixed(2)}, outbox / nodemailer = ${(ra.rate / rc.rate).toFixed(2)}`);
  }
} finally {
  await peer.stop();
}

const best = new Map<string, Result>();
for (const round of results) for (const r of round) if (!best.has(r.name) || best.get(r.name)!.rate < r.rate) best.set(r.name, r);
out('');
out(`send benchmark: ${COUNT} messages, concurrency ${CONCURRENCY}, ~${SIZE} bytes, best of ${RUNS} run(s); machine: ${(await import('node:os')).cpus().length} CPUs, Node ${process.version}`);
out(`  target: ${peer.label}`);
for (const r of best.values()) out(`  ${r.name.padEnd(40)} ${String(Math.round(r.rate)).padStart(6)} msgs/s   peak RSS ${r.rssMiB.toFixed(0)} MiB`);
const byKey = (prefix: string): Result | undefined => [...best.values()].find((r) => r.name.startsWith(prefix));
const ao = byKey('(a)');
const bs = byKey('(b)');
const cn = byKey('(c)');
if (ao && bs) out(`  outbox / smtp-source = ${(ao.rate / bs.rate).toFixed(2)} (target >= 0.5)`);
if (ao && cn) out(`  outbox / nodemailer  = ${(ao.rate / cn.rate).toFixed(2)}`);
if (bs && cn) out(`  nodemailer / smtp-source = ${(cn.rate / bs.rate).toFixed(2)}`);
out(`  RSS before the runs ${baselineMiB.toFixed(0)} MiB (Node, tsx, modules); process maxRSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
