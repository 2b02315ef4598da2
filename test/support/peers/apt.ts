/**
 * Shared helper for the private test peers: install missing Debian packages
 * without leaving system-wide daemons running.
 *
 * Runs as root on Debian 12. Only packages that `dpkg-query` reports as not
 * installed are installed; `apt-get update` runs at most once per process.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, connect as netConnect } from 'node:net';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string | Buffer;
  env?: NodeJS.ProcessEnv;
  /** Stream the child's output to our stderr (for long installs). */
  echo?: boolean;
  /**
   * The command daemonizes (its forked child keeps our stdout/stderr pipes
   * open): resolve when the command itself exits instead of waiting for EOF.
   */
  daemon?: boolean;
}

/** Run a command without a shell; never rejects on a non-zero exit code. */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => {
      out.push(c);
      if (opts.echo) process.stderr.write(c);
    });
    child.stderr.on('data', (c: Buffer) => {
      err.push(c);
      if (opts.echo) process.stderr.write(c);
    });
    child.on('error', reject);
    child.stdin.on('error', () => undefined); // EPIPE when the child exits early; see its exit code
    let settled = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (settled) return;
      settled = true;
      if (opts.daemon) {
        child.stdout.destroy();
        child.stderr.destroy();
      }
      resolve({
        code: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    };
    child.on('close', finish);
    if (opts.daemon) {
      // Give already-written output a moment to arrive, then stop listening.
      child.on('exit', (code, signal) => setTimeout(() => finish(code, signal), 100));
    }
    child.stdin.end(opts.input ?? '');
  });
}

/** Like run() but throws with the output when the exit code is not 0. */
export async function runChecked(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`.trim());
  }
  return r;
}

function log(msg: string): void {
  process.stderr.write(`[peers/apt] ${msg}\n`);
}

/** Packages among `pkgs` that dpkg does not report as "install ok installed". */
export async function missingPackages(pkgs: string[]): Promise<string[]> {
  const missing: string[] = [];
  for (const p of pkgs) {
    const r = await run('dpkg-query', ['-W', '-f=${Status}', p]);
    if (r.code !== 0 || !r.stdout.includes('install ok installed')) missing.push(p);
  }
  return missing;
}

const POLICY_RC_D = '/usr/sbin/policy-rc.d';
const APT_ENV: NodeJS.ProcessEnv = {
  ...process.env,
  DEBIAN_FRONTEND: 'noninteractive',
  DEBCONF_NONINTERACTIVE_SEEN: 'true',
};
// Wait for a concurrent apt/dpkg (another test process) instead of failing.
const LOCK_WAIT = ['-o', 'DPkg::Lock::Timeout=600'];

/** System-wide daemons the packages may start, and how to stop them. */
const SYSTEM_DAEMONS = [
  { name: 'dovecot', pidFile: '/run/dovecot/master.pid', stop: ['service', 'dovecot', 'stop'] },
  { name: 'postfix', pidFile: '/var/spool/postfix/pid/master.pid', stop: ['postfix', 'stop'] },
] as const;

function systemDaemonRunning(pidFile: string): boolean {
  try {
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 && isAlive(pid);
  } catch {
    return false;
  }
}

/** run() that ignores every failure, including a missing command. */
async function runQuiet(cmd: string, args: string[]): Promise<void> {
  try {
    await run(cmd, args);
  } catch {
    // ignored on purpose
  }
}

let updated = false;
/** Serialises installs inside this process (peers may start concurrently). */
let queue: Promise<unknown> = Promise.resolve();

/**
 * Ensure the Debian packages are installed. Installs only the missing ones,
 * with daemon start-up suppressed by a temporary policy-rc.d (exit 101).
 * Afterwards any system dovecot/postfix that got started anyway is stopped.
 */
export function ensurePackages(pkgs: string[]): Promise<void> {
  const job = queue.then(() => ensureNow(pkgs));
  queue = job.catch(() => undefined);
  return job;
}

async function ensureNow(pkgs: string[]): Promise<void> {
  const missing = await missingPackages(pkgs);
  if (missing.length === 0) return;
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new Error(`missing Debian packages ${missing.join(' ')}; installing them needs root`);
  }
  const started = Date.now();
  const wasRunning = new Map(SYSTEM_DAEMONS.map((d) => [d.name, systemDaemonRunning(d.pidFile)]));
  let createdPolicy = false;
  if (!existsSync(POLICY_RC_D)) {
    await writeFile(POLICY_RC_D, '#!/bin/sh\n# temporary, written by mailroom test/support/peers/apt.ts\nexit 101\n');
    await chmod(POLICY_RC_D, 0o755);
    createdPolicy = true;
  }
  try {
    if (!updated) {
      log('apt-get update');
      await runChecked('apt-get', [...LOCK_WAIT, 'update'], { env: APT_ENV, echo: true });
      updated = true;
    }
    await runChecked('debconf-set-selections', [], {
      input: 'postfix postfix/main_mailer_type select No configuration\n',
      env: APT_ENV,
    });
    log(`apt-get install ${missing.join(' ')}`);
    await runChecked(
      'apt-get',
      [...LOCK_WAIT, 'install', '-y', '--no-install-recommends', ...missing],
      { env: APT_ENV, echo: true },
    );
  } finally {
    if (createdPolicy) await rm(POLICY_RC_D, { force: true });
  }
  // Belt and braces: a system-wide daemon the packages started anyway (no
  // policy-rc.d honoured) must not keep running on the standard ports. Only
  // daemons that were not running before the install are stopped.
  for (const d of SYSTEM_DAEMONS) {
    if (!wasRunning.get(d.name) && systemDaemonRunning(d.pidFile)) {
      log(`stopping the system ${d.name} started by the package install`);
      await runQuiet(d.stop[0], d.stop.slice(1));
    }
  }
  const still = await missingPackages(pkgs);
  if (still.length > 0) throw new Error(`packages still missing after install: ${still.join(' ')}`);
  log(`installed ${missing.join(' ')} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

// ---------------------------------------------------------------------------
// Small process/network helpers shared by the peers.
// ---------------------------------------------------------------------------

/** A free TCP port on 127.0.0.1 (bind port 0, read it back, close). */
export function freePort(exclude: ReadonlySet<number> = new Set()): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => {
        if (port === 0) reject(new Error('could not determine a free port'));
        else if (exclude.has(port)) freePort(exclude).then(resolve, reject);
        else resolve(port);
      });
    });
  });
}

