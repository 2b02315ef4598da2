import { z } from 'zod';
import type { App } from '../../app.ts';
import { principalOf } from '../auth.ts';
import { CabinetSchema, errorResponses, IdParams } from '../schemas.ts';
import type { Api } from '../server.ts';

const NewCabinet = z.object({ name: z.string().trim().min(1).max(100) });

/** File cabinets of the caller's organisation; administrators create them. */
export function cabinetRoutes(api: Api, app: App): void {
  api.get(
    '/api/cabinets',
    {
      config: { auth: 'user' },
      schema: { tags: ['cabinets'], summary: 'File cabinets of your organisation', response: { 200: z.object({ cabinets: z.array(CabinetSchema) }), ...errorResponses(401) } },
    },
    async (request) => ({ cabinets: await app.archive.listCabinets(principalOf(request).orgId) }),
  );

  api.post(
    '/api/cabinets',
    {
      config: { auth: 'admin' },
      schema: { tags: ['cabinets'], summary: 'Create a file cabinet', body: NewCabinet, response: { 201: CabinetSchema, ...errorResponses(400, 401, 403, 409) } },
    },
    async (request, reply) => {
      const cabinet = await app.archive.createCabinet(principalOf(request).orgId, request.body.name);
      return reply.code(201).send({ ...cabinet, documentCount: 0 });
    },
  );

  api.get(
    '/api/cabinets/:id',
    {
      config: { auth: 'user' },
      schema: { tags: ['cabinets'], summary: 'One file cabinet, with its number of documents', params: IdParams, response: { 200: CabinetSchema, ...errorResponses(400, 401, 404) } },
    },
    async (request) => {
      const { orgId } = principalOf(request);
      const cabinet = await app.archive.cabinetById(orgId, request.params.id);
      return { ...cabinet, documentCount: await app.archive.countDocuments(orgId, cabinet.id) };
    },
  );
}
