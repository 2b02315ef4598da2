/**
 * Messages-per-minute limit of one sender (Exchange Online allows 30 per mailbox and minute): a
 * token bucket that delays callers, never drops them. Each call reserves the next token at once,
 * so concurrent callers are served in call order and each waits exactly for its own token.
 *
 * With the default burst of 1 messages leave evenly spaced (60 000 / perMinute ms apart), which
 * keeps every sliding minute within the limit; a larger burst lets a quiet sender send that many
 * at once, at the cost of exceeding a strict sliding-window limit right after the burst.
 */

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export interface RateLimiter {
  /** Resolves when the caller may send one message; returns the milliseconds it waited. */
  take(): Promise<number>;
}

export function createRateLimiter(options: { perMinute: number; burst?: number; clock?: Clock }): RateLimiter {
  const { perMinute } = options;
  if (!Number.isFinite(perMinute) || perMinute <= 0) throw new RangeError(`perMinute must be a positive number, got ${perMinute}`);
  const burst = Math.max(1, Math.floor(options.burst ?? 1));
  const clock = options.clock ?? systemClock;
  const perMs = perMinute / 60_000;
  let tokens = burst;
  let updatedAt = clock.now();

  return {
    async take(): Promise<number> {
      const now = clock.now();
      tokens = Math.min(burst, tokens + (now - updatedAt) * perMs);
      updatedAt = now;
      tokens -= 1; // reserve; a negative balance is the queue of callers already waiting
      if (tokens >= 0) return 0;
      const wait = Math.ceil(-tokens / perMs);
      await clock.sleep(wait);
      return wait;
    },
  };
}
