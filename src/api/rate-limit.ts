/**
 * A sliding-window counter per key, in memory (one process). Good enough to slow down password
 * guessing against one address from one client; several API processes each count on their own.
 */
export interface RateLimiter {
  /** Counts one attempt; `ok: false` means over the limit, with when to try again. */
  hit(key: string, now?: number): { ok: true } | { ok: false; retryAfterMs: number };
  /** Forgets the key (after a successful login). */
  reset(key: string): void;
  readonly size: number;
}

export function createRateLimiter(opts: { max: number; windowMs: number; maxKeys?: number }): RateLimiter {
  const maxKeys = opts.maxKeys ?? 10_000;
  const hits = new Map<string, number[]>();

  function prune(now: number): void {
    for (const [key, times] of hits) {
      if (times.length === 0 || times[times.length - 1]! <= now - opts.windowMs) hits.delete(key);
    }
    // Still too many live keys (a flood of distinct ones): drop the oldest entries first.
    for (const key of hits.keys()) {
      if (hits.size <= maxKeys) break;
      hits.delete(key);
    }
  }

  return {
    hit(key, now = Date.now()) {
      const times = (hits.get(key) ?? []).filter((t) => t > now - opts.windowMs);
      if (times.length >= opts.max) {
        hits.set(key, times);
        return { ok: false, retryAfterMs: Math.max(times[0]! + opts.windowMs - now, 1) };
      }
      times.push(now);
      hits.delete(key); // re-insert so Map order is least-recently-used first
      hits.set(key, times);
      if (hits.size > maxKeys) prune(now);
      return { ok: true };
    },
    reset(key) {
      hits.delete(key);
    },
    get size() {
      return hits.size;
    },
  };
}