/** `n` distinct free ports. */
export async function freePorts(n: number): Promise<number[]> {
  const got = new Set<number>();
  while (got.size < n) got.add(await freePort(got));
  return [...got];
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Wait until host:port accepts a connection and sends a first line
 * (a greeting) starting with `greetingPrefix` (if given).
 */
export async function waitForPort(
  host: string,
  port: number,
  timeoutMs: number,
  greetingPrefix?: string,
  stillAlive?: () => Promise<string | undefined>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastErr = '';
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const sock = netConnect({ host, port });
      let buf = '';
      const done = (v: boolean, why = ''): void => {
        if (why) lastErr = why;
        sock.destroy();
        resolve(v);
      };
      sock.setTimeout(2000, () => done(false, 'timeout waiting for greeting'));
      sock.on('error', (e) => done(false, e.message));
      sock.on('connect', () => {
        if (greetingPrefix === undefined) done(true);
      });
      sock.on('data', (c: Buffer) => {
        buf += c.toString('latin1');
        if (buf.includes('\n')) {
          if (greetingPrefix === undefined || buf.startsWith(greetingPrefix)) done(true);
          else done(false, `unexpected greeting ${JSON.stringify(buf)}`);
        }
      });
    });
    if (ok) return;
    if (stillAlive) {
      const dead = await stillAlive();
      if (dead !== undefined) throw new Error(`server died while waiting for ${host}:${port}: ${dead}`);
    }
    await sleep(50);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${host}:${port}: ${lastErr}`);
}

interface ProcInfo {
  pid: number;
  ppid: number;
}

async function listProcs(): Promise<ProcInfo[]> {
  const out: ProcInfo[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = await readFile(`/proc/${name}/stat`, 'utf8');
      // pid (comm) state ppid ... ; comm may contain spaces/parens.
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ppid = Number(rest[1]);
      if (rest[0] !== 'Z' && rest[0] !== 'X') out.push({ pid: Number(name), ppid });
    } catch {
      // process vanished
    }
  }
  return out;
}

/**
 * Whether `pid` is a running process. Zombies count as dead: once Dovecot's or
 * Postfix's master exits, its children are reparented to PID 1, which in this
 * VM reaps them only after a second or two.
 */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** `pid` and all its live descendants. */
export async function processTree(pid: number): Promise<number[]> {
  if (!isAlive(pid)) return [];
  const procs = await listProcs();
  const result = [pid];
  for (let i = 0; i < result.length; i++) {
    for (const p of procs) if (p.ppid === result[i] && !result.includes(p.pid)) result.push(p.pid);
  }
  return result;
}

/** Live pids whose command line or environment mentions `needle`. */
export async function pidsMentioning(needle: string): Promise<number[]> {
  const hits: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const cmd = await readFile(`/proc/${name}/cmdline`);
      let env = Buffer.alloc(0);
      try {
        env = await readFile(`/proc/${name}/environ`);
      } catch {
        // not readable
      }
      if (cmd.includes(needle) || env.includes(needle)) hits.push(Number(name));
    } catch {
      // vanished
    }
  }
  return hits;
}

/** Wait for the pids to exit; SIGKILL what is left after `graceMs`. */
export async function reap(pids: number[], graceMs: number): Promise<void> {
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && pids.some(isAlive)) await sleep(25);
  for (const pid of pids) {
    if (isAlive(pid)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  const hard = Date.now() + 2000;
  while (Date.now() < hard && pids.some(isAlive)) await sleep(25);
}

/** The pid a daemon wrote to its pid file; undefined while there is none. */
export async function readPidFile(file: string): Promise<number | undefined> {
  try {
    const n = Number((await readFile(file, 'utf8')).trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** A daemon's log; '' while there is none. */
export async function readLogFile(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    return '';
  }
}

/** The last lines of a daemon's log, for an error message. */
export async function logTailOf(file: string, lines = 30): Promise<string> {
  const log = await readLogFile(file);
  return log === '' ? '(no log)' : log.split('\n').slice(-lines).join('\n');
}

/**
 * What a peer's start does when it fails: stops whatever was started, then throws the cause
 * with the end of the peer's log, which usually says why.
 */
export async function failStart(peer: string, logFile: string, err: unknown, stop: () => Promise<void>): Promise<never> {
  const tail = await logTailOf(logFile);
  await stop();
  const msg = err instanceof Error ? err.message : String(err);
  throw new Error(`starting the ${peer} peer failed: ${msg}\n--- ${logFile} ---\n${tail}`, { cause: err });
}
