/**
 * IMAP archiving benchmark: `npm run bench:imap -- --count 5000 [--json] [--seed 1] [--dir /tmp]
 * [--cold] [--no-mbsync] [--no-gateway] [--no-read-ahead] [--mbsync-no-fsync] [--profile] [--profile-file F.cpuprofile] [--keep] [--node-defaults]
 * [--only small|large]`. `--only` seeds only the small messages of the mix, or makes every
 * message one with a multi-MB attachment: where the time of each kind goes, measured apart.
 *
 * 1. Starts a private Dovecot (test/support/peers/dovecot.ts) and seeds alice's INBOX by writing
 *    Maildir files straight into cur/ (bench/imap/generate.ts, in a child process so that its
 *    memory does not count here), lets Dovecot index them (`doveadm force-resync`) and, unless
 *    --cold, warms Dovecot and the page cache with one `doveadm fetch` of what the clients ask.
 * 2. Archives the folder with Mailroom through the real path: fresh SQLite data dir, openApp,
 *    IMAP service + account + rule (action none), timed `app.connect.sync(org, 'bench')`.
 * 3. Downloads the same folder with mbsync (isync) into a temp Maildir, timed.
 * 4. Times a second `app.connect.sync` of the unchanged folder.
 * 5. (unless --no-gateway) Downloads the folder once more through Mailroom's IMAP gateway alone
 *    (changes() + fetchRaw(), nothing archived), to tell the gateway's cost from the archive's.
 * --no-read-ahead turns the gateway's read-ahead (src/gateways/imap/prefetch.ts) off, for A/B runs;
 * --mbsync-no-fsync runs mbsync with `FSync no` (its default, like Mailroom, fsyncs every message).
 * Prints a summary table; with --json the human-readable report goes to stderr and stdout gets
 * one JSON object with every figure.
 *
 * The breakdown of the archiving run comes from timing wrappers installed on the app's objects
 * (archive.ingest, blob batch commit, documents.insertMany, the sync repo) and on ImapSource's
 * changes()/fetchRaw(); their cost is a few microseconds per message. The engine archives one
 * batch while it fetches the next, so phases overlap: the overlap is subtracted in a row of its own.
 */
import { runSelfForJson } from './child-json.ts';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { openApp, type App } from '../src/app.ts';
import { loadConfig } from '../src/config/index.ts';
import { createLogger } from '../src/log/index.ts';
import { summaryDetailFor } from '../src/connect/sync/detail.ts';
import type { Cursor, MessageRef, SummaryDetail } from '../src/gateways/index.ts';
import { openImapSource } from '../src/gateways/imap/index.ts';
import { ReadAhead } from '../src/gateways/imap/prefetch.ts';
import { ImapSource } from '../src/gateways/imap/source.ts';
import { ensurePackages } from '../test/support/peers/apt.ts';
import { MAIL_GID, MAIL_UID, startDovecot, type DovecotPeer } from '../test/support/peers/dovecot.ts';
import { generateMaildir, type GenerateResult } from './imap/generate.ts';
import { PhaseProfiler, type ProfileSummary } from './imap/profile.ts';
import { runTuned, TUNED_RUNTIME } from './tuned.ts';

const { values: args } = parseArgs({
  options: {
    count: { type: 'string', default: '5000' },
    seed: { type: 'string', default: '1' },
    dir: { type: 'string', default: tmpdir() },
    json: { type: 'boolean', default: false },
    cold: { type: 'boolean', default: false },
    'no-mbsync': { type: 'boolean', default: false },
    'no-gateway': { type: 'boolean', default: false },
    'no-read-ahead': { type: 'boolean', default: false },
    'mbsync-no-fsync': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    'profile-file': { type: 'string' },
    'generate-into': { type: 'string' },
    only: { type: 'string' },
    'node-defaults': { type: 'boolean', default: false },
  },
  allowPositionals: false,
});

// The sync runs in this process, so it runs under bin/mailroom's memory settings (bench/tuned.ts).
if (!args['node-defaults'] && args['generate-into'] === undefined) runTuned(import.meta.url);

