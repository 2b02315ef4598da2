import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/**
 * Secrets must never reach a log line (design §2.5): redact every field that could carry one,
 * wherever it is nested.
 */
const REDACT = [
  'password', '*.password', 'secret', '*.secret', 'token', '*.token', 'accessToken', '*.accessToken',
  'refreshToken', '*.refreshToken', 'clientSecret', '*.clientSecret', 'authorization', '*.authorization',
  'req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]',
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = { level, redact: { paths: REDACT, censor: '[redacted]' }, base: { app: 'mailroom' } };
  // Logs go to stderr so that CLI JSON output on stdout stays machine-readable.
  return destination ? pino(options, destination) : pino(options, pino.destination(2));
}
