/**
 * The test entry point (`npm test`, optionally `npm test -- test/store test/crypto/x.test.ts`).
 * Starts a private PostgreSQL (unless MAILROOM_TEST_PG_URL is already set), runs every
 * `*.test.ts` under the given paths (default `test/`) with Node's test runner and the spec
 * reporter, always stops PostgreSQL, and exits with the runner's exit code.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, stat } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { startPostgres, type PostgresPeer } from '../test/support/peers/postgres.ts';

const root = resolve(import.meta.dirname, '..');

async function findTests(path: string): Promise<string[]> {
  if (!(await stat(path)).isDirectory()) return [path];
  const out: string[] = [];
  for (const e of await readdir(path, { withFileTypes: true, recursive: true })) {
    if (e.isFile() && e.name.endsWith('.test.ts')) out.push(join(e.parentPath, e.name));
  }
  return out;
}

function note(msg: string): void {
  process.stderr.write(`[test] ${msg}\n`);
}

let peer: PostgresPeer | undefined;
let child: ChildProcess | undefined;
let stopping: Promise<void> | undefined;

function stopPeers(): Promise<void> {
  return (stopping ??= (async () => {
    if (!peer) return;
    const started = Date.now();
    await peer.stop();
    note(`PostgreSQL stopped (${Date.now() - started} ms)`);
  })());
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill(sig);
    else void stopPeers().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  });
}

let code = 1;
try {
  const args = process.argv.slice(2);
  const found = await Promise.all((args.length > 0 ? args : ['test']).map((a) => findTests(resolve(root, a))));
  const files = [...new Set(found.flat())].map((f) => relative(root, f)).sort();
  if (files.length === 0) throw new Error(`no *.test.ts files under ${args.join(' ') || 'test'}`);

  const env = { ...process.env };
  if (!env.MAILROOM_TEST_PG_URL) {
    const started = Date.now();
    peer = await startPostgres();
    env.MAILROOM_TEST_PG_URL = peer.url;
    note(`PostgreSQL started on 127.0.0.1:${peer.port} in ${peer.dir} (${Date.now() - started} ms)`);
  }
  const runner = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', ...files], {
    cwd: root,
    env,
    stdio: 'inherit',
  });
  child = runner;
  code = await new Promise<number>((done, fail) => {
    runner.on('error', fail);
    runner.on('exit', (c, s) => done(c ?? (s === 'SIGINT' ? 130 : s === 'SIGTERM' ? 143 : 1)));
  });
} catch (err) {
  note(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  code = 1;
} finally {
  await stopPeers();
}
process.exit(code);
