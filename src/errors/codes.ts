/**
 * The one registry of error codes. A code is a stable contract with API and CLI users:
 * never rename one, only add. `kind` decides the HTTP status and whether a retry can help.
 */
export type ErrorKind =
  | 'invalid_input' // the caller sent something wrong; fixing the input fixes it
  | 'unauthenticated'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'rate_limited'
  | 'peer' // a mail server refused or failed; the message says which and how to fix it
  | 'operational' // the environment failed; retrying later may help
  | 'unexpected'; // a bug

export const ERROR_CODES = {
  VALIDATION_FAILED: 'invalid_input',
  CONFIG_INVALID: 'invalid_input',
  AUTH_REQUIRED: 'unauthenticated',
  AUTH_INVALID_CREDENTIALS: 'unauthenticated',
  AUTH_TOKEN_INVALID: 'unauthenticated',
  FORBIDDEN: 'forbidden',
  NOT_FOUND: 'not_found',
  ALREADY_EXISTS: 'conflict',
  IN_USE: 'conflict',
  ORG_NOT_FOUND: 'not_found',
  ORG_EXISTS: 'conflict',
  USER_NOT_FOUND: 'not_found',
  USER_EXISTS: 'conflict',
  CABINET_NOT_FOUND: 'not_found',
  CABINET_EXISTS: 'conflict',
  DOCUMENT_NOT_FOUND: 'not_found',
  ATTACHMENT_NOT_FOUND: 'not_found',
  IMPORT_SOURCE_INVALID: 'invalid_input',
  MESSAGE_UNREADABLE: 'invalid_input',
  SEARCH_QUERY_EMPTY: 'invalid_input',
  BLOB_MISSING: 'operational',
  BLOB_CORRUPT: 'operational',
  SECRET_KEY_MISSING: 'invalid_input',
  SECRET_DECRYPT_FAILED: 'operational',
  DATABASE_UNAVAILABLE: 'operational',
  RATE_LIMITED: 'rate_limited',
  MAIL_AUTH_FAILED: 'peer',
  MAIL_TLS_FAILED: 'peer',
  MAIL_TLS_FINGERPRINT_MISMATCH: 'peer',
  MAIL_HOST_UNREACHABLE: 'peer',
  MAIL_CONNECTION_LOST: 'peer',
  MAIL_TIMEOUT: 'peer',
  MAIL_PROTOCOL_ERROR: 'peer',
  MAIL_FOLDER_NOT_FOUND: 'not_found',
  MAIL_MESSAGE_NOT_FOUND: 'not_found',
  MAIL_SEND_PERMANENT: 'peer',
  MAIL_SEND_TRANSIENT: 'peer',
  MAIL_SMTPUTF8_REQUIRED: 'peer',
  MAIL_MESSAGE_TOO_LARGE: 'peer',
  INTERNAL: 'unexpected',
  MAIL_ACTION_UNSUPPORTED: 'peer', // the mailbox cannot do the action (read-only folder, no custom keywords)
  SMTP_NOT_CONFIGURED: 'conflict', // no SMTP service for a sending component and no system default
  OUTBOX_MESSAGE_NOT_FOUND: 'not_found',
  OUTBOX_STATE_CONFLICT: 'conflict', // cancel/retry asked of a message in a status that does not allow it
  PASSWORD_RESET_UNAVAILABLE: 'operational', // no working SMTP path sends the organisation's reset mail
  RESET_TOKEN_INVALID: 'invalid_input', // a password reset token that is unknown, used or expired
} as const satisfies Record<string, ErrorKind>;

export type ErrorCode = keyof typeof ERROR_CODES;

export const HTTP_STATUS: Record<ErrorKind, number> = {
  invalid_input: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  rate_limited: 429,
  peer: 502,
  operational: 503,
  unexpected: 500,
};
