import type { SubscriptionMode } from '../store/index.ts';

export type { SubscriptionMode };
export const SUBSCRIPTION_MODES: readonly SubscriptionMode[] = ['immediate', 'daily'];

/** A subscription as the API and CLI show it. */
export interface SubscriptionView {
  id: string;
  userId: string;
  userEmail: string;
  cabinetId: string;
  cabinetName: string;
  /** A search query (the archive's search semantics) documents must match; null: every document. */
  query: string | null;
  mode: SubscriptionMode;
  createdAt: string;
  /** The newest document handled so far (archived_at), or the creation time. */
  lastArchivedAt: string;
}

export interface SubscriptionInput {
  /** The cabinet by id (API) or by name (CLI); one of them. */
  cabinetId?: string | undefined;
  cabinet?: string | undefined;
  query?: string | null | undefined;
  mode?: SubscriptionMode | undefined;
}

/** A problem an organisation's administrators must see: what is wrong and how to fix it. */
export interface ProblemView {
  kind: string;
  message: string;
  fix: string;
  firstSeenAt: string;
  lastSeenAt: string;
  count: number;
  /** When it was seen working again; null while it is open. */
  resolvedAt: string | null;
}

/** What one notifier tick did. */
export interface TickSummary {
  /** Another process held the notifier lease; nothing was done. */
  skipped: boolean;
  /** Notification mails put into the outbox (immediate and digests). */
  enqueued: number;
  digests: number;
  /** Mails recorded earlier and found already in the outbox (after a crash), or enqueued now. */
  recovered: number;
  /** Mails that could not be enqueued; they are tried again on the next tick. */
  failed: number;
}
