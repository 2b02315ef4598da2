/**
 * Runs `bin/mailroom` as a user would: a child process with its own MAILROOM_DATA and no
 * secret key in the environment (so the key file is generated), output captured as bytes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadConfig } from '../../src/config/index.ts';
import { createLogger } from '../../src/log/index.ts';
import { openApp, type App } from '../../src/app.ts';

export const BIN = resolve(import.meta.dirname, '..', '..', 'bin', 'mailroom');

export interface RunResult {
  code: number | null;
  stdout: Buffer;
  /** stdout as UTF-8 */
  out: string;
  err: string;
}

/** The test's environment without any MAILROOM_* setting, plus the given ones. */
export function cliEnv(dataDir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('MAILROOM_')) env[k] = v;
  return { ...env, MAILROOM_DATA: dataDir, MAILROOM_LOG_LEVEL: 'warn', ...extra };
}

export async function tempDataDir(): Promise<{ dir: string; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'mr-cli-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export function run(dataDir: string, args: string[], options: { stdin?: string | Buffer; env?: Record<string, string> } = {}): Promise<RunResult> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: cliEnv(dataDir, options.env), stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', fail);
    child.on('close', (code) => {
      const stdout = Buffer.concat(out);
      done({ code, stdout, out: stdout.toString('utf8'), err: Buffer.concat(err).toString('utf8') });
    });
    child.stdin.end(options.stdin ?? '');
  });
}

/** Parses JSON Lines output. */
export function jsonLines<T = Record<string, unknown>>(text: string): T[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as T);
}

export interface ServeProcess {
  url: string;
  child: ChildProcess;
  /** stdout so far */
  stdout(): string;
  stderr(): string;
  /** Sends the signal and waits for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `mailroom serve` on a free port and waits for the line with its URL. */
export function serve(dataDir: string, args: string[] = [], env: Record<string, string> = {}): Promise<ServeProcess> {
  const child = spawn(process.execPath, [BIN, 'serve', '--host', '127.0.0.1', '--port', '0', ...args], {
    env: cliEnv(dataDir, env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
  return new Promise((done, fail) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(new Error(`serve did not print its URL within 30 s\nstdout: ${out}\nstderr: ${err}`));
    }, 30_000);
    child.stderr!.on('data', (c: Buffer) => (err += c.toString('utf8')));
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString('utf8');
      const m = /Mailroom listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        done({
          url: m[1]!,
          child,
          stdout: () => out,
          stderr: () => err,
          stop: async (signal = 'SIGTERM') => {
            if (child.exitCode === null && child.signalCode === null) child.kill(signal);
            return exited;
          },
        });
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      fail(new Error(`serve exited with ${code} before listening\nstdout: ${out}\nstderr: ${err}`));
    });
  });
}

/** Opens the app on a data directory in this process, as `serve` would (same key file, same database). */
export async function openTestApp(dataDir: string): Promise<App> {
  const config = loadConfig({ MAILROOM_DATA: dataDir });
  return openApp(config, createLogger('silent'));
}

/** Archives raw messages into a cabinet of an organisation (both created when missing); returns document ids. */
export async function archive(dataDir: string, orgName: string, cabinetName: string, raws: Buffer[]): Promise<string[]> {
  const app = await openTestApp(dataDir);
  try {
    const org = await app.orgs.ensureOrg(orgName);
    const cabinet = await app.archive.ensureCabinet(org.id, cabinetName);
    const outcomes = await app.archive.ingest(org.id, cabinet.id, raws.map((raw) => ({ raw, source: 'test' })));
    return outcomes.map((o) => {
      if (!o.ok) throw o.error;
      return o.id;
    });
  } finally {
    await app.close();
  }
}

/** A deterministic binary attachment (every byte value, several times). */
export const ATTACHMENT_BYTES = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7 + 3) % 256));

/**
 * A multipart message with a non-ASCII subject, a UTF-8 body and a binary PDF-named attachment.
 * Mixed line endings are not used: CRLF throughout, as on the wire.
 */
export function sampleMessage(opts: { messageId: string; subject: string; from?: string; body?: string; date?: string }): Buffer {
  const b64 = ATTACHMENT_BYTES.toString('base64').replace(/.{76}/g, '$&\r\n');
  const subject = `=?UTF-8?B?${Buffer.from(opts.subject, 'utf8').toString('base64')}?=`;
  return Buffer.from(
    [
      `From: ${opts.from ?? 'Jürgen Müller <juergen@example.org>'}`,
      'To: Archive <archive@example.com>',
      `Subject: ${subject}`,
      `Date: ${opts.date ?? 'Tue, 14 May 2024 10:30:00 +0200'}`,
      `Message-ID: <${opts.messageId}>`,
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="XyZ"',
      '',
      '--XyZ',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: 8bit',
      '',
      opts.body ?? 'Grüße aus Köln, anbei die Rechnung.',
      '--XyZ',
      'Content-Type: application/pdf; name="rechnung.pdf"',
      'Content-Disposition: attachment; filename="rechnung.pdf"',
      'Content-Transfer-Encoding: base64',
      '',
      b64,
      '--XyZ--',
      '',
    ].join('\r\n'),
    'utf8',
  );
}
