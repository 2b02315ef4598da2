import { Command, CommanderError } from 'commander';
import { isAppError } from '../errors/index.ts';
import { closeApp, processIo, type Io } from './context.ts';
import { registerAdminCommands } from './commands/admin.ts';
import { registerBlobCommands } from './commands/blobs.ts';
import { registerCabinetCommands } from './commands/cabinets.ts';
import { registerDocCommands } from './commands/docs.ts';
import { registerImportCommand } from './commands/import.ts';
import { registerNotificationCommands } from './commands/notifications.ts';
import { registerOutboxCommands } from './commands/outbox.ts';
import { registerSearchCommand } from './commands/search.ts';
import { registerServeCommand } from './commands/serve.ts';
import { registerServiceCommands } from './commands/services.ts';
import { registerRuleCommands } from './commands/rules.ts';
import { registerSyncCommands } from './commands/sync.ts';

/** Builds the command tree; each capability registers its own commands. */
export function buildCli(io: Io): Command {
  const program = new Command('mailroom')
    .description('Mailroom: the mail-services hub of a document archive')
    .option('--org <name>', 'organisation to work on', 'default')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) });
  registerServeCommand(program, io);
  registerAdminCommands(program, io);
  registerCabinetCommands(program, io);
  registerImportCommand(program, io);
  registerSearchCommand(program, io);
  registerDocCommands(program, io);
  registerBlobCommands(program, io);
  registerServiceCommands(program, io);
  registerRuleCommands(program, io);
  registerSyncCommands(program, io);
  registerOutboxCommands(program, io);
  registerNotificationCommands(program, io);
  return program;
}

/**
 * `mailroom doc eml <id> | head` closes the pipe before all bytes are written: end quietly, as
 * Unix tools do, instead of crashing on the unhandled EPIPE.
 */
function endQuietlyWhenStdoutCloses(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
  });
}

/** Runs one invocation; returns the exit code (0 ok, 1 failure, 2 usage error). */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  if (io === processIo) endQuietlyWhenStdoutCloses();
  const program = buildCli(io);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (isAppError(err)) {
      io.err(`error [${err.code}]: ${err.message}`);
      return err.kind === 'invalid_input' || err.kind === 'not_found' || err.kind === 'conflict' ? 2 : 1;
    }
    io.err(`error [INTERNAL]: ${(err as Error).stack ?? String(err)}`);
    return 1;
  } finally {
    await closeApp();
  }
}
