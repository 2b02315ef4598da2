/**
 * Problems an organisation's administrators must see (org_problems): one row per kind, counted
 * when seen again, resolved when it works again. Password reset records
 * `password_reset_unavailable`, the notifier `notifications_unavailable`; the health capability
 * can take this over and mail them (outbox/templates renderAdminAlert).
 */
import type { OrgProblemRow, Store } from '../store/index.ts';
import type { ProblemView } from './types.ts';

export const NOTIFICATIONS_UNAVAILABLE = 'notifications_unavailable';

export function problemView(r: OrgProblemRow): ProblemView {
  return { kind: r.kind, message: r.message, fix: r.fix, firstSeenAt: r.first_seen_at, lastSeenAt: r.last_seen_at, count: Number(r.count), resolvedAt: r.resolved_at };
}

export function createProblems(store: Store, now: () => number = Date.now) {
  const iso = (): string => new Date(now()).toISOString();
  return {
    /** Open problems, most recent first; with includeResolved also the resolved ones. */
    async list(orgId: string, opts: { includeResolved?: boolean } = {}): Promise<ProblemView[]> {
      return (await store.notifications.problems.list(orgId, { includeResolved: opts.includeResolved ?? false })).map(problemView);
    },
    async record(orgId: string, kind: string, message: string, fix: string): Promise<void> {
      await store.notifications.problems.record({ orgId, kind, message, fix, at: iso() });
    },
    async resolve(orgId: string, kind: string): Promise<boolean> {
      return store.notifications.problems.resolve(orgId, kind, iso());
    },
  };
}

export type Problems = ReturnType<typeof createProblems>;