const COUNT = Number(args.count);
const SEED = Number(args.seed);
const ONLY = args.only === 'small' || args.only === 'large' ? args.only : null;
if (!Number.isInteger(COUNT) || COUNT < 1 || !Number.isInteger(SEED) || (args.only !== undefined && ONLY === null)) {
  process.stderr.write('usage: npm run bench:imap -- --count N [--json] [--seed N] [--dir DIR] [--cold] [--no-mbsync] [--no-gateway] [--no-read-ahead] [--mbsync-no-fsync] [--profile] [--profile-file F] [--keep] [--node-defaults] [--only small|large]\n');
  process.exit(2);
}

const USER = 'alice@example.test';
const PASSWORD = 'alice-secret';
const MB = 1024 * 1024;
const fmt = (x: number, digits = 1): string => (Number.isFinite(x) ? x.toFixed(digits) : '-');
const round = (x: number, digits = 3): number => Math.round(x * 10 ** digits) / 10 ** digits;
/** Human-readable report: stdout, or stderr when stdout carries the JSON. */
const out = (line = ''): void => {
  (args.json ? process.stderr : process.stdout).write(line + '\n');
};
const now = (): number => performance.now();

// ---------------------------------------------------------------------------------------------
// Processes.

interface Exec {
  code: number;
  stdout: string;
  stderr: string;
  seconds: number;
}

/** Runs a command (no shell); stdout is dropped unless `keepStdout`. */
function exec(cmd: string, argv: string[], opts: { keepStdout?: boolean; env?: NodeJS.ProcessEnv } = {}): Promise<Exec> {
  const started = now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: ['ignore', opts.keepStdout ? 'pipe' : 'ignore', 'pipe'], env: opts.env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-20_000)));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr, seconds: (now() - started) / 1000 }));
  });
}

