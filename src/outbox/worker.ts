/**
 * The send worker: claims due messages, sends each through its service's pooled sender, and
 * records every attempt with the server's reply.
 *
 * Delivery guarantee (docs/decisions/0004-outbox-delivery-guarantee.md):
 * - A message is claimed (status `sending`, claimed_by, claim_expires_at) before it is sent, in
 *   one conditional statement, so two workers never send it at the same time. A live worker
 *   renews its claims; a dead worker's claims expire and the messages are reclaimed.
 * - The server's acceptance is recorded as `sent` as soon as the reply arrives: the only await
 *   between the reply and the record is the database write itself (a group commit shared with
 *   the replies that arrived in the same event-loop turn; see GroupCommit). No logging, no
 *   connection bookkeeping of ours, nothing else comes first. A message recorded `sent` is
 *   never claimed again.
 * - What cannot be closed is the RFC 1047 window: if the process dies after the server accepted
 *   a message and before that write commits, the message is still `sending`; once its claim
 *   expires it is reclaimed and sent again with the same Message-ID. Delivery is therefore
 *   at-least-once, and a duplicate is possible only for messages that were `sending` at the crash.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { isAppError } from '../errors/index.ts';
import type { SendResult } from '../gateways/index.ts';
import type { SmtpErrorClass } from '../gateways/smtp/index.ts';
import type { Logger } from '../log/index.ts';
import type { ClaimedRow, OutboxRepo, OutboxResult } from '../store/index.ts';
import { decideRetry, RETRY_WINDOW_MS } from './retry.ts';
import type { SenderPool } from './senders.ts';

export interface WorkerOptions {
  id?: string;
  concurrency: number;
  leaseMs: number;
  pollMs: number;
  claimBatch: number;
  now: () => number;
  random: () => number;
}

export interface DrainSummary {
  sent: number;
  deferred: number;
  failed: number;
}

export interface OutboxWorker {
  readonly id: string;
  /** True between start() and stop(). */
  readonly running: boolean;
  /** Runs in the background until stop(): sends what is due, sleeps until the next is. */
  start(): void;
  /** Stops claiming, lets the sends in flight finish and be recorded, gives back unstarted claims. */
  stop(): Promise<void>;
  /** Something was queued: look now instead of at the next poll. */
  wake(): void;
  /**
   * Sends what is due now (only `ids`, when given) and returns once nothing of it is left and
   * every result is recorded: for the CLI, benchmarks and tests. Not while start()ed.
   */
  drain(opts?: { ids?: string[] }): Promise<DrainSummary>;
}

/** A failure as the retry policy sees it. */
export interface Failure {
  permanent: boolean;
  code: string;
  reply: string | null;
  message: string;
}

/** The SMTP gateway's classifier (gateways/smtp `classifySmtpError`), loaded with the gateway. */
export type Classify = (err: unknown) => SmtpErrorClass;

/** Classifies what a send threw: the SMTP gateway's AppErrors carry `details.permanent`. */
export function failureOf(err: unknown, classify: Classify): Failure {
  if (isAppError(err) && typeof err.details?.['permanent'] !== 'boolean') {
    // Not from the gateway: our own errors. The environment (database, key) may recover; bad input will not.
    const permanent = !(err.kind === 'operational' || err.kind === 'unexpected' || err.kind === 'rate_limited' || err.kind === 'peer');
    return { permanent, code: err.code, reply: null, message: err.message };
  }
  const c = classify(err);
  return { permanent: c.permanent, code: c.code, reply: c.response, message: c.message };
}

/** Messages up to this size come with their claim; larger ones are read just before sending. */
const INLINE_BYTES = 256 * 1024;

/** How long the group commit keeps trying to write results before it gives up on them. */
const GIVE_UP_RECORDING_MS = 5 * 60_000;

const iso = (ms: number): string => new Date(ms).toISOString();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Results are written in groups (group commit). A result is handed over synchronously the moment
 * its reply arrives; the write starts at the end of the current event-loop turn (setImmediate),
 * so the replies that arrived in the same turn share one transaction, and results that arrive
 * while a write is running go into the next one. Nobody waits for a batch to fill: a lone result
 * is written at once. (better-sqlite3 commits synchronously, fsync included: without this, every
 * reply would cost one blocking commit and hold up the SMTP sessions of all the others.)
 */
class GroupCommit {
  private pending: Array<{ result: OutboxResult; done: () => void }> = [];
  private flushing: Promise<void> | null = null;

