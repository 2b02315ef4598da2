import { z } from 'zod';
import type { App } from '../../app.ts';
import { AppError } from '../../errors/index.ts';
import { principalOf } from '../auth.ts';
import { errorResponses, IdParams, LanguageSchema, RoleSchema, UserSchema } from '../schemas.ts';
import type { Api } from '../server.ts';

/** The same rule as the orgs service (any address with an @, non-ASCII allowed: SMTPUTF8). */
const Email = z.string().trim().max(320).regex(/^[^\s@]+@[^\s@]+$/u, 'must be an e-mail address');
const Name = z.string().trim().min(1).max(200);
const Password = z.string().min(8, 'must be at least 8 characters long').max(1024);

const NewUser = z.object({
  email: Email,
  name: Name.optional(),
  role: RoleSchema,
  password: Password.optional().describe('Without one the user cannot log in until an administrator sets it'),
  language: LanguageSchema.optional(),
});

const UserPatch = z
  .object({ name: Name.optional(), role: RoleSchema.optional(), language: LanguageSchema.optional(), password: Password.optional() })
  .refine((p) => Object.values(p).some((v) => v !== undefined), { message: 'give at least one of name, role, language or password to change' });

/** Users of the administrator's own organisation; every call is scoped by the caller's orgId. */
export function userRoutes(api: Api, app: App): void {
  api.get(
    '/api/users',
    {
      config: { auth: 'admin' },
      schema: { tags: ['users'], summary: 'Users of your organisation', response: { 200: z.object({ users: z.array(UserSchema) }), ...errorResponses(401, 403) } },
    },
    async (request) => ({ users: await app.orgs.listUsers(principalOf(request).orgId) }),
  );

  api.post(
    '/api/users',
    {
      config: { auth: 'admin' },
      schema: { tags: ['users'], summary: 'Add a user to your organisation', body: NewUser, response: { 201: UserSchema, ...errorResponses(400, 401, 403, 409) } },
    },
    async (request, reply) => {
      const user = await app.orgs.addUser({ ...request.body, orgId: principalOf(request).orgId });
      return reply.code(201).send(user);
    },
  );

  api.get(
    '/api/users/:id',
    {
      config: { auth: 'admin' },
      schema: { tags: ['users'], summary: 'One user of your organisation', params: IdParams, response: { 200: UserSchema, ...errorResponses(400, 401, 403, 404) } },
    },
    async (request) => app.orgs.getUser(principalOf(request).orgId, request.params.id),
  );

  api.patch(
    '/api/users/:id',
    {
      config: { auth: 'admin' },
      schema: {
        tags: ['users'],
        summary: "Change a user's name, role, language or password",
        params: IdParams,
        body: UserPatch,
        response: { 200: UserSchema, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const { password, name, role, language } = request.body;
      // Found in the caller's organisation first: an id of another organisation is simply unknown.
      await app.orgs.getUser(principal.orgId, request.params.id);
      if (request.params.id === principal.userId && role === 'user') {
        throw new AppError('FORBIDDEN', 'You cannot remove your own administrator role; ask another administrator to do it.');
      }
      if (password !== undefined) await app.orgs.setPassword(request.params.id, password);
      if (name === undefined && role === undefined && language === undefined) return app.orgs.getUser(principal.orgId, request.params.id);
      return app.orgs.updateUser(principal.orgId, request.params.id, {
        ...(name === undefined ? {} : { name }),
        ...(role === undefined ? {} : { role }),
        ...(language === undefined ? {} : { language }),
      });
    },
  );

  api.delete(
    '/api/users/:id',
    {
      config: { auth: 'admin' },
      schema: { tags: ['users'], summary: 'Remove a user (with their sessions and API tokens)', params: IdParams, response: { 204: z.null().describe('Removed'), ...errorResponses(400, 401, 403, 404) } },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      if (request.params.id === principal.userId) {
        throw new AppError('FORBIDDEN', 'You cannot remove your own account; ask another administrator to do it.');
      }
      await app.orgs.removeUser(principal.orgId, request.params.id);
      return reply.code(204).send(null);
    },
  );
}
