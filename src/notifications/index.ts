/**
 * Notifications (the room's one door): subscriptions to cabinets, the notifier that mails new
 * documents (immediately or as a daily digest) through the outbox, and the problems
 * administrators must see. Wiring into the app: docs/decisions/0006.
 */
export { createSubscriptions, parseMode, subscriptionView, type CabinetLookup, type Subscriptions } from './subscriptions.ts';
export { createNotifier, digestSlot, mailMarker, MARKER_HEADER, type Notifier, type NotifierDeps, type NotifierOptions, type NotificationMailer } from './notifier.ts';
export { createProblems, NOTIFICATIONS_UNAVAILABLE, problemView, type Problems } from './problems.ts';
export { SUBSCRIPTION_MODES, type ProblemView, type SubscriptionInput, type SubscriptionMode, type SubscriptionView, type TickSummary } from './types.ts';
