/**
 * When a failed attempt is tried again: the schedule, and the decision as a pure function of
 * the failure and the clock (after Haraka's outbound/config.js, which keeps its schedule next to
 * the code that reads it, and emailengine's lib/delivery-error.js, which separates permanent from
 * transient failures in one tested place).
 *
 * - Permanent failures (5xx replies, SMTPUTF8 required, authentication and TLS configuration
 *   errors, a message the server will never take) fail at once: trying again cannot help.
 * - Transient failures (4xx replies, connection errors) are tried again after 1 m, 5 m, 15 m,
 *   1 h and 4 h, then every 4 h, each wait varied by ±10 % so that messages deferred together do
 *   not all come back in the same second. Once 24 h have passed since the message was queued
 *   (`giveUpAt`), a transient failure fails it; the last wait is shortened so that one attempt
 *   happens right at that point.
 */

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** Wait after the 1st, 2nd, ... transient failure. */
export const RETRY_SCHEDULE_MS: readonly number[] = [1 * MINUTE, 5 * MINUTE, 15 * MINUTE, 1 * HOUR, 4 * HOUR];
/** Wait after every failure beyond the schedule. */
export const RETRY_EVERY_MS = 4 * HOUR;
/** How long after enqueue transient failures are still retried. */
export const RETRY_WINDOW_MS = 24 * HOUR;
/** Each wait is varied by up to this fraction either way. */
export const RETRY_JITTER = 0.1;

export type RetryDecision =
  | { action: 'retry'; at: number; delayMs: number }
  | { action: 'fail'; reason: 'permanent' | 'expired' };

/** The wait (without jitter) after the `failures`-th failed attempt (1-based). */
export function baseDelayMs(failures: number): number {
  const n = Math.max(1, Math.floor(failures));
  return RETRY_SCHEDULE_MS[n - 1] ?? RETRY_EVERY_MS;
}

/** `delay` varied by ±RETRY_JITTER; `random` returns [0, 1) like Math.random. */
export function withJitter(delayMs: number, random: () => number): number {
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.round(delayMs * (1 + RETRY_JITTER * (2 * r - 1)));
}

export interface RetryInput {
  /** The failure cannot be fixed by trying again. */
  permanent: boolean;
  /** Failed attempts so far, this one included (1 after the first attempt failed). */
  failures: number;
  /** Now, in ms since the epoch. */
  now: number;
  /** Transient failures at or after this instant fail the message (enqueue + RETRY_WINDOW_MS). */
  giveUpAt: number;
  random?: () => number;
}

export function decideRetry(input: RetryInput): RetryDecision {
  if (input.permanent) return { action: 'fail', reason: 'permanent' };
  if (input.now >= input.giveUpAt) return { action: 'fail', reason: 'expired' };
  const delayMs = withJitter(baseDelayMs(input.failures), input.random ?? Math.random);
  const at = Math.min(input.now + delayMs, input.giveUpAt);
  return { action: 'retry', at, delayMs: at - input.now };
}
