import { AppError, isAppError, type ErrorCode } from '../../errors/index.ts';

/**
 * Translation of whatever imapflow, Node's socket/TLS layer or the server threw into our own
 * codes: one ordered table, first match wins (the shape of emailengine's GRAPH_ERROR_MAP). Every
 * message names the server, the cause and the fix; none contains a password or token.
 */

/** What the message needs to name; never a secret. */
export interface ErrorContext {
  host: string;
  port: number;
  security: 'tls' | 'starttls' | 'none';
  user: string | null;
  authType: 'none' | 'basic' | 'oauth2';
  /** What we were doing, as a verb phrase: "open the folder", "fetch a message". */
  operation?: string;
  folder?: string;
}

/** The fields imapflow (and Node) put on errors; everything optional, read defensively. */
interface ErrorFacts {
  code: string;
  message: string;
  authenticationFailed: boolean;
  tlsFailed: boolean;
  mailboxMissing: boolean;
  serverResponseCode: string;
  responseStatus: string;
  responseText: string;
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function factsOf(err: unknown): ErrorFacts {
  const o = (typeof err === 'object' && err !== null ? err : {}) as Record<string, unknown>;
  return {
    code: str(o['code']),
    message: err instanceof Error ? err.message : str(o['message']),
    authenticationFailed: o['authenticationFailed'] === true,
    tlsFailed: o['tlsFailed'] === true,
    mailboxMissing: o['mailboxMissing'] === true,
    serverResponseCode: str(o['serverResponseCode']).toUpperCase(),
    responseStatus: str(o['responseStatus']).toUpperCase(),
    responseText: str(o['responseText']),
  };
}

function server(ctx: ErrorContext): string {
  return `the IMAP server ${ctx.host}:${ctx.port}`;
}

function doing(ctx: ErrorContext): string {
  return ctx.operation ? ` while trying to ${ctx.operation}` : '';
}

/** Node/OpenSSL certificate and handshake failures (verification, protocol, wrong port). */
const TLS_CODE = /^(ERR_SSL_|ERR_TLS_|EPROTO$|CERT_|DEPTH_ZERO|SELF_SIGNED|UNABLE_TO_|HOSTNAME_MISMATCH|STARTTLS_INJECTION)/;
const UNREACHABLE = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EADDRNOTAVAIL', 'EHOSTDOWN', 'ProxyError', 'EPROXY']);
const TIMEOUT = new Set(['CONNECT_TIMEOUT', 'GREETING_TIMEOUT', 'UPGRADE_TIMEOUT', 'ETIMEOUT', 'ETIMEDOUT', 'LockTimeout']);
const LOST = new Set([
  'NoConnection', 'EConnectionClosed', 'StateLogout', 'ClosedAfterConnectText', 'ClosedAfterConnectTLS',
  'ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ERR_STREAM_DESTROYED', 'ERR_STREAM_PREMATURE_CLOSE',
]);

interface Rule {
  code: ErrorCode;
  /** Whether retrying the same thing later may help (sync engine reconnects on these). */
  transient: boolean;
  when(f: ErrorFacts, ctx: ErrorContext): boolean;
  message(f: ErrorFacts, ctx: ErrorContext): string;
}

export const IMAP_ERROR_RULES: readonly Rule[] = [
  {
    code: 'MAIL_AUTH_FAILED',
    transient: false,
    when: (f) => f.authenticationFailed || f.serverResponseCode === 'AUTHENTICATIONFAILED' || f.serverResponseCode === 'AUTHORIZATIONFAILED',
    message: (_f, ctx) =>
      ctx.authType === 'oauth2'
        ? `${cap(server(ctx))} rejected the OAuth2 access token for user "${ctx.user ?? ''}": the token may have expired or lack the IMAP scope; reconnect the account to get a new token.`
        : `${cap(server(ctx))} rejected the login of user "${ctx.user ?? ''}": check the password (and that IMAP access is enabled for this mailbox).`,
  },
  {
    // RFC 3501 §6.2.1 / imapflow doSTARTTLS: a STARTTLS service that does not offer STARTTLS is
    // refused, never silently continued in plain text (the capability list could be forged).
    code: 'MAIL_TLS_FAILED',
    transient: false,
    when: (f) => f.tlsFailed && f.code === '' && /STARTTLS/i.test(f.message),
    message: (_f, ctx) =>
      `${cap(server(ctx))} does not offer STARTTLS, so the connection was refused rather than continued unencrypted. Use security "tls" (usually port 993) if the server speaks implicit TLS, or fix the server's TLS setup.`,
  },
  {
    code: 'MAIL_TLS_FAILED',
    transient: false,
    when: (f) => f.tlsFailed || TLS_CODE.test(f.code),
    message: (f, ctx) =>
      `The TLS handshake with ${server(ctx)} failed (${f.code || f.message}). Check that port ${ctx.port} expects ${
        ctx.security === 'tls' ? 'implicit TLS (usually 993; for 143 use security "starttls")' : 'STARTTLS (usually 143; for 993 use security "tls")'
      }.`,
  },
  {
    code: 'MAIL_HOST_UNREACHABLE',
    transient: true,
    when: (f) => UNREACHABLE.has(f.code),
    message: (f, ctx) =>
      `Cannot reach ${server(ctx)} (${f.code}): check the host name and port, and that no firewall blocks the connection.`,
  },
  {
    code: 'MAIL_TIMEOUT',
    transient: true,
    when: (f) => TIMEOUT.has(f.code),
    message: (f, ctx) =>
      f.code === 'GREETING_TIMEOUT' && ctx.security !== 'tls'
        ? `${cap(server(ctx))} did not send its greeting in time. If port ${ctx.port} expects implicit TLS (usually 993), set security to "tls".`
        : `${cap(server(ctx))} did not answer in time${doing(ctx)} (${f.code}); it may be overloaded or the network slow. Try again later or raise the timeout.`,
  },
  {
    code: 'MAIL_CONNECTION_LOST',
    transient: true,
    when: (f) => LOST.has(f.code),
    message: (_f, ctx) => `The connection to ${server(ctx)} was lost${doing(ctx)}. It is retried automatically; if it keeps happening, check the server and the network.`,
  },
  {
    code: 'MAIL_FOLDER_NOT_FOUND',
    transient: false,
    when: (f) => f.mailboxMissing || f.code === 'NotFound' || f.serverResponseCode === 'NONEXISTENT' || f.serverResponseCode === 'TRYCREATE',
    message: (_f, ctx) =>
      `The folder "${ctx.folder ?? ''}" does not exist on ${server(ctx)}. It may have been renamed or deleted: list the folders again and update the configuration.`,
  },
  {
    // Tagged NO/BAD for a command we sent: the server refused it (RFC 9051 §7.1).
    code: 'MAIL_PROTOCOL_ERROR',
    transient: false,
    when: (f) => f.responseStatus === 'NO' || f.responseStatus === 'BAD',
    message: (f, ctx) =>
      `${cap(server(ctx))} refused${ctx.operation ? ` to ${ctx.operation}` : ' a command'}${ctx.folder ? ` in folder "${ctx.folder}"` : ''}: ${
        f.responseText || f.message || f.responseStatus
      }`,
  },
  {
    // imapflow's own codes for unparsable or oversized responses, throttling, missing extensions.
    code: 'MAIL_PROTOCOL_ERROR',
    transient: false,
    when: (f) => f.code !== '',
    message: (f, ctx) => `Talking to ${server(ctx)} failed${doing(ctx)} (${f.code}): ${f.message}`,
  },
];

function cap(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/**
 * The one translation point. AppErrors pass through untouched (the TLS check raises its own);
 * anything that matches no rule is a bug on our side and becomes INTERNAL with its cause kept.
 */
export function translateImapError(err: unknown, ctx: ErrorContext): AppError {
  if (isAppError(err)) return err;
  const facts = factsOf(err);
  for (const rule of IMAP_ERROR_RULES) {
    if (!rule.when(facts, ctx)) continue;
    const details: Record<string, unknown> = { host: ctx.host, port: ctx.port, transient: rule.transient };
    if (facts.code) details['cause'] = facts.code;
    if (facts.serverResponseCode) details['serverCode'] = facts.serverResponseCode;
    if (ctx.folder !== undefined) details['folder'] = ctx.folder;
    return new AppError(rule.code, rule.message(facts, ctx), { details, cause: err });
  }
  return new AppError('INTERNAL', `Unexpected failure talking to ${server(ctx)}${doing(ctx)}; see the server log for details.`, {
    details: { host: ctx.host, port: ctx.port, transient: false },
    cause: err,
  });
}

/** A lost connection found before sending anything (imapflow would only say "not usable"). */
export function connectionLost(ctx: ErrorContext): AppError {
  return translateImapError(Object.assign(new Error('Connection not available'), { code: 'NoConnection' }), ctx);
}
