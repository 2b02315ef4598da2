import { isAppError, type ErrorCode } from '../../errors/index.ts';

/**
 * What a failed SMTP attempt means for the outbox, as a pure function of the error (after
 * emailengine's lib/delivery-error.js): permanent failures are not retried, transient ones are;
 * `configuration` marks failures that no retry of any message can fix until an administrator
 * changes the service (wrong password, TLS trust), so health can alert on them.
 *
 * Inputs are nodemailer errors (`code`, `originalCode`, `responseCode`, `response`, `command`),
 * Node system errors, or our own AppErrors (returned as they are).
 */
export interface SmtpErrorClass {
  permanent: boolean;
  code: ErrorCode;
  message: string;
  /** The server's reply that decided it, when there was one. */
  response: string | null;
  /** True when the service's settings must change (credentials, TLS trust), not the message. */
  configuration: boolean;
}

/** Certificate and handshake failures reported by Node/OpenSSL. */
const TLS_CODES = new Set([
  'ETLS',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REVOKED',
  'CERT_SIGNATURE_FAILURE',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'EPROTO',
]);
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENOTFOUND', 'EAI_AGAIN', 'EDNS']);
const CONNECTION_CODES = new Set(['ETIMEDOUT', 'ECONNRESET', 'ECONNECTION', 'ESOCKET', 'EPIPE', 'ECONNABORTED', 'EPROTOCOL']);
const AUTH_CODES = new Set(['EAUTH', 'ENOAUTH', 'EOAUTH2']);

interface ErrorFields {
  codes: string[];
  status: number | null;
  enhanced: string | null;
  response: string | null;
  rawResponse: string | null;
  command: string | null;
  timeoutType: string | null;
  message: string;
}

function str(v: unknown): string | null {
  return typeof v === 'string' && v !== '' ? v : null;
}

function fields(err: unknown): ErrorFields {
  const e = (err !== null && typeof err === 'object' ? err : {}) as Record<string, unknown>;
  const cause = (e.cause !== null && typeof e.cause === 'object' ? e.cause : {}) as Record<string, unknown>;
  const codes = [e.code, e.originalCode, cause.code].map(str).filter((c): c is string => c !== null);
  const response = str(e.response)?.trim() ?? null;
  let status = typeof e.responseCode === 'number' && e.responseCode > 0 ? e.responseCode : null;
  if (status === null && response !== null) {
    const m = /^([2-5]\d\d)(?:[ -]|$)/.exec(response);
    if (m?.[1]) status = Number(m[1]);
  }
  const enhanced = response === null ? null : (/^[2-5]\d\d[ -]([245]\.\d{1,3}\.\d{1,3})\b/.exec(response)?.[1] ?? null);
  const message = err instanceof Error ? err.message : typeof err === 'string' ? err : 'unknown error';
  return { codes, status, enhanced, response, rawResponse: str(e.response), command: str(e.command), timeoutType: str(e.timeoutType), message };
}

/** The error text (without nodemailer's appended copy of the reply) and the server's reply. */
function said(f: ErrorFields): string {
  let text = f.message;
  if (f.rawResponse !== null && text.endsWith(`: ${f.rawResponse}`)) text = text.slice(0, -(f.rawResponse.length + 2));
  if (f.response !== null) {
    const reply = `the server said "${f.response.replace(/\s*\n\s*/g, ' ')}"`;
    return text === '' || text === f.rawResponse ? reply : `${text}; ${reply}`;
  }
  const codes = f.codes.filter((c, i, all) => all.indexOf(c) === i);
  return codes.length > 0 ? `${codes.join('/')}: ${text}` : text;
}

function result(code: ErrorCode, permanent: boolean, message: string, f: ErrorFields, configuration = false): SmtpErrorClass {
  return { permanent, code, message, response: f.response, configuration };
}

