/**
 * Outbox: durable send queue, retry policy, delivery log and sending components (the room's one
 * door). Wiring into the app: see `createOutbox` and docs/decisions/0004-outbox-delivery-guarantee.md.
 */
export { createOutbox, fileNameFromSubject, toAddress, MAX_MESSAGE_BYTES, type Outbox } from './service.ts';
export { baseDelayMs, decideRetry, withJitter, RETRY_EVERY_MS, RETRY_JITTER, RETRY_SCHEDULE_MS, RETRY_WINDOW_MS, type RetryDecision, type RetryInput } from './retry.ts';
export { failureOf, type Classify, type DrainSummary, type Failure, type OutboxWorker } from './worker.ts';
export { SYSTEM_DEFAULT, systemSettings } from './components.ts';
export {
  OUTBOX_STATUSES,
  SEND_COMPONENTS,
  type AddressInput,
  type ArchiveReader,
  type ComponentView,
  type DeliveryOutcome,
  type EnqueueInput,
  type OpenSender,
  type OutboxComponent,
  type OutboxDeps,
  type OutboxEventView,
  type OutboxMessageDetail,
  type OutboxMessageView,
  type OutboxOptions,
  type OutboxStatus,
  type QueuedMessage,
  type ResolvedSender,
  type SendAttachment,
  type SendComponent,
  type SendRequest,
  type SmtpServiceDirectory,
} from './types.ts';
