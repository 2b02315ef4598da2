import type { Command } from 'commander';
import type { RunningServer } from '../../main.ts';
import type { Io } from '../context.ts';
import { box, parseInteger } from '../format.ts';

/**
 * Resolves on the first SIGINT or SIGTERM. The handlers are removed then, so a second signal
 * ends the process the default way when a graceful shutdown hangs.
 */
function shutdownSignal(): { received: Promise<NodeJS.Signals>; dispose(): void } {
  let onSignal: (signal: NodeJS.Signals) => void = () => {};
  const dispose = () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
  const received = new Promise<NodeJS.Signals>((resolve) => {
    onSignal = (signal) => {
      dispose();
      resolve(signal);
    };
  });
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return { received, dispose };
}

export function registerServeCommand(program: Command, io: Io): void {
  program
    .command('serve')
    .description('run the API server (config from MAILROOM_* environment variables) until SIGINT/SIGTERM')
    .option('--host <host>', 'interface to listen on (default MAILROOM_HOST or 127.0.0.1)')
    .option('--port <port>', 'port to listen on, 0 for any free one (default MAILROOM_PORT or 8080)')
    .action(async (opts: { host?: string; port?: string }) => {
      // Listen before the server starts so a signal during start-up still shuts down cleanly.
      const stop = shutdownSignal();
      let server: RunningServer;
      try {
        // Loaded here so other commands do not pay for loading the HTTP stack.
        const { startServer } = await import('../../main.ts');
        server = await startServer({
          env: io.env,
          host: opts.host,
          port: opts.port === undefined ? undefined : parseInteger('--port', opts.port, 0, 65535),
        });
      } catch (err) {
        stop.dispose();
        throw err;
      }
      if (server.bootstrap) {
        for (const line of box([
          'First start: created the administrator account',
          '',
          `  e-mail:   ${server.bootstrap.email}`,
          `  password: ${server.bootstrap.password}`,
          '',
          'Save this password now; it is not shown again.',
        ])) {
          io.out(line);
        }
      }
      io.out(`Mailroom listening on ${server.url}`);
      const signal = await stop.received;
      server.app.log.info({ signal }, 'received signal');
      await server.close();
    });
}
