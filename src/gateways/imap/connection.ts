import { ImapFlow, type ImapFlowOptions, type Logger as ImapFlowLogger } from 'imapflow';
import type { ConnectionSettings } from '../ports.ts';
import { translateImapError, type ErrorContext } from './errors.ts';
import { checkTlsPolicy, createVerifyingTransport, type TlsObservation } from './tls.ts';

/** Anything pino-like; the gateway never prints on its own. */
export interface ImapLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * The main connection runs one command at a time for the source and never IDLEs (RFC 2177 IDLE
 * would only add DONE round trips between our commands); the watch connection lives in IDLE,
 * restarted every 60 s. The restart doubles as a liveness probe for connections that NAT boxes
 * drop silently, and on servers without IDLE imapflow polls with NOOP at the same interval.
 */
export type ConnectionRole = 'main' | 'watch';
export const WATCH_INTERVAL_MS = 60_000;

export interface OpenConnection {
  client: ImapFlow;
  ctx: ErrorContext;
  tls: TlsObservation;
}

export function errorContext(settings: ConnectionSettings): ErrorContext {
  return {
    host: settings.host,
    port: settings.port,
    security: settings.security,
    user: settings.auth.type === 'none' ? null : settings.auth.user,
    authType: settings.auth.type,
  };
}

/** imapflow logs objects (`{msg, cid, ...}`); hand them to our logger, dropping trace noise. */
function adaptLogger(logger: ImapLogger, ctx: ErrorContext, role: ConnectionRole): ImapFlowLogger {
  const base = { component: 'imap', role, host: ctx.host };
  const wrap = (fn: (obj: object, msg?: string) => void) => (obj: unknown): void => {
    const entry = typeof obj === 'object' && obj !== null ? (obj as Record<string, unknown>) : { msg: String(obj) };
    const { msg, ...rest } = entry;
    fn.call(logger, { ...base, ...rest }, typeof msg === 'string' ? msg : undefined);
  };
  // imapflow's info level is per-connection chatter (connected, authenticated): our debug.
  return { debug: wrap(logger.debug), info: wrap(logger.debug), warn: wrap(logger.warn), error: wrap(logger.error) };
}

export function buildOptions(settings: ConnectionSettings, role: ConnectionRole, seen: TlsObservation, logger: ImapLogger | undefined): ImapFlowOptions {
  const ctx = errorContext(settings);
  const timeout = settings.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const options: ImapFlowOptions = {
    host: settings.host,
    port: settings.port,
    secure: settings.security === 'tls',
    // 'starttls' means required: imapflow then fails when STARTTLS is not offered instead of
    // continuing in plain text (a stripped capability list is a classic downgrade).
    ...(settings.security === 'starttls' ? { doSTARTTLS: true } : settings.security === 'none' ? { doSTARTTLS: false } : {}),
    ...(settings.security === 'none' ? {} : { transport: createVerifyingTransport({ host: settings.host, port: settings.port }, settings.tls, seen) }),
    logger: logger ? adaptLogger(logger, ctx, role) : false,
    clientInfo: { name: 'Mailroom' },
    // RFC 7162: CONDSTORE gives HIGHESTMODSEQ (skip unchanged folders), QRESYNC gives VANISHED.
    qresync: true,
    connectionTimeout: timeout,
    greetingTimeout: timeout,
    // FIPS builds lack MD5, imapflow's default for its fallback message id.
    idHashAlgorithm: 'sha256',
    ...(role === 'main'
      ? { disableAutoIdle: true }
      : { maxIdleTime: WATCH_INTERVAL_MS, missingIdleCommand: 'NOOP' as const, autoIdleDelay: 500 }),
  };
  if (settings.auth.type === 'basic') options.auth = { user: settings.auth.user, pass: settings.auth.password };
  else if (settings.auth.type === 'oauth2') options.auth = { user: settings.auth.user, accessToken: settings.auth.accessToken };
  return options;
}

/**
 * Connects and authenticates; every failure comes back as an AppError from the table in
 * errors.ts (a wrong password fails here, not on first use).
 */
export async function openConnection(settings: ConnectionSettings, role: ConnectionRole, logger: ImapLogger | undefined): Promise<OpenConnection> {
  checkTlsPolicy(settings.tls);
  const seen: TlsObservation = { fingerprint256: null };
  const ctx = errorContext(settings);
  const client = new ImapFlow(buildOptions(settings, role, seen, logger));
  // imapflow emits 'error' for failures outside a command (a socket reset while idle); an
  // EventEmitter without a listener would throw them at the process.
  client.on('error', (err: unknown) => {
    logger?.warn({ component: 'imap', role, host: settings.host, err }, 'IMAP connection error');
  });
  try {
    await client.connect();
  } catch (err) {
    client.close();
    throw translateImapError(err, { ...ctx, operation: 'connect and log in' });
  }
  return { client, ctx, tls: seen };
}

/**
 * Reaches the server without credentials (a service has none; its accounts do): TLS as
 * configured, greeting and CAPABILITY. imapflow always logs in after the greeting and refuses
 * without a login configured; that refusal, and only it, means everything before it worked.
 */
export async function probeConnection(settings: ConnectionSettings, logger: ImapLogger | undefined): Promise<{ capabilities: string[]; fingerprint256: string | null }> {
  checkTlsPolicy(settings.tls);
  const seen: TlsObservation = { fingerprint256: null };
  const client = new ImapFlow(buildOptions({ ...settings, auth: { type: 'none' } }, 'main', seen, logger));
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    const e = err as { authenticationFailed?: boolean; message?: string };
    if (e.authenticationFailed && /configure the login/i.test(e.message ?? '')) {
      return { capabilities: [...client.capabilities.keys()], fingerprint256: seen.fingerprint256 };
    }
    throw translateImapError(err, { ...errorContext(settings), operation: 'connect' });
  } finally {
    client.close();
  }
  return { capabilities: [...client.capabilities.keys()], fingerprint256: seen.fingerprint256 };
}
