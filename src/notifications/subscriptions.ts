/**
 * Subscriptions: a user follows a file cabinet, optionally only documents matching a search
 * query, and is mailed for each new document (immediate) or once a day (daily). Every call is
 * scoped by organisation, and by user where the caller is one.
 */
import { randomUUID } from 'node:crypto';
import { queryTerms } from '../archive/index.ts';
import { AppError } from '../errors/index.ts';
import type { Store, SubscriptionListRow } from '../store/index.ts';
import { SUBSCRIPTION_MODES, type SubscriptionInput, type SubscriptionMode, type SubscriptionView } from './types.ts';

/** What subscriptions need of the archive (archive/service.ts satisfies it). */
export interface CabinetLookup {
  cabinetById(orgId: string, id: string): Promise<{ id: string; name: string }>;
  cabinetByName(orgId: string, name: string): Promise<{ id: string; name: string }>;
}

const MAX_QUERY = 500;

export function subscriptionView(r: SubscriptionListRow): SubscriptionView {
  return {
    id: r.id,
    userId: r.user_id,
    userEmail: r.user_email,
    cabinetId: r.cabinet_id,
    cabinetName: r.cabinet_name,
    query: r.query,
    mode: r.mode,
    createdAt: r.created_at,
    lastArchivedAt: r.last_archived_at,
  };
}

function notFound(id: string): AppError {
  return new AppError('NOT_FOUND', `No subscription with id ${id}; list yours with GET /api/subscriptions (or: mailroom notifications list).`);
}

export function parseMode(mode: string | undefined): SubscriptionMode {
  if (mode === undefined) return 'immediate';
  const m = SUBSCRIPTION_MODES.find((x) => x === mode);
  if (!m) throw new AppError('VALIDATION_FAILED', `Unknown mode "${mode}": choose immediate or daily.`, { details: { field: 'mode' } });
  return m;
}

export function createSubscriptions(deps: { store: Store; archive: CabinetLookup; now?: () => number }) {
  const { store, archive } = deps;
  const now = deps.now ?? Date.now;

  async function get(orgId: string, id: string, opts: { userId?: string | undefined } = {}): Promise<SubscriptionView> {
    const r = await store.notifications.subscriptions.byId(orgId, id);
    if (!r || (opts.userId !== undefined && r.user_id !== opts.userId)) throw notFound(id);
    return subscriptionView(r);
  }

  return {
    get,

    /** Subscribes the user (of the organisation) to a cabinet of the organisation. */
    async create(owner: { orgId: string; userId: string }, input: SubscriptionInput): Promise<SubscriptionView> {
      const user = await store.users.byId(owner.userId);
      if (!user || user.org_id !== owner.orgId) throw new AppError('USER_NOT_FOUND', `No user with id ${owner.userId} in this organisation.`);
      if ((input.cabinetId === undefined) === (input.cabinet === undefined)) {
        throw new AppError('VALIDATION_FAILED', 'Name the cabinet to follow: give either cabinetId or cabinet (its name).', { details: { field: 'cabinetId' } });
      }
      const cabinet = input.cabinetId !== undefined ? await archive.cabinetById(owner.orgId, input.cabinetId) : await archive.cabinetByName(owner.orgId, input.cabinet!);
      const query = input.query?.trim() ? input.query.trim() : null;
      if (query !== null) {
        if ([...query].length > MAX_QUERY) throw new AppError('VALIDATION_FAILED', `The query is longer than ${MAX_QUERY} characters.`, { details: { field: 'query' } });
        if (queryTerms(query).length === 0) throw new AppError('SEARCH_QUERY_EMPTY', 'The query has no words to look for; use letters or digits, or leave it out to follow every document.');
      }
      const at = new Date(now()).toISOString();
      const id = randomUUID();
      // The cursor starts now: documents archived from here on are notified.
      await store.notifications.subscriptions.insert({
        id,
        org_id: owner.orgId,
        user_id: owner.userId,
        cabinet_id: cabinet.id,
        query,
        mode: parseMode(input.mode),
        last_archived_at: at,
        last_document_id: '',
        created_at: at,
        updated_at: at,
      });
      return get(owner.orgId, id);
    },

    /** The organisation's subscriptions, or one user's. */
    async list(orgId: string, opts: { userId?: string | undefined } = {}): Promise<SubscriptionView[]> {
      return (await store.notifications.subscriptions.list({ orgId, userId: opts.userId })).map(subscriptionView);
    },

    /** Every subscription of every organisation (the operator's CLI). */
    async listAll(): Promise<SubscriptionView[]> {
      return (await store.notifications.subscriptions.list({})).map(subscriptionView);
    },

    /** Removes it; NOT_FOUND unless it is the organisation's (and the user's, when given). */
    async remove(orgId: string | undefined, id: string, opts: { userId?: string | undefined } = {}): Promise<void> {
      if ((await store.notifications.subscriptions.remove(orgId, id, opts.userId)) === 0) throw notFound(id);
    },
  };
}

export type Subscriptions = ReturnType<typeof createSubscriptions>;
