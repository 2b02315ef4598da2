import { z } from 'zod';
import type { App } from '../../app.ts';
import { createSubscriptions, type Subscriptions } from '../../notifications/index.ts';
import { principalOf } from '../auth.ts';
import { IdParams, errorResponses, named } from '../schemas.ts';
import type { Api } from '../server.ts';

const built = new WeakMap<App, Subscriptions>();

/** The app's subscriptions (App.notifications.subscriptions when wired; else built from the store and archive). */
export function subscriptionsOf(app: App): Subscriptions {
  const wired = (app as App & { readonly notifications?: { readonly subscriptions: Subscriptions } }).notifications;
  if (wired) return wired.subscriptions;
  let made = built.get(app);
  if (!made) {
    made = createSubscriptions({ store: app.store, archive: app.archive });
    built.set(app, made);
  }
  return made;
}

const Mode = z.enum(['immediate', 'daily']);

export const SubscriptionSchema = named(
  'Subscription',
  z.object({
    id: z.string(),
    userId: z.string(),
    userEmail: z.string(),
    cabinetId: z.string(),
    cabinetName: z.string(),
    query: z.string().nullable().describe('Only documents matching this search query (null: every document)'),
    mode: Mode.describe('immediate: a mail per document; daily: one digest a day'),
    createdAt: z.string(),
    lastArchivedAt: z.string().describe('The newest document handled so far'),
  }),
  'A cabinet you follow: new documents in it are mailed to you.',
);

const NewSubscription = named(
  'NewSubscription',
  z
    .object({
      cabinetId: z.uuid().optional().describe('The cabinet to follow (or give its name as cabinet)'),
      cabinet: z.string().trim().min(1).max(100).optional().describe('The cabinet to follow, by name'),
      query: z.string().max(500).optional().describe('Only documents matching this search query'),
      mode: Mode.optional().describe('Default immediate'),
    })
    .strict(),
);

/** Subscriptions to cabinets: each user manages their own. */
export function subscriptionRoutes(api: Api, app: App): void {
  api.get(
    '/api/subscriptions',
    {
      config: { auth: 'user' },
      schema: { tags: ['notifications'], summary: 'Your subscriptions to cabinets', response: { 200: z.object({ subscriptions: z.array(SubscriptionSchema) }), ...errorResponses(401) } },
    },
    async (request) => {
      const p = principalOf(request);
      return { subscriptions: await subscriptionsOf(app).list(p.orgId, { userId: p.userId }) };
    },
  );

  api.post(
    '/api/subscriptions',
    {
      config: { auth: 'user' },
      schema: {
        tags: ['notifications'],
        summary: 'Follow a cabinet: be mailed about new documents (optionally only those matching a query)',
        body: NewSubscription,
        response: { 201: SubscriptionSchema, ...errorResponses(400, 401, 404) },
      },
    },
    async (request, reply) => {
      const p = principalOf(request);
      const b = request.body;
      const sub = await subscriptionsOf(app).create({ orgId: p.orgId, userId: p.userId }, { cabinetId: b.cabinetId, cabinet: b.cabinet, query: b.query, mode: b.mode });
      return reply.code(201).send(sub);
    },
  );

  api.delete(
    '/api/subscriptions/:id',
    {
      config: { auth: 'user' },
      schema: { tags: ['notifications'], summary: 'Stop following (one of your subscriptions)', params: IdParams, response: { 204: z.null().describe('Removed'), ...errorResponses(400, 401, 404) } },
    },
    async (request, reply) => {
      const p = principalOf(request);
      await subscriptionsOf(app).remove(p.orgId, request.params.id, { userId: p.userId });
      return reply.code(204).send(null);
    },
  );
}