export function classifySmtpError(err: unknown): SmtpErrorClass {
  if (isAppError(err)) {
    const d = err.details ?? {};
    return {
      permanent: typeof d.permanent === 'boolean' ? d.permanent : true,
      code: err.code,
      message: err.message,
      response: typeof d.response === 'string' ? d.response : null,
      configuration: d.configuration === true,
    };
  }
  const f = fields(err);
  const has = (set: Set<string>): boolean => f.codes.some((c) => set.has(c));
  const transientStatus = f.status !== null && f.status >= 400 && f.status < 500;

  // TLS: certificate trust or a failed handshake. Nothing changes until the settings do.
  if (has(TLS_CODES) || f.codes.some((c) => /^ERR_(SSL|TLS)_/.test(c)) || f.command === 'STARTTLS') {
    return result(
      'MAIL_TLS_FAILED',
      !transientStatus,
      `TLS could not be established (${said(f)}). Check the security setting (tls on port 465, starttls on 587) ` +
        'and the certificate; pin its fingerprint or opt out of verification only if you trust this server.',
      f,
      !transientStatus,
    );
  }

  // Authentication: the credentials or the token are wrong for this server; fix the service.
  if (has(AUTH_CODES) || f.command?.startsWith('AUTH') || f.status === 535 || f.status === 534 || f.status === 530 ||
    f.enhanced === '5.7.8' || f.enhanced === '5.7.9') {
    return result(
      'MAIL_AUTH_FAILED',
      !transientStatus,
      `Authentication failed (${said(f)}). Check the user name and password, or the OAuth2 token and its ` +
        'SMTP send permission, and that SMTP AUTH is enabled for the mailbox.',
      f,
      !transientStatus,
    );
  }

  // RFC 6531: X.6.7 "non-ASCII addresses not permitted"; nodemailer's own rewording of 550/553.
  if (f.enhanced?.endsWith('.6.7') || /Internationalized mailbox name not allowed/i.test(f.message)) {
    return result(
      'MAIL_SMTPUTF8_REQUIRED',
      !transientStatus,
      `The server does not accept internationalized (non-ASCII) addresses (${said(f)}). Use an ASCII address ` +
        'or a server that offers SMTPUTF8.',
      f,
    );
  }

  // RFC 1870 / RFC 3463: 552 (storage allocation exceeded) with 5.3.4 or 5.2.3, or the local SIZE check.
  if (f.enhanced === '5.3.4' || f.enhanced === '5.2.3' || (f.status === 552 && (f.enhanced === null || f.enhanced === '5.3.0')) ||
    /Message size larger than allowed/i.test(f.message)) {
    return result('MAIL_MESSAGE_TOO_LARGE', true, `The message is too large for this server (${said(f)}).`, f);
  }

  if (f.status !== null && f.status >= 500) {
    // 503 (bad sequence of commands) says the session was out of step, not that the message is bad.
    if (f.status === 503) {
      return result('MAIL_SEND_TRANSIENT', false, `The SMTP session got out of step (${said(f)}); sending will be retried.`, f);
    }
    return result('MAIL_SEND_PERMANENT', true, `The server refused the message permanently (${said(f)}).`, f);
  }
  if (transientStatus) {
    return result('MAIL_SEND_TRANSIENT', false, `The server deferred the message (${said(f)}); sending will be retried.`, f);
  }

  const connectTimeout = f.timeoutType === 'CONNECT_TIMEOUT' || (f.codes.includes('ETIMEDOUT') && /^Connection timeout/i.test(f.message));
  if (has(UNREACHABLE_CODES) || connectTimeout) {
    return result(
      'MAIL_HOST_UNREACHABLE',
      false,
      `The SMTP server cannot be reached (${said(f)}). Check the host name and port and that the server is running; ` +
        'sending will be retried.',
      f,
    );
  }
  if (has(CONNECTION_CODES)) {
    return result('MAIL_SEND_TRANSIENT', false, `The connection to the SMTP server failed (${said(f)}); sending will be retried.`, f);
  }
  if (f.codes.includes('EENVELOPE') || f.codes.includes('EMESSAGE')) {
    return result('MAIL_SEND_PERMANENT', true, `The message cannot be sent as addressed (${said(f)}).`, f);
  }
  return result('MAIL_SEND_TRANSIENT', false, `Sending failed (${said(f)}); it will be retried.`, f);
}
