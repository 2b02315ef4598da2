import { z } from 'zod';
import type { App } from '../../app.ts';
import { AppError } from '../../errors/index.ts';
import { callerOf, clearSessionCookie, SESSION_COOKIE, sessionCookieOptions } from '../auth.ts';
import type { RateLimiter } from '../rate-limit.ts';
import { errorResponses, OrgSchema, UserSchema } from '../schemas.ts';
import type { Api } from '../server.ts';
import { currentOrg } from './orgs.ts';

const LoginBody = z.object({
  email: z.string().trim().min(1).max(320),
  password: z.string().min(1).max(1024),
});

const LoginResult = z.object({
  user: UserSchema,
  expiresAt: z.string().describe('When the session ends; log in again after it'),
});

const Me = z.object({
  user: UserSchema,
  org: OrgSchema,
  authenticatedBy: z.enum(['session', 'token']),
});

function minutes(ms: number): string {
  const m = Math.ceil(ms / 60_000);
  return m === 1 ? '1 minute' : `${m} minutes`;
}

/** Sessions for people in a browser; scripts use API tokens (routes/tokens.ts). */
export function authRoutes(api: Api, app: App, loginLimiter: RateLimiter): void {
  api.post(
    '/api/auth/login',
    {
      config: { auth: 'none' },
      schema: {
        tags: ['auth'],
        summary: 'Log in; sets the session cookie mailroom_session',
        body: LoginBody,
        response: { 200: LoginResult, ...errorResponses(400, 401, 429) },
      },
    },
    async (request, reply) => {
      const email = request.body.email.toLowerCase();
      // Keyed by client and address: guessing one address is slowed down, other people are not.
      const key = `${request.ip}\u0000${email}`;
      const verdict = loginLimiter.hit(key);
      if (!verdict.ok) {
        reply.header('retry-after', String(Math.ceil(verdict.retryAfterMs / 1000)));
        throw new AppError('RATE_LIMITED', `Too many login attempts for ${email}; wait ${minutes(verdict.retryAfterMs)} and try again.`);
      }
      const { principal, session, expiresAt } = await app.orgs.login(email, request.body.password);
      loginLimiter.reset(key);
      reply.setCookie(SESSION_COOKIE, session, sessionCookieOptions(request, new Date(expiresAt)));
      return { user: await app.orgs.getUser(principal.orgId, principal.userId), expiresAt };
    },
  );

  api.post(
    '/api/auth/logout',
    {
      config: { auth: 'none' },
      schema: {
        tags: ['auth'],
        summary: 'End the session of the cookie (if any) and clear the cookie',
        response: { 204: z.null().describe('Logged out') },
      },
    },
    async (request, reply) => {
      const session = request.cookies[SESSION_COOKIE];
      if (session) await app.orgs.logout(session);
      clearSessionCookie(request, reply);
      return reply.code(204).send(null);
    },
  );

  api.get(
    '/api/auth/me',
    {
      config: { auth: 'user' },
      schema: {
        tags: ['auth'],
        summary: 'The signed-in user and their organisation',
        response: { 200: Me, ...errorResponses(401) },
      },
    },
    async (request) => {
      const { principal, via } = callerOf(request);
      return {
        user: await app.orgs.getUser(principal.orgId, principal.userId),
        org: await currentOrg(app, principal),
        authenticatedBy: via,
      };
    },
  );
}