async function execChecked(cmd: string, argv: string[], opts: { keepStdout?: boolean } = {}): Promise<Exec> {
  const r = await exec(cmd, argv, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${argv.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  return r;
}

/** /proc reports CPU time in USER_HZ ticks, which Linux fixes at 100 for user space. */
const CLK_TCK = 100;

/** utime, stime, cutime, cstime of a process in seconds (children count once reaped). */
function procCpu(pid: number | 'self'): { own: number; children: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields after "(comm)": state=0 ... utime=11 stime=12 cutime=13 cstime=14.
    return { own: (Number(f[11]) + Number(f[12])) / CLK_TCK, children: (Number(f[13]) + Number(f[14])) / CLK_TCK };
  } catch {
    return { own: 0, children: 0 };
  }
}

/** CPU seconds of the whole Dovecot instance: its live processes plus the children it reaped. */
async function dovecotCpu(peer: DovecotPeer): Promise<number> {
  let total = 0;
  for (const pid of await peer.pids()) {
    const c = procCpu(pid);
    total += c.own + c.children;
  }
  return total;
}

/**
 * Dovecot's CPU over a phase: its imap process exits at LOGOUT and its time then moves into the
 * master's cutime/cstime once reaped, so wait for that before the final reading.
 */
async function dovecotCpuSince(peer: DovecotPeer, before: number): Promise<number> {
  await new Promise((r) => setTimeout(r, 300));
  return (await dovecotCpu(peer)) - before;
}

/** CPU seconds of this process's reaped children (mbsync). */
const childrenCpu = (): number => procCpu('self').children;

// ---------------------------------------------------------------------------------------------
// Memory sampling.

class RssSampler {
  peak = 0;
  readonly atStart = process.memoryUsage().rss;
  private readonly timer: NodeJS.Timeout;
  constructor() {
    this.peak = this.atStart;
    this.timer = setInterval(() => {
      this.peak = Math.max(this.peak, process.memoryUsage().rss);
    }, 100);
  }
  stop(): number {
    clearInterval(this.timer);
    this.peak = Math.max(this.peak, process.memoryUsage().rss);
    return this.peak;
  }
}

// ---------------------------------------------------------------------------------------------
// Timing wrappers for the breakdown.

interface Timing {
  /** changes(): SELECT, UID SEARCH, summary FETCHes (time inside next()). */
  changes: number;
  /**
   * fetchRaw(): from the call until the stream ended (the engine waits for each). A message
   * above the engine's buffer limit ends once archive.spool() has written it to its temp file.
   */
  fetchRaw: number;
  fetchRawCalls: number;
  /** archive.ingest() as a whole. */
  ingest: number;
  ingestCalls: number;
  /** Of ingest: blob batch commit (fsync, rename, directory fsync). */
  blobCommit: number;
  /** Of ingest: documents.insertMany (one SQLite transaction). */
  insertMany: number;
  /** store.sync.*: ledger lookups and records, cursor, lease, run rows. */
  syncRepo: number;
  syncRepoCalls: number;
  /**
   * Time in which at least one of changes, fetchRaw, ingest and syncRepo was running. They
   * overlap (the engine fetches the next batch while it archives one), so their sum is more.
   */
  busy: number;
}

function newTiming(): Timing {
  return { changes: 0, fetchRaw: 0, fetchRawCalls: 0, ingest: 0, ingestCalls: 0, blobCommit: 0, insertMany: 0, syncRepo: 0, syncRepoCalls: 0, busy: 0 };
}

let timing = newTiming();
let active = 0;
let activeSince = 0;
/** A timed phase starts; returns its end (for timing.busy). */
function enter(): () => void {
  if (active++ === 0) activeSince = now();
  let left = false;
  return () => {
    if (left) return;
    left = true;
    if (--active === 0) timing.busy += now() - activeSince;
  };
}

/** Times one call of a phase. */
async function timed<T>(fn: () => Promise<T>, add: (ms: number) => void): Promise<T> {
  const t0 = now();
  const leave = enter();
  try {
    return await fn();
  } finally {
    leave();
    add(now() - t0);
  }
}

function instrumentGateway(): void {
  // For A/B runs: every fetchRaw() downloads its message alone, as before the read-ahead.
  if (args['no-read-ahead']) ReadAhead.prototype.take = async () => null;
  const proto = ImapSource.prototype;
  const origChanges = proto.changes;
  proto.changes = function (this: ImapSource, folder: string, cursor: Cursor | null, detail?: SummaryDetail) {
    const iterable = origChanges.call(this, folder, cursor, detail);
    return {
      [Symbol.asyncIterator]() {
        const it = iterable[Symbol.asyncIterator]();
        return {
          async next() {
            const t0 = now();
            const leave = enter();
            try {
              return await it.next();
            } finally {
              leave();
              timing.changes += now() - t0;
            }
          },
          async return(value?: unknown) {
            return it.return ? it.return(value) : { done: true as const, value: undefined };
          },
        };
      },
    };
  };
  const origFetchRaw = proto.fetchRaw;
  proto.fetchRaw = async function (this: ImapSource, ref: MessageRef): Promise<Readable> {
    const t0 = now();
    timing.fetchRawCalls++;
    const leave = enter();
    let stream: Readable;
    try {
      stream = await origFetchRaw.call(this, ref);
    } catch (err) {
      leave();
      throw err;
    }
    let done = false;
    const finish = (): void => {
      if (!done) {
        done = true;
        leave();
        timing.fetchRaw += now() - t0;
      }
    };
    stream.once('end', finish);
    stream.once('close', finish);
    return stream;
  };
}

function instrumentApp(app: App): void {
  const archive = app.archive;
  const ingest = archive.ingest.bind(archive);
  archive.ingest = async (...a: Parameters<typeof ingest>) => {
    timing.ingestCalls++;
    return timed(() => ingest(...a), (ms) => (timing.ingest += ms));
  };
  const blobs = app.blobs;
  const batch = blobs.batch.bind(blobs);
  blobs.batch = () => {
    const b = batch();
    const commit = b.commit.bind(b);
    b.commit = async () => {
      const t0 = now();
      try {
        await commit();
      } finally {
        timing.blobCommit += now() - t0;
      }
    };
    return b;
  };
  const docs = app.store.documents;
  const insertMany = docs.insertMany.bind(docs);
  docs.insertMany = async (...a: Parameters<typeof insertMany>) => {
    const t0 = now();
    try {
      return await insertMany(...a);
    } finally {
      timing.insertMany += now() - t0;
    }
  };
  // A batch's ledger rows go through store.sync.ledgerRecordMany (one transaction), timed here.
  const repo = app.store.sync as unknown as Record<string, unknown>;
  for (const [name, fn] of Object.entries(repo)) {
    // Lease renewals run on a timer, concurrently with everything else: not part of the sum.
    if (typeof fn !== 'function' || name === 'leaseRenew') continue;
    const f = fn as (...x: unknown[]) => unknown;
    repo[name] = async (...x: unknown[]) => {
      timing.syncRepoCalls++;
      return timed(async () => f.apply(repo, x), (ms) => (timing.syncRepo += ms));
    };
  }
}

// ---------------------------------------------------------------------------------------------
// Phases.

interface Seeded extends GenerateResult {
  indexSeconds: number;
  warmSeconds: number | null;
}

/** Generation runs in a child process, so that its garbage does not count in our memory figures. */
function generateInChild(maildir: string): Promise<GenerateResult> {
  return runSelfForJson<GenerateResult>(import.meta.url, ['--generate-into', maildir, '--count', String(COUNT), '--seed', String(SEED), ...(ONLY ? ['--only', ONLY] : [])]);
}

async function seed(peer: DovecotPeer): Promise<Seeded> {
  const conf = peer.configFile;
  // Let Dovecot create the user's Maildir (with its own ownership and layout) first.
  await execChecked('doveadm', ['-c', conf, 'mailbox', 'status', '-u', USER, 'messages', 'INBOX'], { keepStdout: true });
  const maildir = peer.mailDir(USER);
  const gen = await generateInChild(maildir);
  out(`generated ${gen.messages} messages into ${maildir}/cur: ${fmt(gen.bytes / MB)} MB on disk, ${fmt(gen.imapBytes / MB)} MB as IMAP sends them (avg ${fmt(gen.imapBytes / gen.messages / 1024)} KB; ${gen.large} with 2-6 MB attachments, ${fmt(gen.largeBytes / MB)} MB) in ${fmt(gen.seconds, 1)} s`);
  const idx = await execChecked('doveadm', ['-c', conf, 'force-resync', '-u', USER, 'INBOX']);
  const status = await execChecked('doveadm', ['-c', conf, '-f', 'flow', 'mailbox', 'status', '-u', USER, 'messages vsize', 'INBOX'], { keepStdout: true });
  const messages = Number(/messages=(\d+)/.exec(status.stdout)?.[1]);
  const vsize = Number(/vsize=(\d+)/.exec(status.stdout)?.[1]);
  if (messages !== COUNT) throw new Error(`Dovecot indexed ${messages} messages, expected ${COUNT}: ${status.stdout}`);
  if (vsize !== gen.imapBytes) throw new Error(`Dovecot reports vsize ${vsize}, the generator wrote ${gen.imapBytes}`);
  out(`Dovecot indexed them in ${fmt(idx.seconds, 2)} s (doveadm force-resync): ${messages} messages, vsize ${vsize}`);
  let warmSeconds: number | null = null;
  if (!args.cold) {
    // What the two clients ask for, once, so that neither pays for Dovecot's first parse of the
    // folder nor for reading the files from disk: ENVELOPE/BODYSTRUCTURE (Mailroom's summaries)
    // and the full text (both download it).
    const warm = await execChecked('doveadm', ['-c', conf, 'fetch', '-u', USER, 'uid flags size.virtual date.received imap.envelope imap.bodystructure text', 'mailbox', 'INBOX']);
    warmSeconds = warm.seconds;
    out(`warm-up (doveadm fetch envelope, bodystructure and text of every message): ${fmt(warm.seconds, 2)} s`);
  }
  return { ...gen, indexSeconds: idx.seconds, warmSeconds };
}

interface MailroomRun {
  seconds: number;
  archived: number;
  duplicates: number;
  failed: number;
  skipped: number;
  bytes: number;
  msgsPerSec: number;
  mbPerSec: number;
  peakRss: number;
  rssBefore: number;
  maxRss: number;
  cpuSeconds: number;
  cpuUserSeconds: number;
  cpuSystemSeconds: number;
  /** Pages the process touched for the first time since they were mapped. */
  minorFaults: number;
  dovecotCpuSeconds: number;
  timing: Timing;
}

async function setupMailroom(peer: DovecotPeer, dataDir: string): Promise<{ app: App; orgId: string }> {
  const config = loadConfig({ MAILROOM_DATA: dataDir });
  const app = await openApp(config, createLogger('silent'));
  const org = await app.orgs.ensureOrg('default');
  const cabinet = await app.archive.ensureCabinet(org.id, 'Bench');
  const service = await app.connect.services.create(org.id, { name: 'dovecot', kind: 'imap', host: peer.host, port: peer.imapPort, security: 'none' });
  const account = await app.connect.accounts.create(org.id, { name: 'alice', serviceId: service.id, username: USER, password: PASSWORD });
  await app.connect.rules.create(org.id, { name: 'bench', accountId: account.id, cabinetId: cabinet.id, folders: ['INBOX'], action: { type: 'none' } });
  return { app, orgId: org.id };
}

async function runSync(app: App, orgId: string, peer: DovecotPeer, profiler: PhaseProfiler | null = null): Promise<MailroomRun & { profile: ProfileSummary | null }> {
  timing = newTiming();
  await profiler?.start();
  const sampler = new RssSampler();
  const cpu0 = process.cpuUsage();
  const faults0 = process.resourceUsage().minorPageFault;
  const dv0 = await dovecotCpu(peer);
  let bytes = 0;
  const t0 = now();
  const summary = await app.connect.sync(orgId, 'bench', (p) => {
    bytes = p.bytes;
  });
  const seconds = (now() - t0) / 1000;
  const peakRss = sampler.stop();
  const cpu = process.cpuUsage(cpu0);
  const minorFaults = process.resourceUsage().minorPageFault - faults0;
  const profile = profiler ? await profiler.stop(args['profile-file'] ?? null) : null;
  const dovecotCpuSeconds = await dovecotCpuSince(peer, dv0);
  const done = summary.archived + summary.duplicates;
  return {
    seconds,
    archived: summary.archived,
    duplicates: summary.duplicates,
    failed: summary.failed,
    skipped: summary.skipped,
    bytes,
    msgsPerSec: done / seconds,
    mbPerSec: bytes / MB / seconds,
    peakRss,
    rssBefore: sampler.atStart,
    maxRss: process.resourceUsage().maxRSS * 1024,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    cpuUserSeconds: cpu.user / 1e6,
    cpuSystemSeconds: cpu.system / 1e6,
    minorFaults,
    dovecotCpuSeconds,
    timing,
    profile,
  };
}

interface MbsyncRun {
  seconds: number;
  messages: number;
  msgsPerSec: number;
  mbPerSec: number;
  cpuSeconds: number;
  dovecotCpuSeconds: number;
  version: string;
}

async function countFiles(dir: string): Promise<number> {
  let n = 0;
  for (const sub of ['cur', 'new']) {
    try {
      n += (await readdir(path.join(dir, sub))).length;
    } catch {
      // not there
    }
  }
  return n;
}

async function runMbsync(peer: DovecotPeer, root: string, imapBytes: number): Promise<MbsyncRun> {
  await ensurePackages(['isync']);
  const version = (await execChecked('mbsync', ['--version'], { keepStdout: true })).stdout.trim();
  const near = path.join(root, 'mbsync');
  await mkdir(near, { recursive: true });
  const rc = path.join(root, 'mbsyncrc');
  await writeFile(
    rc,
    [
      // mbsync's default is FSync yes (fsync every message), like Mailroom's blob store.
      `FSync ${args['mbsync-no-fsync'] ? 'no' : 'yes'}`,
      '',
      'IMAPAccount bench',
      `Host ${peer.host}`,
      `Port ${peer.imapPort}`,
      `User ${USER}`,
      `Pass ${PASSWORD}`,
      'SSLType None',
      'AuthMechs LOGIN',
      '',
      'IMAPStore bench-far',
      'Account bench',
      '',
      'MaildirStore bench-near',
      `Path ${near}/`,
      `Inbox ${near}/INBOX`,
      'SubFolders Verbatim',
      '',
      'Channel bench',
      'Far :bench-far:',
      'Near :bench-near:',
      'Patterns INBOX',
      'Sync Pull',
      'Create Near',
      'SyncState *',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  const dv0 = await dovecotCpu(peer);
  const cpu0 = childrenCpu();
  // HOME points into the temp dir: mbsync must not read or write anything of the user's.
  const r = await exec('mbsync', ['-c', rc, '-a'], { env: { ...process.env, HOME: root } });
  const cpuSeconds = childrenCpu() - cpu0;
  const dovecotCpuSeconds = await dovecotCpuSince(peer, dv0);
  if (r.code !== 0) throw new Error(`mbsync exited ${r.code}: ${r.stderr.trim()}`);
  const messages = await countFiles(path.join(near, 'INBOX'));
  if (messages !== COUNT) throw new Error(`mbsync stored ${messages} messages, expected ${COUNT}: ${r.stderr.trim()}`);
  return { seconds: r.seconds, messages, msgsPerSec: messages / r.seconds, mbPerSec: imapBytes / MB / r.seconds, cpuSeconds, dovecotCpuSeconds, version };
}

interface GatewayRun {
  seconds: number;
  messages: number;
  bytes: number;
  msgsPerSec: number;
  mbPerSec: number;
  changesSeconds: number;
  cpuSeconds: number;
}

/**
 * The folder through the gateway alone, as the engine drives it (changes() then one fetchRaw()
 * per message, each consumed before the next), without archiving anything.
 */
async function runGatewayOnly(peer: DovecotPeer): Promise<GatewayRun> {
  timing = newTiming();
  const cpu0 = process.cpuUsage();
  const t0 = now();
  const source = await openImapSource({ host: peer.host, port: peer.imapPort, security: 'none', tls: { mode: 'verify' }, auth: { type: 'basic', user: USER, password: PASSWORD } });
  let messages = 0;
  let bytes = 0;
  try {
    const refs: MessageRef[] = [];
    const drainRefs = async (): Promise<void> => {
      for (const ref of refs.splice(0)) {
        for await (const chunk of await source.fetchRaw(ref)) bytes += (chunk as Buffer).length;
        messages++;
      }
    };
    // What the engine asks for with the bench's rule (no filter, no field mapping).
    for await (const change of source.changes('INBOX', null, summaryDetailFor({}, {}))) {
      if (change.type !== 'new') continue;
      refs.push(change.message.ref);
      if (refs.length >= 50) await drainRefs();
    }
    await drainRefs();
  } finally {
    await source.close();
  }
  const seconds = (now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { seconds, messages, bytes, msgsPerSec: messages / seconds, mbPerSec: bytes / MB / seconds, changesSeconds: timing.changes / 1000, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}

// ---------------------------------------------------------------------------------------------

function breakdownRows(r: MailroomRun): Array<[string, number]> {
  const t = r.timing;
  const ms = (x: number): number => x;
  const ingestRest = t.ingest - t.blobCommit - t.insertMany;
  const overlap = t.changes + t.fetchRaw + t.ingest + t.syncRepo - t.busy;
  const other = r.seconds * 1000 - t.busy;
  return [
    ['IMAP: SELECT, UID SEARCH, summary FETCHes (changes())', ms(t.changes)],
    [`IMAP: raw message FETCHes (fetchRaw, ${t.fetchRawCalls} calls)`, ms(t.fetchRaw)],
    ['ingest: blob writes, parse, full-text terms', ms(ingestRest)],
    ['ingest: blob commit (fsync, rename, dir fsync)', ms(t.blobCommit)],
    ['ingest: documents.insertMany (SQLite transaction)', ms(t.insertMany)],
    [`sync ledger/cursor/lease/run rows (${t.syncRepoCalls} calls)`, ms(t.syncRepo)],
    ['minus overlap: rows above running at the same time', -ms(overlap)],
    ['other (login, LIST, engine)', ms(other)],
  ];
}

async function main(): Promise<void> {
  if (args['generate-into'] !== undefined) {
    const r = await generateMaildir(args['generate-into'], { count: COUNT, seed: SEED, owner: { uid: MAIL_UID, gid: MAIL_GID }, only: ONLY });
    process.stdout.write(JSON.stringify(r));
    return;
  }
  const started = new Date();
  await mkdir(args.dir, { recursive: true });
  const root = await mkdtemp(path.join(args.dir, 'mailroom-imap-bench-'));
  const machine = {
    nproc: os.availableParallelism(),
    cpu: os.cpus()[0]?.model ?? '?',
    ramGiB: round(os.totalmem() / 1024 ** 3, 1),
    node: process.version,
    kernel: `${os.platform()} ${os.release()}`,
    loadAverage: os.loadavg().map((l) => round(l, 2)),
    date: started.toISOString(),
  };
  out(`mailroom IMAP benchmark: ${COUNT} messages, seed ${SEED}${ONLY ? `, only ${ONLY} messages` : ''}${args.cold ? ', cold Dovecot' : ''}${args['no-read-ahead'] ? ', gateway read-ahead off' : ''}`);
  out(`machine: ${machine.nproc} CPUs (${machine.cpu}), ${machine.ramGiB} GiB RAM, node ${machine.node}, ${machine.kernel}, load ${machine.loadAverage.join(' ')}, ${machine.date}`);
  out(args['node-defaults'] ? 'runtime: Node defaults (--node-defaults)' : `runtime: ${TUNED_RUNTIME}`);
  instrumentGateway();
  const peer = await startDovecot({ users: [{ user: USER, password: PASSWORD }] });
  let app: App | null = null;
  try {
    const seeded = await seed(peer);
    const setup = await setupMailroom(peer, path.join(root, 'data'));
    app = setup.app;
    instrumentApp(app);

    out('');
    out('archiving with Mailroom (app.connect.sync) ...');
    const first = await runSync(app, setup.orgId, peer, args.profile || args['profile-file'] ? new PhaseProfiler() : null);
    out(`  ${first.archived} archived, ${first.duplicates} duplicates, ${first.failed} failed in ${fmt(first.seconds, 2)} s`);
    if (first.archived + first.duplicates !== COUNT || first.failed > 0) process.exitCode = 1;

    let mbsync: MbsyncRun | null = null;
    if (!args['no-mbsync']) {
      out('downloading with mbsync ...');
      mbsync = await runMbsync(peer, root, seeded.imapBytes);
      out(`  ${mbsync.messages} messages in ${fmt(mbsync.seconds, 2)} s (${mbsync.version})`);
    }

    out('re-sync of the unchanged folder ...');
    const again = await runSync(app, setup.orgId, peer);
    out(`  ${again.archived} archived, ${again.duplicates} duplicates, ${again.failed} failed in ${fmt(again.seconds, 3)} s`);
    if (again.archived !== 0 || again.failed > 0) process.exitCode = 1;
    await app.close();
    app = null;

    let gateway: GatewayRun | null = null;
    if (!args['no-gateway']) {
      out('downloading through the IMAP gateway alone (nothing archived) ...');
      gateway = await runGatewayOnly(peer);
      out(`  ${gateway.messages} messages in ${fmt(gateway.seconds, 2)} s`);
    }

    const ratio = mbsync ? first.msgsPerSec / mbsync.msgsPerSec : null;
    out('');
    out('| run | seconds | msgs/s | MB/s | CPU s (client) | CPU s (Dovecot) |');
    out('| --- | ---: | ---: | ---: | ---: | ---: |');
    out(`| Mailroom sync (archive) | ${fmt(first.seconds, 2)} | ${fmt(first.msgsPerSec, 0)} | ${fmt(first.mbPerSec, 1)} | ${fmt(first.cpuSeconds, 1)} | ${fmt(first.dovecotCpuSeconds, 1)} |`);
    if (mbsync) out(`| mbsync -a (download to Maildir) | ${fmt(mbsync.seconds, 2)} | ${fmt(mbsync.msgsPerSec, 0)} | ${fmt(mbsync.mbPerSec, 1)} | ${fmt(mbsync.cpuSeconds, 1)} | ${fmt(mbsync.dovecotCpuSeconds, 1)} |`);
    if (gateway) out(`| Mailroom IMAP gateway alone (no archiving) | ${fmt(gateway.seconds, 2)} | ${fmt(gateway.msgsPerSec, 0)} | ${fmt(gateway.mbPerSec, 1)} | ${fmt(gateway.cpuSeconds, 1)} | |`);
    out(`| Mailroom re-sync, unchanged folder | ${fmt(again.seconds, 3)} | | | ${fmt(again.cpuSeconds, 2)} | |`);
    out('');
    out(`ratio Mailroom/mbsync:  ${ratio === null ? '-' : fmt(ratio, 2)} (target >= 0.7)`);
    out(`re-sync unchanged:      ${fmt(again.seconds, 3)} s (target < 1 s)`);
    out(`CPU (sync):             ${fmt(first.cpuSeconds, 1)} s = ${fmt(first.cpuUserSeconds, 1)} s user + ${fmt(first.cpuSystemSeconds, 1)} s system, all threads (${fmt((first.cpuSeconds * 1000) / COUNT, 2)} ms per message); Dovecot ${fmt(first.dovecotCpuSeconds, 1)} s`);
    // On a virtual machine a page never touched before (or handed back to the host) costs
    // several microseconds to fault in: new memory is not free (docs/benchmarks.md).
    out(`page faults (sync):     ${first.minorFaults} minor (pages touched for the first time since mapped: ${fmt((first.minorFaults * 4096) / MB, 0)} MB)`);
    out(`peak RSS (sync):        ${fmt(first.peakRss / MB, 0)} MB sampled every 100 ms (${fmt(first.rssBefore / MB, 0)} MB before), maxRSS ${fmt(first.maxRss / MB, 0)} MB`);
    out(`data:                   ${COUNT} messages, ${fmt(seeded.imapBytes / MB)} MB (RFC822.SIZE sum), avg ${fmt(seeded.imapBytes / COUNT / 1024)} KB`);
    out('');
    out('where the Mailroom sync spends its wall time:');
    const rows = breakdownRows(first);
    for (const [name, ms] of rows) out(`  ${name.padEnd(58)} ${fmt(ms / 1000, 2).padStart(7)} s  ${fmt((100 * ms) / (first.seconds * 1000), 0).padStart(3)} %`);
    if (first.profile) {
      out('');
      out(`main-thread CPU profile of the Mailroom sync, by component (${fmt(first.profile.totalMs / 1000, 2)} s sampled${args['profile-file'] ? `, written to ${args['profile-file']}` : ''}):`);
      for (const c of first.profile.components) out(`  ${c.name.padEnd(76)} ${fmt(c.ms / 1000, 2).padStart(7)} s  ${fmt(100 * c.share, 0).padStart(3)} %`);
    }

    if (args.json) {
      const json = {
        command: `npm run bench:imap -- ${process.argv.slice(2).join(' ')}`.trim(),
        machine,
        messages: COUNT,
        seed: SEED,
        only: ONLY,
        readAhead: !args['no-read-ahead'],
        cold: args.cold,
        data: { bytesOnDisk: seeded.bytes, imapBytes: seeded.imapBytes, avgKB: round(seeded.imapBytes / COUNT / 1024, 1), large: seeded.large, largeBytes: seeded.largeBytes },
        seeding: { generateSeconds: round(seeded.seconds, 2), indexSeconds: round(seeded.indexSeconds, 2), warmSeconds: seeded.warmSeconds === null ? null : round(seeded.warmSeconds, 2) },
        mailroom: {
          seconds: round(first.seconds, 3),
          msgsPerSec: round(first.msgsPerSec, 1),
          mbPerSec: round(first.mbPerSec, 2),
          archived: first.archived,
          duplicates: first.duplicates,
          failed: first.failed,
          peakRssMB: round(first.peakRss / MB, 1),
          rssBeforeMB: round(first.rssBefore / MB, 1),
          maxRssMB: round(first.maxRss / MB, 1),
          cpuSeconds: round(first.cpuSeconds, 2),
          cpuUserSeconds: round(first.cpuUserSeconds, 2),
          cpuSystemSeconds: round(first.cpuSystemSeconds, 2),
          minorFaults: first.minorFaults,
          dovecotCpuSeconds: round(first.dovecotCpuSeconds, 2),
          breakdownSeconds: Object.fromEntries(rows.map(([k, v]) => [k, round(v / 1000, 3)])),
          profileSeconds: first.profile && Object.fromEntries(first.profile.components.map((c) => [c.name, round(c.ms / 1000, 3)])),
        },
        mbsync: mbsync && {
          version: mbsync.version,
          fsync: !args['mbsync-no-fsync'],
          seconds: round(mbsync.seconds, 3),
          msgsPerSec: round(mbsync.msgsPerSec, 1),
          mbPerSec: round(mbsync.mbPerSec, 2),
          cpuSeconds: round(mbsync.cpuSeconds, 2),
          dovecotCpuSeconds: round(mbsync.dovecotCpuSeconds, 2),
        },
        ratio: ratio === null ? null : round(ratio, 3),
        resync: { seconds: round(again.seconds, 3), archived: again.archived, cpuSeconds: round(again.cpuSeconds, 3) },
        gatewayOnly: gateway && {
          seconds: round(gateway.seconds, 3),
          msgsPerSec: round(gateway.msgsPerSec, 1),
          mbPerSec: round(gateway.mbPerSec, 2),
          changesSeconds: round(gateway.changesSeconds, 3),
          cpuSeconds: round(gateway.cpuSeconds, 2),
        },
      };
      process.stdout.write(JSON.stringify(json, null, 2) + '\n');
    }
  } finally {
    await app?.close().catch(() => undefined);
    await peer.stop();
    if (args.keep) out(`kept ${root}`);
    else await rm(root, { recursive: true, force: true });
  }
}

await main();