  constructor(
    private readonly repo: OutboxRepo,
    private readonly log: Logger,
  ) {}

  record(result: OutboxResult): Promise<void> {
    return new Promise<void>((done) => {
      this.pending.push({ result, done });
      this.flushing ??= new Promise<void>((started) => setImmediate(started)).then(() => this.flush());
    });
  }

  async idle(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  private async flush(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        const batch = this.pending.splice(0);
        const started = Date.now();
        for (let wait = 100; ; wait = Math.min(wait * 2, 5_000)) {
          try {
            await this.repo.recordResults(batch.map((b) => b.result));
            break;
          } catch (err) {
            // The results are true (a sent message was accepted): keep them until they can be
            // written. After GIVE_UP_RECORDING_MS they are dropped with an error; the messages stay
            // `sending`, are reclaimed when their claims expire and sent again (at-least-once).
            const ids = batch.map((b) => b.result.id);
            if (Date.now() - started > GIVE_UP_RECORDING_MS) {
              this.log.error({ err, ids }, 'could not record send results; giving up, the messages will be reclaimed and sent again');
              break;
            }
            this.log.error({ err, results: ids.length }, 'could not record send results; retrying');
            await sleep(wait);
          }
        }
        for (const b of batch) b.done();
      }
    } finally {
      this.flushing = null;
    }
  }
}

