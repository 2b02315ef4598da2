export { AppError, isAppError, toAppError } from './app-error.ts';
export { ERROR_CODES, HTTP_STATUS, type ErrorCode, type ErrorKind } from './codes.ts';
