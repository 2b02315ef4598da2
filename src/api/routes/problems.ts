import { z } from 'zod';
import type { App } from '../../app.ts';
import { createProblems, type Problems } from '../../notifications/index.ts';
import { principalOf } from '../auth.ts';
import { errorResponses, named } from '../schemas.ts';
import type { Api } from '../server.ts';

const built = new WeakMap<App, Problems>();

/** The app's problems (App.problems when wired; else built from the store). */
export function problemsOf(app: App): Problems {
  const wired = (app as App & { readonly problems?: Problems }).problems;
  if (wired) return wired;
  let made = built.get(app);
  if (!made) {
    made = createProblems(app.store);
    built.set(app, made);
  }
  return made;
}

export const ProblemSchema = named(
  'Problem',
  z.object({
    kind: z.string().describe('e.g. password_reset_unavailable, notifications_unavailable'),
    message: z.string().describe('What is wrong'),
    fix: z.string().describe('How to fix it'),
    firstSeenAt: z.string(),
    lastSeenAt: z.string(),
    count: z.number().int().describe('How often it was seen since it first appeared'),
    resolvedAt: z.string().nullable().describe('When it worked again; null while open'),
  }),
  'Something in your organisation that needs an administrator.',
);

const ProblemsQuery = z.object({ all: z.enum(['true', 'false']).optional().describe('true: resolved problems too') });

/** Problems the organisation's administrators must see. */
export function problemRoutes(api: Api, app: App): void {
  api.get(
    '/api/problems',
    {
      config: { auth: 'admin' },
      schema: {
        tags: ['problems'],
        summary: "Open problems of your organisation, what they are and how to fix them",
        querystring: ProblemsQuery,
        response: { 200: z.object({ problems: z.array(ProblemSchema) }), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => ({ problems: await problemsOf(app).list(principalOf(request).orgId, { includeResolved: request.query.all === 'true' }) }),
  );
}
