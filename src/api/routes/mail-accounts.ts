import { z } from 'zod';
import type { App } from '../../app.ts';
import type { AccountView } from '../../connect/index.ts';
import type { Principal } from '../../orgs/index.ts';
import { principalOf } from '../auth.ts';
import { ConnectionTestSchema, errorResponses, IdParams, MailAccountSchema } from '../schemas.ts';
import type { Api } from '../server.ts';

const NewAccount = z
  .object({
    name: z.string().trim().min(1).max(100),
    serviceId: z.uuid().describe('An IMAP service of your organisation'),
    username: z.string().min(1).max(320),
    password: z.string().min(1).max(1024).describe('Stored encrypted, never returned'),
    shared: z.boolean().optional().describe('false: only you (and administrators) may see and use it; default true'),
  })
  .strict();

/** A mail account the caller may see and use (the rule lives in connect). */
export async function visibleAccount(app: App, p: Principal, id: string): Promise<AccountView> {
  return app.connect.accounts.visibleTo(p.orgId, p, id);
}

/** Mail accounts: any user adds their own; personal ones (shared=false) stay with their owner and the administrators. */
export function mailAccountRoutes(api: Api, app: App): void {
  api.get(
    '/api/mail-accounts',
    {
      config: { auth: 'user' },
      schema: {
        tags: ['mail accounts'],
        summary: 'Mail accounts you may use: the shared ones and your own (administrators: all)',
        response: { 200: z.object({ accounts: z.array(MailAccountSchema) }), ...errorResponses(401) },
      },
    },
    async (request) => {
      const p = principalOf(request);
      return { accounts: await app.connect.accounts.listVisible(p.orgId, p) };
    },
  );

  api.post(
    '/api/mail-accounts',
    {
      config: { auth: 'user' },
      schema: {
        tags: ['mail accounts'],
        summary: 'Add a mail account (you are its owner)',
        description: 'The service must be an IMAP service of your organisation. Test the login with POST /api/mail-accounts/{id}/test.',
        body: NewAccount,
        response: { 201: MailAccountSchema, ...errorResponses(400, 401, 404, 409) },
      },
    },
    async (request, reply) => {
      const p = principalOf(request);
      const b = request.body;
      const account = await app.connect.accounts.create(p.orgId, {
        name: b.name,
        serviceId: b.serviceId,
        username: b.username,
        password: b.password,
        ownerUserId: p.userId,
        ...(b.shared === undefined ? {} : { shared: b.shared }),
      });
      return reply.code(201).send(account);
    },
  );

  api.get(
    '/api/mail-accounts/:id',
    {
      config: { auth: 'user' },
      schema: { tags: ['mail accounts'], summary: 'One mail account', params: IdParams, response: { 200: MailAccountSchema, ...errorResponses(400, 401, 404) } },
    },
    async (request) => visibleAccount(app, principalOf(request), request.params.id),
  );

  api.delete(
    '/api/mail-accounts/:id',
    {
      config: { auth: 'user' },
      schema: {
        tags: ['mail accounts'],
        summary: 'Remove a mail account (its owner or an administrator)',
        description: '409 IN_USE while import rules read from it.',
        params: IdParams,
        response: { 204: z.null().describe('Removed'), ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const p = principalOf(request);
      await app.connect.accounts.removeAs(p.orgId, p, request.params.id);
      return reply.code(204).send(null);
    },
  );

  api.post(
    '/api/mail-accounts/:id/test',
    {
      config: { auth: 'user' },
      schema: {
        tags: ['mail accounts'],
        summary: "Log in to the account's mailbox and count its folders",
        description: 'A wrong password answers 502 MAIL_AUTH_FAILED; an unreachable server 502 MAIL_HOST_UNREACHABLE.',
        params: IdParams,
        response: { 200: ConnectionTestSchema, ...errorResponses(400, 401, 404, 502) },
      },
    },
    async (request) => {
      const p = principalOf(request);
      const row = await visibleAccount(app, p, request.params.id);
      return app.connect.testAccount(p.orgId, row.name);
    },
  );
}
