import { z } from 'zod';
import type { App } from '../../app.ts';
import type { TokenRow } from '../../store/index.ts';
import { principalOf } from '../auth.ts';
import { errorResponses, IdParams, NewTokenSchema, TokenSchema } from '../schemas.ts';
import type { Api } from '../server.ts';

const NewToken = z.object({ name: z.string().trim().min(1).max(100).describe('What the token is for, e.g. "scanner script"') });

function tokenView(t: TokenRow): z.output<typeof TokenSchema> {
  return { id: t.id, name: t.name, createdAt: t.created_at, lastUsedAt: t.last_used_at };
}

/** Personal API tokens: each user sees and revokes only their own. */
export function tokenRoutes(api: Api, app: App): void {
  api.get(
    '/api/tokens',
    {
      config: { auth: 'user' },
      schema: { tags: ['tokens'], summary: 'Your API tokens (never their secrets)', response: { 200: z.object({ tokens: z.array(TokenSchema) }), ...errorResponses(401) } },
    },
    async (request) => ({ tokens: (await app.orgs.listApiTokens(principalOf(request).userId)).map(tokenView) }),
  );

  api.post(
    '/api/tokens',
    {
      config: { auth: 'user' },
      schema: { tags: ['tokens'], summary: 'Create an API token; its secret is shown only in this answer', body: NewToken, response: { 201: NewTokenSchema, ...errorResponses(400, 401) } },
    },
    async (request, reply) => {
      const { token, info } = await app.orgs.createApiToken(principalOf(request).userId, request.body.name);
      return reply.code(201).send({ ...tokenView(info), token });
    },
  );

  api.delete(
    '/api/tokens/:id',
    {
      config: { auth: 'user' },
      schema: { tags: ['tokens'], summary: 'Revoke one of your API tokens', params: IdParams, response: { 204: z.null().describe('Revoked'), ...errorResponses(400, 401, 404) } },
    },
    async (request, reply) => {
      await app.orgs.revokeApiToken(principalOf(request).userId, request.params.id);
      return reply.code(204).send(null);
    },
  );
}
