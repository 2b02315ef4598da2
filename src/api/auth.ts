import type { FastifyReply, FastifyRequest } from 'fastify';
import type { CookieSerializeOptions } from '@fastify/cookie';
import { AppError } from '../errors/index.ts';
import type { OrgsService, Principal } from '../orgs/index.ts';
import type { Api } from './server.ts';

/**
 * Who may call a route: `none` (anyone), `user` (any signed-in member of an organisation),
 * `admin` (an administrator of the caller's organisation). Every route declares one in its
 * `config.auth`; a route without one is refused when it is registered.
 */
export type AuthLevel = 'none' | 'user' | 'admin';
export const AUTH_LEVELS: readonly AuthLevel[] = ['none', 'user', 'admin'];

export interface Caller {
  principal: Principal;
  via: 'token' | 'session';
}

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: AuthLevel;
  }
  interface FastifyRequest {
    /** Set by authentication on every route whose level is not `none`. */
    caller: Caller | null;
  }
}

export const SESSION_COOKIE = 'mailroom_session';
export const API_TOKEN_PREFIX = 'mrt_';

/** HttpOnly (no script can read it), SameSite=Lax (not sent on cross-site POSTs), Secure on https. */
export function sessionCookieOptions(request: FastifyRequest, expires: Date): CookieSerializeOptions {
  return { path: '/', httpOnly: true, sameSite: 'lax', secure: request.protocol === 'https', expires };
}

export function clearSessionCookie(request: FastifyRequest, reply: FastifyReply): void {
  reply.clearCookie(SESSION_COOKIE, { path: '/', httpOnly: true, sameSite: 'lax', secure: request.protocol === 'https' });
}

/** The authenticated caller of a route declared `user` or `admin`. */
export function callerOf(request: FastifyRequest): Caller {
  if (!request.caller) throw new AppError('AUTH_REQUIRED', 'Sign in first: log in, or send Authorization: Bearer <API token>.');
  return request.caller;
}

export function principalOf(request: FastifyRequest): Principal {
  return callerOf(request).principal;
}

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

/** Reads the credentials of a request: an API token (wins when both are sent) or the session cookie. */
async function authenticate(orgs: OrgsService, request: FastifyRequest, reply: FastifyReply): Promise<Caller> {
  const header = request.headers.authorization;
  if (header !== undefined) {
    const m = BEARER.exec(header);
    if (!m || !m[1]!.startsWith(API_TOKEN_PREFIX)) {
      throw new AppError('AUTH_TOKEN_INVALID', `The Authorization header must be "Bearer ${API_TOKEN_PREFIX}..." with an API token; create one with POST /api/tokens.`);
    }
    const principal = await orgs.principalByApiToken(m[1]!);
    if (!principal) throw new AppError('AUTH_TOKEN_INVALID', 'The API token is unknown or was revoked; create a new one with POST /api/tokens.');
    return { principal, via: 'token' };
  }
  const session = request.cookies[SESSION_COOKIE];
  if (session) {
    const principal = await orgs.principalBySession(session);
    if (principal) return { principal, via: 'session' };
    clearSessionCookie(request, reply);
    throw new AppError('AUTH_REQUIRED', 'Your session has expired or was ended; log in again.');
  }
  throw new AppError('AUTH_REQUIRED', 'Sign in first: log in with POST /api/auth/login, or send Authorization: Bearer <API token>.');
}

export interface RouteRecord {
  method: string;
  url: string;
  auth: AuthLevel | undefined;
}

const routeTables = new WeakMap<object, RouteRecord[]>();

/** Every route registered on an instance built by buildApi, with its declared auth level. */
export function registeredRoutes(api: object): readonly RouteRecord[] {
  return routeTables.get(api) ?? [];
}

/**
 * Authentication and the route-level authorization. It runs on `onRequest`, before the body is
 * read and validated: an anonymous caller cannot make the server buffer a 50 MB upload, and
 * gets 401 rather than a validation answer that would describe the endpoint.
 * Per-object authorization (which organisation owns what) is each capability's job: every
 * service call is scoped by the caller's orgId.
 */
export function installAuth(api: Api, orgs: OrgsService): void {
  const table: RouteRecord[] = [];
  routeTables.set(api, table);
  api.decorateRequest('caller', null);

  api.addHook('onRoute', (route) => {
    const auth = route.config?.auth;
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) table.push({ method: String(method), url: route.url, auth });
    if (auth === undefined || !AUTH_LEVELS.includes(auth)) {
      throw new Error(`Route ${methods.join(',')} ${route.url} must declare config.auth as one of ${AUTH_LEVELS.join(', ')}.`);
    }
  });

  api.addHook('onRequest', async (request, reply) => {
    const level = request.routeOptions.config.auth;
    if (level === undefined || level === 'none') return; // unknown routes answer 404 themselves
    const caller = await authenticate(orgs, request, reply);
    if (level === 'admin' && caller.principal.role !== 'admin') {
      throw new AppError('FORBIDDEN', 'Only administrators of your organisation may do this; ask one of them.');
    }
    request.caller = caller;
  });
}
