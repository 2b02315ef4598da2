import { z } from 'zod';
import type { App } from '../../app.ts';
import { AppError, isAppError } from '../../errors/index.ts';
import { RESET_ACCEPTED } from '../../orgs/index.ts';
import { errorResponses, named } from '../schemas.ts';
import type { Api } from '../server.ts';

const ResetRequest = named(
  'PasswordResetRequest',
  z.object({ email: z.string().trim().min(3).max(320).describe('The address of the account') }).strict(),
);

const ResetAccepted = named(
  'PasswordResetAccepted',
  z.object({ status: z.literal('sent-if-registered') }),
  'The same answer whether or not the address has an account: if it has one, a link is on its way.',
);

const ResetConfirm = named(
  'PasswordResetConfirm',
  z
    .object({
      token: z.string().trim().min(1).max(200).describe('The token from the link in the reset mail'),
      password: z.string().min(8).max(1024).describe('The new password, at least 8 characters'),
    })
    .strict(),
);

const ResetDone = named('PasswordResetDone', z.object({ status: z.literal('password-changed') }), 'The password is set; every session of the account has ended. Log in with the new password.');

/** Sets Retry-After on RATE_LIMITED answers. */
function withRetryAfter(err: unknown, reply: { header(name: string, value: string): unknown }): never {
  if (isAppError(err) && err.code === 'RATE_LIMITED' && typeof err.details?.['retryAfterSeconds'] === 'number') {
    reply.header('retry-after', String(err.details['retryAfterSeconds']));
  }
  throw err;
}

/** Forgotten passwords: a single-use link by mail (src/orgs/password-reset.ts, docs/decisions/0006). */
export function passwordResetRoutes(api: Api, app: App): void {
  api.post(
    '/api/auth/password-reset',
    {
      config: { auth: 'none' },
      schema: {
        tags: ['auth'],
        summary: 'Mail a password reset link to an address, if it has an account',
        description:
          'Always answers 202 {"status":"sent-if-registered"}, whether or not the address has an account. The link ' +
          '(PUBLIC_URL/reset-password?token=...) works once, for 30 minutes. 503 PASSWORD_RESET_UNAVAILABLE when no ' +
          'working SMTP connection can send it (the administrators see the problem in GET /api/problems); 429 RATE_LIMITED ' +
          'after 3 requests per address or 10 per client per hour.',
        body: ResetRequest,
        response: { 202: ResetAccepted, ...errorResponses(400, 429, 503) },
      },
    },
    async (request, reply) => {
      try {
        await app.passwordReset.request({ email: request.body.email, ip: request.ip });
      } catch (err) {
        withRetryAfter(err, reply);
      }
      return reply.code(202).send(RESET_ACCEPTED);
    },
  );

  api.post(
    '/api/auth/password-reset/confirm',
    {
      config: { auth: 'none' },
      schema: {
        tags: ['auth'],
        summary: 'Set a new password with the token from a reset mail',
        description: 'Uses up the token, ends every session of the account and invalidates its other reset links. 400 RESET_TOKEN_INVALID for a used, expired or unknown token.',
        body: ResetConfirm,
        response: { 200: ResetDone, ...errorResponses(400) },
      },
    },
    async (request) => {
      await app.passwordReset.confirm({ token: request.body.token, password: request.body.password });
      return { status: 'password-changed' as const };
    },
  );
}
