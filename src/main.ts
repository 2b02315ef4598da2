/**
 * The server entry: loads the config once, opens the app, bootstraps the first administrator,
 * and serves the API. `mailroom serve` and the tests share it.
 */
import type { AddressInfo } from 'node:net';
import { buildApi } from './api/index.ts';
import { openApp, type App } from './app.ts';
import { loadConfig, type Config } from './config/index.ts';
import { AppError } from './errors/index.ts';
import { createLogger, type Logger } from './log/index.ts';

export interface ServerOptions {
  /** Environment to read the config from (default `process.env`). */
  env?: Record<string, string | undefined>;
  /** Overrides MAILROOM_HOST. */
  host?: string | undefined;
  /** Overrides MAILROOM_PORT; 0 picks a free port. */
  port?: number | undefined;
  /** Default: a pino logger on stderr at the configured level. */
  log?: Logger;
}

export interface RunningServer {
  /** Where the API answers, e.g. `http://127.0.0.1:8080` (the real port when 0 was asked for). */
  readonly url: string;
  readonly app: App;
  /** The first administrator created by this start, with its password; null on later starts. */
  readonly bootstrap: { email: string; password: string } | null;
  /** Stops accepting connections, lets running requests finish, then closes the app. Idempotent. */
  close(): Promise<void>;
}

function hostForUrl(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/** Listening fails mostly for reasons the operator fixes in the config; say which. */
async function listen(api: Awaited<ReturnType<typeof buildApi>>, config: Config): Promise<void> {
  try {
    await api.listen({ host: config.host, port: config.port });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const where = `${config.host}:${config.port}`;
    const fix = 'choose another with --host/--port or MAILROOM_HOST/MAILROOM_PORT';
    if (code === 'EADDRINUSE') throw new AppError('CONFIG_INVALID', `Port ${config.port} on ${config.host} is already in use; stop the other server or ${fix}.`, { cause: err });
    if (code === 'EACCES') throw new AppError('CONFIG_INVALID', `Not allowed to listen on ${where} (ports below 1024 need privileges); ${fix}.`, { cause: err });
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw new AppError('CONFIG_INVALID', `Cannot listen on ${where}: ${config.host} is not an address of this machine; ${fix}.`, { cause: err });
    throw err;
  }
}

export async function startServer(options: ServerOptions = {}): Promise<RunningServer> {
  // Overrides go through the same validation as the environment.
  const overrides: Partial<Config> = {};
  if (options.host !== undefined) overrides.host = options.host;
  if (options.port !== undefined) overrides.port = options.port;
  const config = loadConfig(options.env ?? process.env, overrides);
  const log = options.log ?? createLogger(config.logLevel);
  const app = await openApp(config, log);
  let api: Awaited<ReturnType<typeof buildApi>> | undefined;
  try {
    api = await buildApi(app);
    await listen(api, config);
    // Only once the server listens: a start that fails earlier must not consume the one-time password.
    const bootstrap = await app.orgs.bootstrapAdmin();
    if (bootstrap) log.info({ email: bootstrap.email }, 'created the first administrator');
    // Import rules run on their schedule (and on IMAP IDLE) for as long as the server runs.
    await app.connect.scheduler.start();
    // Queued mail is sent, and subscribers notified, for as long as the server runs; app.close() stops both.
    app.outbox.worker.start();
    await app.notifications.notifier.start();
    const port = (api.server.address() as AddressInfo).port;
    const url = `http://${hostForUrl(config.host)}:${port}`;
    log.info({ url, database: app.store.db.description, dataDir: config.dataDir }, 'Mailroom listening');
    const server = api;
    let closing: Promise<void> | undefined;
    return {
      url,
      app,
      bootstrap,
      close: () =>
        (closing ??= (async () => {
          log.info('shutting down');
          try {
            await app.connect.scheduler.stop();
            await server.close();
          } finally {
            await app.close();
          }
          log.info('stopped');
        })()),
    };
  } catch (err) {
    try {
      if (api) await api.close();
    } finally {
      await app.close();
    }
    throw err;
  }
}
