/**
 * A private PostgreSQL cluster for tests (Debian's `postgresql` package, run as root or not).
 *
 * Everything lives in one fresh temp dir: the cluster in `<dir>/data`, the unix socket in
 * `<dir>`, the server log in `<dir>/server.log`. The server listens on a free high loopback
 * port with trust authentication for the `postgres` superuser; fsync is off (test data only).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chown, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { ensurePackages, freePort } from './apt.ts';

export interface PostgresPeer {
  /** Admin url (superuser `postgres`, database `postgres`). */
  url: string;
  port: number;
  /** Temp dir holding the cluster, socket and log. */
  dir: string;
  stop(): Promise<void>;
  /** Creates `mr_<random>` and returns its url. */
  createDatabase(): Promise<string>;
}

interface Result {
  code: number;
  output: string;
}

function log(msg: string): void {
  process.stderr.write(`[peers/postgres] ${msg}\n`);
}

const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** Runs a PostgreSQL tool, through `runuser -u postgres` when we are root (initdb refuses root). */
function pgTool(bin: string, args: string[], cwd: string): Promise<Result> {
  const [cmd, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
  return new Promise((resolve, reject) => {
    // stdin ignored; pg_ctl is always given -l so the server never holds our pipes open.
    const child = spawn(cmd, argv, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.stderr.on('data', (c: Buffer) => chunks.push(c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, output: Buffer.concat(chunks).toString('utf8') }));
  });
}

async function newestBinDir(): Promise<string> {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? await readdir(root) : [];
  const bins = versions
    .filter((v) => /^\d+(\.\d+)?$/.test(v) && existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  if (bins[0] === undefined) throw new Error(`no PostgreSQL server found under ${root}/*/bin`);
  return join(root, bins[0], 'bin');
}

async function tail(file: string): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).split('\n').slice(-20).join('\n');
  } catch {
    return '(no server log)';
  }
}

export async function startPostgres(): Promise<PostgresPeer> {
  await ensurePackages(['postgresql']);
  const bin = await newestBinDir();
  const dir = await mkdtemp(join(tmpdir(), 'mr-pg-'));
  const data = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  let running = false;
  try {
    if (asRoot) {
      const id = await pgTool('id', ['-u'], dir);
      const gid = await pgTool('id', ['-g'], dir);
      await chown(dir, Number(id.output.trim()), Number(gid.output.trim()));
    }
    const initdb = join(bin, 'initdb');
    const common = ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8'];
    let init = await pgTool(initdb, [...common, '--locale=C.UTF-8'], dir);
    if (init.code !== 0) {
      await rm(data, { recursive: true, force: true });
      init = await pgTool(initdb, [...common, '--locale=C'], dir);
    }
    if (init.code !== 0) throw new Error(`initdb failed (${init.code}):\n${init.output}`);

    const pgCtl = join(bin, 'pg_ctl');
    let port = 0;
    // A port found free can be taken before the server binds it; try a few.
    for (let attempt = 1; !running; attempt++) {
      port = await freePort();
      const opts = `-k ${dir} -p ${port} -c listen_addresses=127.0.0.1 -c fsync=off`;
      const start = await pgTool(pgCtl, ['-D', data, '-l', logFile, '-o', opts, '-w', 'start'], dir);
      if (start.code === 0) running = true;
      else if (attempt >= 3) throw new Error(`pg_ctl start failed (${start.code}):\n${start.output}\n${await tail(logFile)}`);
    }

    const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
    let stopped: Promise<void> | undefined;
    return {
      url,
      port,
      dir,
      stop: () =>
        (stopped ??= (async () => {
          const r = await pgTool(pgCtl, ['-D', data, '-m', 'fast', '-w', 'stop'], dir);
          if (r.code !== 0) log(`pg_ctl stop failed (${r.code}): ${r.output.trim()}`);
          await rm(dir, { recursive: true, force: true });
        })()),
      async createDatabase() {
        const name = `mr_${randomBytes(6).toString('hex')}`;
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        try {
          await client.query(`CREATE DATABASE ${name}`);
        } finally {
          await client.end();
        }
        const u = new URL(url);
        u.pathname = `/${name}`;
        return u.toString();
      },
    };
  } catch (err) {
    if (running) await pgTool(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop'], dir);
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
