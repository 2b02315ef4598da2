/**
 * A progress bar on stderr for long-running commands, shown only when stderr is a terminal
 * (never in pipes, logs or tests), so stdout stays clean for results.
 */
import cliProgress from 'cli-progress';
import type { Io } from './context.ts';

export interface ProgressUpdate {
  messages: number;
  bytes: number;
  /** Bytes of the source consumed (for sources whose message count is unknown). */
  sourceBytes: number;
}

export interface ProgressTotals {
  messages: number | null;
  bytes: number | null;
  /** What the bar says is going on (default "importing"). */
  label?: string;
}

export interface Progress {
  update(p: ProgressUpdate): void;
  /** Prints a line above the bar (or plainly when there is no bar). */
  log(line: string): void;
  stop(): void;
}

const MB = 1024 * 1024;

function mb(bytes: number): string {
  return (bytes / MB).toFixed(1);
}

/** A no-op when stderr is not a TTY: lines still go to stderr, bars never do. */
export function createProgress(io: Io, totals: ProgressTotals, stream: NodeJS.WritableStream = process.stderr): Progress {
  if (!io.stderrIsTty) {
    return { update: () => undefined, log: (line) => io.err(line), stop: () => undefined };
  }
  const byMessages = totals.messages !== null;
  const total = byMessages ? totals.messages! : (totals.bytes ?? 0);
  const unitFormat = byMessages
    ? '{value}/{total} msgs | {mb} MB'
    : totals.bytes !== null
      ? '{messages} msgs | {mb}/{totalMb} MB'
      : '{messages} msgs | {mb} MB';
  const multi = new cliProgress.MultiBar(
    {
      stream,
      format: `${totals.label ?? 'importing'} {bar} {percentage}% | ${unitFormat} | {rate} msgs/s | ETA {eta_formatted}`,
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
      fps: 5,
      etaBuffer: 50,
      barsize: 30,
    },
    cliProgress.Presets.shades_classic,
  );
  const started = Date.now();
  const payload = (p: ProgressUpdate): Record<string, string | number> => {
    const seconds = (Date.now() - started) / 1000;
    return {
      messages: p.messages,
      // Against a known total, show how much of the source was read (mbox envelopes included).
      mb: mb(totals.bytes !== null ? p.sourceBytes : p.bytes),
      totalMb: totals.bytes === null ? '?' : mb(totals.bytes),
      rate: seconds > 0 ? Math.round(p.messages / seconds) : 0,
    };
  };
  const bar = multi.create(Math.max(total, 1), 0, payload({ messages: 0, bytes: 0, sourceBytes: 0 }));
  return {
    update(p) {
      const value = byMessages ? p.messages : p.sourceBytes;
      // A source can grow while it is read (an mbox still being written): never overflow.
      if (value > bar.getTotal()) bar.setTotal(value);
      bar.update(value, payload(p));
    },
    log(line) {
      multi.log(line + '\n');
    },
    stop() {
      multi.stop();
    },
  };
}
