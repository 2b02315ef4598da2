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
  | 'operational' // a peer or the environment failed; retrying later may help
  | 'unexpected'; // a bug

export const ERROR_CODES = {
  VALIDATION_FAILED: 'invalid_input',
  CONFIG_INVALID: 'invalid_input',
  AUTH_REQUIRED: 'unauthenticated',
  AUTH_INVALID_CREDENTIALS: 'unauthenticated',
  AUTH_TOKEN_INVALID: 'unauthenticated',
  FORBIDDEN: 'forbidden',
  NOT_FOUND: 'not_found',
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
  INTERNAL: 'unexpected',
} as const satisfies Record<string, ErrorKind>;

export type ErrorCode = keyof typeof ERROR_CODES;

export const HTTP_STATUS: Record<ErrorKind, number> = {
  invalid_input: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  rate_limited: 429,
  operational: 503,
  unexpected: 500,
};
