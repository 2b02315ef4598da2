import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Store } from '../../store/index.ts';

const TTL_MS = 60_000;

/** This process's identity as a lease holder. */
export const HOLDER = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;

export interface Lease {
  /** Becomes true when a renewal found the lease taken over (this process stalled past the TTL). */
  readonly lost: boolean;
  release(): Promise<void>;
}

/**
 * One run per account and folder across processes (design §2.2): a row in `leases` that expires
 * unless renewed, so a holder killed with -9 blocks the next run for at most the TTL.
 */
export async function acquireLease(store: Store, key: string, ttlMs = TTL_MS): Promise<Lease | null> {
  // One holder per acquisition, not per process: two runs in the same process (the scheduler
  // and an API "sync now") must exclude each other just like two processes do.
  const holder = `${HOLDER}:${randomUUID().slice(0, 8)}`;
  const expires = () => new Date(Date.now() + ttlMs).toISOString();
  const ok = await store.sync.leaseAcquire(key, holder, new Date().toISOString(), expires());
  if (!ok) return null;
  let lost = false;
  const timer = setInterval(() => {
    store.sync.leaseRenew(key, holder, expires()).then(
      (still) => {
        if (!still) lost = true;
      },
      () => {
        lost = true;
      },
    );
  }, Math.floor(ttlMs / 3));
  timer.unref();
  return {
    get lost() {
      return lost;
    },
    async release() {
      clearInterval(timer);
      await store.sync.leaseRelease(key, holder);
    },
  };
}
