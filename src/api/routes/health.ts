import { z } from 'zod';
import type { App } from '../../app.ts';
import { AppError } from '../../errors/index.ts';
import { errorResponses } from '../schemas.ts';
import type { Api } from '../server.ts';

const Health = z.object({
  status: z.literal('ok'),
  database: z.enum(['sqlite', 'postgres']),
  version: z.string(),
});

/** An id no row has: looking it up is the cheapest query that still needs a working database. */
const PROBE_ID = '00000000-0000-0000-0000-000000000000';

/** Liveness and readiness for load balancers and monitoring; no authentication, no tenant data. */
export function healthRoutes(api: Api, app: App, version: string): void {
  api.get(
    '/api/health',
    {
      config: { auth: 'none' },
      schema: {
        tags: ['health'],
        summary: 'Is the server up and its database reachable?',
        response: { 200: Health, ...errorResponses(503) },
      },
    },
    async (request) => {
      try {
        await app.store.orgs.byId(PROBE_ID);
      } catch (err) {
        request.log.error({ err }, 'health check: database query failed');
        throw new AppError('DATABASE_UNAVAILABLE', `The database (${app.store.db.dialect}) does not answer; check that it is running and reachable.`);
      }
      return { status: 'ok' as const, database: app.store.db.dialect, version };
    },
  );
}
