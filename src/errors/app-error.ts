import { ERROR_CODES, HTTP_STATUS, type ErrorCode, type ErrorKind } from './codes.ts';

/**
 * The one error type that crosses module boundaries. Messages are written for the person
 * who must act: what is wrong and how to fix it. They never contain secrets.
 */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: { details?: Record<string, unknown>; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.details = options.details;
  }

  get kind(): ErrorKind {
    return ERROR_CODES[this.code];
  }

  get httpStatus(): number {
    return HTTP_STATUS[this.kind];
  }

  toJSON(): { code: ErrorCode; message: string; details?: Record<string, unknown> } {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError;
}

/** Anything thrown that is not an AppError is a bug; wrap it without leaking its text. */
export function toAppError(err: unknown): AppError {
  if (isAppError(err)) return err;
  return new AppError('INTERNAL', 'An unexpected error occurred; see the server log for details.', { cause: err });
}
