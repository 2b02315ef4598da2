import { loadConfig } from '../config/index.ts';
import { createLogger, type Logger } from '../log/index.ts';
import { openApp, type App } from '../app.ts';
import { DEFAULT_ORG, type OrgView } from '../orgs/index.ts';

/** Options every command accepts. */
export interface GlobalOptions {
  org?: string;
  json?: boolean;
}

/** Output goes through here so tests can capture it and JSON stays on stdout alone. */
export interface Io {
  out(line: string): void;
  err(line: string): void;
  writeRaw(chunk: Buffer | string): Promise<void>;
  readonly stdoutIsTty: boolean;
  readonly stderrIsTty: boolean;
  readStdin(): Promise<string>;
  env: Record<string, string | undefined>;
}

export const processIo: Io = {
  out: (line) => process.stdout.write(line + '\n'),
  err: (line) => process.stderr.write(line + '\n'),
  writeRaw: (chunk) => new Promise((resolve, reject) => process.stdout.write(chunk, (e) => (e ? reject(e) : resolve()))),
  stdoutIsTty: Boolean(process.stdout.isTTY),
  stderrIsTty: Boolean(process.stderr.isTTY),
  readStdin: async () => {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  },
  env: process.env,
};

let cached: { app: App; log: Logger } | undefined;

/** Opens the app once per CLI invocation (config from the environment). */
export async function useApp(io: Io): Promise<App> {
  if (cached) return cached.app;
  const config = loadConfig(io.env);
  // CLI commands log only warnings by default; progress and results are printed, not logged.
  const log = createLogger(io.env['MAILROOM_LOG_LEVEL'] ?? 'warn');
  const app = await openApp(config, log);
  cached = { app, log };
  return app;
}

export async function closeApp(): Promise<void> {
  if (cached) await cached.app.close();
  cached = undefined;
}

/** The organisation a command works on: `--org`, else `default` (created on first use). */
export async function resolveOrg(app: App, name: string | undefined): Promise<OrgView> {
  if (name === undefined || name === DEFAULT_ORG) return app.orgs.ensureOrg(DEFAULT_ORG);
  return app.orgs.orgByName(name);
}
