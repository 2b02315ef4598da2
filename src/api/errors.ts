import type { FastifyReply, FastifyRequest } from 'fastify';
import { isResponseSerializationError } from 'fastify-type-provider-zod';
import { AppError, isAppError } from '../errors/index.ts';
import type { Api } from './server.ts';

/** The body of every error answer (see `ErrorBody` in schemas.ts). */
export interface HttpErrorBody {
  code: string;
  message: string;
  details?: Record<string, unknown>;
}

export interface HttpError {
  status: number;
  body: HttpErrorBody;
  /** How loudly the server log should hear about it. */
  log: 'none' | 'warn' | 'error';
}

/** One field that failed validation. `in` is where it was: body, query, path or header. */
export interface FieldProblem {
  in: 'body' | 'query' | 'path' | 'header';
  field: string;
  message: string;
}

const LOCATIONS: Record<string, FieldProblem['in']> = { body: 'body', querystring: 'query', params: 'path', headers: 'header' };

interface ValidationIssue {
  instancePath: string;
  message?: string;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

function validationIssues(err: unknown): { context: string; issues: ValidationIssue[] } | null {
  if (!isRecord(err) || !Array.isArray(err['validation'])) return null;
  const issues: ValidationIssue[] = [];
  for (const v of err['validation'] as unknown[]) {
    if (!isRecord(v)) continue;
    issues.push({
      instancePath: typeof v['instancePath'] === 'string' ? v['instancePath'] : '',
      ...(typeof v['message'] === 'string' ? { message: v['message'] } : {}),
    });
  }
  return { context: typeof err['validationContext'] === 'string' ? err['validationContext'] : 'body', issues };
}

/** `/to/0/address` -> `to[0].address`; the root of the part -> `''`. */
function fieldName(instancePath: string): string {
  let out = '';
  for (const seg of instancePath.split('/').filter((s) => s !== '')) {
    out += /^\d+$/.test(seg) ? `[${seg}]` : out === '' ? seg : `.${seg}`;
  }
  return out;
}

export function validationError(context: string, issues: ValidationIssue[]): AppError {
  const where = LOCATIONS[context] ?? 'body';
  const fields: FieldProblem[] = issues.map((i) => ({ in: where, field: fieldName(i.instancePath), message: i.message ?? 'is invalid' }));
  const described = fields.map((f) => (f.field === '' ? `${f.in}: ${f.message}` : `${f.in} ${f.field}: ${f.message}`));
  return new AppError('VALIDATION_FAILED', `The request is invalid: ${described.join('; ')}.`, { details: { fields } });
}

function fastifyClientError(err: unknown): { status: number; code: string; message: string } | null {
  if (!(err instanceof Error) || !isRecord(err)) return null;
  const status = err['statusCode'];
  const code = err['code'];
  if (typeof status !== 'number' || status < 400 || status >= 500 || typeof code !== 'string' || !code.startsWith('FST_')) return null;
  return { status, code, message: err.message };
}

const GENERIC_INTERNAL = 'An unexpected error occurred; see the server log for details.';

/**
 * The one error -> HTTP mapper. AppErrors keep their code, message and status; validation
 * errors name every bad field; fastify's own client errors get a stable code; anything else
 * is a bug and answers 500 with a generic message (the stack goes to the log, never the client).
 */
export function toHttpError(err: unknown): HttpError {
  if (isAppError(err)) {
    const log = err.kind === 'unexpected' ? 'error' : err.kind === 'operational' ? 'warn' : 'none';
    if (err.kind === 'unexpected') return { status: err.httpStatus, body: { code: err.code, message: GENERIC_INTERNAL }, log };
    return { status: err.httpStatus, body: err.toJSON(), log };
  }
  const validation = validationIssues(err);
  if (validation && validation.issues.length > 0) {
    const e = validationError(validation.context, validation.issues);
    return { status: 400, body: e.toJSON(), log: 'none' };
  }
  if (err instanceof Error && isResponseSerializationError(err) && isRecord(err) && 'cause' in err && typeof err['method'] === 'string') {
    return { status: 500, body: { code: 'INTERNAL', message: GENERIC_INTERNAL }, log: 'error' };
  }
  const client = fastifyClientError(err);
  if (client) {
    if (client.status === 404) return { status: 404, body: { code: 'NOT_FOUND', message: client.message }, log: 'none' };
    if (client.status === 413) {
      return {
        status: 413,
        body: { code: 'VALIDATION_FAILED', message: 'The request body is larger than this endpoint accepts; send a smaller one or ask the operator to raise the limit.' },
        log: 'none',
      };
    }
    if (client.status === 415) {
      return {
        status: 415,
        body: { code: 'VALIDATION_FAILED', message: 'Unsupported Content-Type: send application/json, or message/rfc822 when uploading a message.' },
        log: 'none',
      };
    }
    // Fastify's own 4xx messages describe the request (bad JSON, empty body), never server state.
    return { status: client.status, body: { code: 'VALIDATION_FAILED', message: client.message, details: { reason: client.code } }, log: 'none' };
  }
  return { status: 500, body: { code: 'INTERNAL', message: GENERIC_INTERNAL }, log: 'error' };
}

function send(request: FastifyRequest, reply: FastifyReply, err: unknown): FastifyReply {
  const mapped = toHttpError(err);
  if (mapped.log === 'error') request.log.error({ err }, 'request failed');
  else if (mapped.log === 'warn') request.log.warn({ err }, 'request failed');
  return reply.code(mapped.status).type('application/json; charset=utf-8').send(mapped.body);
}

/** Installs the mapper as the error handler and answers unknown routes with NOT_FOUND. */
export function installErrorHandling(api: Api): void {
  api.setErrorHandler((err, request, reply) => send(request, reply, err));
  api.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? request.url;
    return send(request, reply, new AppError('NOT_FOUND', `There is no endpoint ${request.method} ${path}; see /api/openapi.json for the list.`));
  });
}
