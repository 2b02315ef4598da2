import { z } from 'zod';
import type { App } from '../../app.ts';
import { AppError } from '../../errors/index.ts';
import type { OrgView, Principal } from '../../orgs/index.ts';
import { principalOf } from '../auth.ts';
import { errorResponses, OrgSchema } from '../schemas.ts';
import type { Api } from '../server.ts';

/** The caller's organisation. (The orgs service has no lookup by id yet; the list is short.) */
export async function currentOrg(app: App, principal: Principal): Promise<OrgView> {
  const org = (await app.orgs.listOrgs()).find((o) => o.id === principal.orgId);
  if (!org) throw new AppError('ORG_NOT_FOUND', 'Your organisation no longer exists.');
  return org;
}

/**
 * Organisations are created by operators (`mailroom orgs add`), not over the API: a caller only
 * ever sees their own.
 */
export function orgRoutes(api: Api, app: App): void {
  api.get(
    '/api/orgs/current',
    {
      config: { auth: 'user' },
      schema: { tags: ['orgs'], summary: "The caller's organisation", response: { 200: OrgSchema, ...errorResponses(401) } },
    },
    async (request) => currentOrg(app, principalOf(request)),
  );

  api.get(
    '/api/orgs',
    {
      config: { auth: 'user' },
      schema: {
        tags: ['orgs'],
        summary: "The organisations the caller can see: only their own",
        response: { 200: z.object({ orgs: z.array(OrgSchema) }), ...errorResponses(401) },
      },
    },
    async (request) => ({ orgs: [await currentOrg(app, principalOf(request))] }),
  );
}