export function createWorker(
  deps: { repo: OutboxRepo; senders: SenderPool; log: Logger; classifier: () => Promise<Classify> },
  options: WorkerOptions,
): OutboxWorker {
  const { repo, senders } = deps;
  const id = options.id ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const log = deps.log.child({ component: 'outbox', worker: id });
  const recorder = new GroupCommit(repo, log);
  const reclaimEveryMs = Math.max(200, Math.min(options.leaseMs / 2, 5_000));

  const buffer: ClaimedRow[] = [];
  const inFlight = new Set<Promise<void>>();
  let loop: Promise<void> | null = null;
  let draining = false;
  let stopping = false;
  let lastReclaim = Number.NEGATIVE_INFINITY;
  let renewTimer: NodeJS.Timeout | null = null;
  let wakeUp: (() => void) | null = null;
  let woken = false;
  let summary: DrainSummary = { sent: 0, deferred: 0, failed: 0 };

  function wake(): void {
    woken = true;
    const w = wakeUp;
    wakeUp = null;
    w?.();
  }

  /** Resolves on wake() (or at once when woken since the last wait). */
  function woke(): Promise<void> {
    if (woken) {
      woken = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      wakeUp = () => {
        woken = false;
        resolve();
      };
    });
  }

  function startRenewing(): void {
    if (renewTimer) return;
    renewTimer = setInterval(() => {
      if (buffer.length === 0 && inFlight.size === 0) return;
      repo.renewClaims(id, iso(options.now() + options.leaseMs)).catch((err: unknown) => log.warn({ err }, 'could not renew message claims'));
    }, Math.max(100, Math.floor(options.leaseMs / 3)));
    renewTimer.unref();
  }

  function stopRenewing(): void {
    if (renewTimer) clearInterval(renewTimer);
    renewTimer = null;
  }

  async function reclaimIfDue(): Promise<void> {
    const now = options.now();
    if (now - lastReclaim < reclaimEveryMs) return;
    lastReclaim = now;
    const reclaimed = await repo.reclaimExpired(iso(now), id);
    if (reclaimed.length > 0) log.warn({ count: reclaimed.length }, 'reclaimed messages whose worker stopped while sending them; they are sent again (at-least-once)');
  }

  /** Claims more when the local queue runs dry; false when nothing more was due. */
  async function refill(ids: string[] | undefined): Promise<boolean> {
    if (buffer.length > 0 || inFlight.size >= options.concurrency) return true;
    const limit = options.claimBatch - inFlight.size;
    const now = options.now();
    const rows = await repo.claim({ worker: id, now: iso(now), until: iso(now + options.leaseMs), limit, inlineBytes: INLINE_BYTES, ...(ids ? { ids } : {}) });
    buffer.push(...rows);
    return rows.length > 0;
  }

  function failed(row: ClaimedRow, attempt: number, err: unknown, classify: Classify): Extract<OutboxResult, { kind: 'deferred' | 'failed' }> {
    const f = failureOf(err, classify);
    const now = options.now();
    const decision = decideRetry({ permanent: f.permanent, failures: attempt, now, giveUpAt: Date.parse(row.give_up_at), random: options.random });
    const base = { id: row.id, worker: id, at: iso(now), attempt, reply: f.reply, code: f.code };
    if (decision.action === 'retry') return { ...base, kind: 'deferred', message: f.message, nextAttemptAt: iso(decision.at) };
    const expired = decision.reason === 'expired' ? ` Gave up: it could not be delivered within ${RETRY_WINDOW_MS / 3_600_000} h of being queued.` : '';
    return { ...base, kind: 'failed', message: `${f.message}${expired}` };
  }

  async function sendOne(row: ClaimedRow): Promise<void> {
    const attempt = row.attempts + 1;
    let result: SendResult;
    try {
      const sender = await senders.get(row.org_id, row.service_id);
      const raw = row.raw ?? (await repo.raw(row.id));
      row.raw = null; // the buffered row no longer holds the bytes
      if (raw === undefined) return; // deleted meanwhile (its organisation was removed)
      result = await sender.send({ from: row.envelope_from, to: JSON.parse(row.envelope_to_json) as string[] }, raw);
    } catch (err) {
      const r = failed(row, attempt, err, await deps.classifier());
      await recorder.record(r);
      summary[r.kind === 'deferred' ? 'deferred' : 'failed'] += 1;
      log.info({ outboxId: row.id, attempt, status: r.kind, code: r.code, reply: r.reply }, r.kind === 'deferred' ? 'message deferred' : 'message failed');
      return;
    }
    // The server has accepted the message. From here to the committed `sent` record is the
    // RFC 1047 window: nothing but that one write happens in it (no logging, no other await).
    await recorder.record({
      kind: 'sent',
      id: row.id,
      worker: id,
      at: iso(options.now()),
      attempt,
      reply: result.response,
      queueId: result.queueId,
      note: result.rejected.length > 0 ? `accepted for ${result.accepted.length} recipient(s); refused: ${result.rejected.join(', ')}` : null,
    });
    summary.sent += 1;
    log.debug({ outboxId: row.id, attempt, queueId: result.queueId }, 'message sent');
  }

  function dispatch(): void {
    while (inFlight.size < options.concurrency && buffer.length > 0) {
      const row = buffer.shift()!;
      const p: Promise<void> = sendOne(row)
        .catch((err: unknown) => log.error({ err, outboxId: row.id }, 'sending a message failed unexpectedly; it is retried once its claim expires'))
        .finally(() => {
          inFlight.delete(p);
          wake();
        });
      inFlight.add(p);
    }
  }

  async function run(forever: boolean, ids?: string[]): Promise<void> {
    while (!stopping) {
      try {
        await reclaimIfDue();
        const more = await refill(ids);
        dispatch();
        if (inFlight.size === 0 && buffer.length === 0) {
          if (!forever) break;
          const next = more ? null : await repo.nextWakeAt();
          const until = next === null ? options.pollMs : Date.parse(next) - options.now();
          const ms = Math.min(options.pollMs, Math.max(50, until));
          await Promise.race([sleep(ms), woke()]);
        } else {
          await Promise.race([...inFlight, woke()]);
        }
      } catch (err) {
        log.error({ err }, 'the outbox worker hit an error; continuing');
        await Promise.race([sleep(options.pollMs), woke()]);
      }
    }
    await Promise.allSettled([...inFlight]);
    await recorder.idle();
  }

  async function giveBack(): Promise<void> {
    const ids = buffer.splice(0).map((r) => r.id);
    if (ids.length > 0) await repo.release(id, ids, iso(options.now()));
  }

  return {
    id,
    get running() {
      return loop !== null;
    },
    start() {
      if (loop || draining) return;
      stopping = false;
      startRenewing();
      loop = run(true);
      log.info({ concurrency: options.concurrency }, 'outbox worker started');
    },
    async stop() {
      if (!loop) return;
      stopping = true;
      wake();
      try {
        await loop;
        await giveBack();
      } finally {
        stopRenewing();
        loop = null;
        log.info('outbox worker stopped');
      }
    },
    wake,
    async drain(opts = {}) {
      if (loop || draining) throw new Error('drain() cannot run while the worker runs or another drain is in progress');
      draining = true;
      stopping = false;
      summary = { sent: 0, deferred: 0, failed: 0 };
      startRenewing();
      try {
        await run(false, opts.ids);
        await giveBack();
        return summary;
      } finally {
        stopRenewing();
        draining = false;
      }
    },
  };
}
