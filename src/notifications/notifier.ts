/**
 * The notifier: finds documents archived into followed cabinets and mails the followers, one
 * mail per document (immediate) or one digest per user per day (daily, at the configured hour).
 *
 * Nothing lost, nothing twice (docs/decisions/0006):
 * - Each tick asks, per subscription, for the cabinet's documents archived after the cursor
 *   (minus a look-back, because archived_at is taken when an ingest batch starts, not when it
 *   commits) that match the query and that the subscription has not handled yet.
 * - In ONE transaction it records the mails to send (`notification_mails`, keyed by what they
 *   are about: user + document, or user + digest slot), what each subscription handled
 *   (`notification_deliveries`) and the advanced cursor. Only then are the mails enqueued, each
 *   with a marker header derived from its key, and marked `enqueued` with the outbox id.
 * - A crash after the transaction leaves mails `pending`: the next tick looks for an outbox
 *   message carrying the marker (the crash came after enqueue) and only enqueues when there is
 *   none. A mail key that exists already is never recorded again, so two subscriptions of one
 *   user matching the same document mail once.
 * - One tick runs at a time across processes (a lease in the database).
 */
import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { queryTerms } from '../archive/index.ts';
import type { Config } from '../config/index.ts';
import { isAppError } from '../errors/index.ts';
import type { Logger } from '../log/index.ts';
import type { EnqueueInput } from '../outbox/index.ts';
import { renderDocumentArchived, renderDocumentDigest, type ArchivedDocumentInfo, type RenderedMail } from '../outbox/templates/index.ts';
import type { CursorAdvance, MailIntent, NotifiableDocument, NotificationDeliveryRow, Store, SubscriptionRow } from '../store/index.ts';
import { NOTIFICATIONS_UNAVAILABLE } from './problems.ts';
import type { TickSummary } from './types.ts';

/** What the notifier needs of the outbox (src/outbox's Outbox satisfies it). */
export interface NotificationMailer {
  enqueue(input: EnqueueInput): Promise<{ id: string }>;
}

export interface NotifierDeps {
  store: Store;
  outbox: NotificationMailer;
  /** Not needed beyond the search tokenizer (archive/search), which is imported directly; accepted so App can pass its pieces uniformly. */
  archive?: unknown;
  config: Config;
  log: Logger;
}

export interface NotifierOptions {
  /** Clock (tests move it to the digest hour). */
  now?: () => number;
  /** Default: config.publicUrl. A function when the URL is known only once the server listens. */
  publicUrl?: () => string;
  /** Default: config.notifications.intervalSeconds. */
  intervalMs?: number;
  /** Default: config.notifications.digestHour (UTC). */
  digestHour?: number;
  /** How far behind the cursor a late-committed document is still found (default 15 minutes). */
  lookbackMs?: number;
  /** Documents per subscription per query (default 500). */
  batchSize?: number;
  /** Lease holder name (default host:pid:random). */
  holder?: string;
}

/** The header that carries a mail's marker (a hash of its key) into the outbox message. */
export const MARKER_HEADER = 'X-Mailroom-Notification';
const LEASE_KEY = 'notifications:notifier';
const LEASE_MS = 5 * 60_000;
const PENDING_PER_TICK = 500;
const MAX_BATCHES_PER_SUBSCRIPTION = 10;
/** Digests list this many documents; the rest are counted. */
const DIGEST_LISTED = 200;
/** Documents gathered into one digest at most (per subscription); more go into the next one. */
const DIGEST_MAX_PER_SUBSCRIPTION = 5000;

export function mailMarker(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex').slice(0, 32);
}

/** The digest slot at or before `t`: that day's (or the day before's) `hour`:00 UTC. */
export function digestSlot(t: number, hour: number): number {
  const d = new Date(t);
  const slot = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), hour);
  return slot <= t ? slot : slot - 24 * 60 * 60_000;
}

function laterIso(a: string, b: string): string {
  return Date.parse(a) >= Date.parse(b) ? a : b;
}

export function createNotifier(deps: NotifierDeps, options: NotifierOptions = {}) {
  const { store, config } = deps;
  const repo = store.notifications;
  const log = deps.log.child({ component: 'notifier' });
  const now = options.now ?? Date.now;
  const iso = (ms: number = now()): string => new Date(ms).toISOString();
  const publicUrl = options.publicUrl ?? ((): string => config.publicUrl);
  const intervalMs = options.intervalMs ?? config.notifications.intervalSeconds * 1000;
  const digestHour = options.digestHour ?? config.notifications.digestHour;
  const lookbackMs = options.lookbackMs ?? 15 * 60_000;
  const batchSize = Math.max(1, options.batchSize ?? 500);
  const holder = options.holder ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;

  let started = false;
  let timer: NodeJS.Timeout | null = null;
  let chain: Promise<unknown> = Promise.resolve();
  let inFlight = 0;
  let leaseRenewedAt = 0;

  async function keepLease(): Promise<void> {
    if (now() - leaseRenewedAt < LEASE_MS / 3) return;
    leaseRenewedAt = now();
    if (!(await store.sync.leaseRenew(LEASE_KEY, holder, iso(leaseRenewedAt + LEASE_MS)))) log.warn('lost the notifier lease during a tick');
  }

  function info(d: NotifiableDocument, cabinetName: string): ArchivedDocumentInfo {
    return {
      id: d.id,
      subject: d.subject,
      from: d.from_address || d.from_name ? { name: d.from_name, address: d.from_address } : null,
      date: d.date,
      archivedAt: d.archived_at,
      preview: d.preview,
      attachmentCount: d.attachment_count,
      cabinetName,
    };
  }

  /** The mail's content, or null when its user, documents or subscriptions are gone. */
  async function render(mail: { key: string; org_id: string; user_id: string; kind: 'document' | 'digest' }): Promise<{ to: { name: string; address: string }; content: RenderedMail } | null> {
    const user = await store.users.byId(mail.user_id);
    if (!user || user.org_id !== mail.org_id) return null;
    const deliveries = await repo.notifier.deliveriesOf(mail.key);
    const ids = [...new Set(deliveries.map((d) => d.document_id))];
    const docs = await repo.notifier.documents(mail.org_id, ids);
    if (docs.length === 0) return null;
    const cabinets = new Map<string, string>();
    for (const d of docs) {
      if (!cabinets.has(d.cabinet_id)) cabinets.set(d.cabinet_id, (await store.cabinets.byId(mail.org_id, d.cabinet_id))?.name ?? '');
    }
    const infos = docs.map((d) => info(d, cabinets.get(d.cabinet_id) ?? ''));
    const common = { language: user.language, recipientName: user.name, publicUrl: publicUrl() };
    const content =
      mail.kind === 'document'
        ? renderDocumentArchived({ ...common, document: infos[0]!, query: deliveries.find((d) => d.query !== null)?.query ?? null })
        : renderDocumentDigest({ ...common, documents: infos, maxListed: DIGEST_LISTED });
    return { to: { name: user.name, address: user.email }, content };
  }

  /**
   * Puts a recorded mail into the outbox and marks it. `lookFirst`: it may already be there (it
   * was recorded by an earlier tick that may have died after enqueueing).
   */
  async function deliver(key: string, lookFirst: boolean, summary: TickSummary, problemsSeen: Set<string>): Promise<void> {
    const mail = await repo.notifier.mail(key);
    if (!mail || mail.state !== 'pending') return;
    const marker = mailMarker(key);
    if (lookFirst) {
      // The outbox stamps its own clock; allow for clocks of several hosts to differ.
      const found = await repo.notifier.outboxIdByMarker(mail.org_id, iso(Date.parse(mail.created_at) - 24 * 60 * 60_000), marker);
      if (found !== undefined) {
        await repo.notifier.markEnqueued(key, found, iso());
        summary.recovered += 1;
        log.info({ key, outboxId: found }, 'notification mail was already in the outbox; recorded it');
        return;
      }
    }
    let mailContent;
    try {
      mailContent = await render(mail);
    } catch (err) {
      await repo.notifier.markFailed(key, err instanceof Error ? err.message : String(err), iso());
      summary.failed += 1;
      log.error({ err, key }, 'could not render a notification mail; it is tried again on the next tick');
      return;
    }
    if (mailContent === null) {
      await repo.notifier.markSkipped(key, 'its user, documents or subscriptions were removed', iso());
      return;
    }
    const { to, content } = mailContent;
    try {
      const { id } = await deps.outbox.enqueue({
        orgId: mail.org_id,
        component: 'notifications',
        to: [to],
        subject: content.subject,
        text: content.text,
        html: content.html,
        headers: { [MARKER_HEADER]: marker },
        createdBy: null,
      });
      await repo.notifier.markEnqueued(key, id, iso());
      summary.enqueued += 1;
      if (lookFirst) summary.recovered += 1;
      if (mail.kind === 'digest') summary.digests += 1;
      if (!problemsSeen.has(`ok:${mail.org_id}`)) {
        problemsSeen.add(`ok:${mail.org_id}`);
        await repo.problems.resolve(mail.org_id, NOTIFICATIONS_UNAVAILABLE, iso());
      }
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      await repo.notifier.markFailed(key, message, iso());
      summary.failed += 1;
      if (isAppError(err) && err.code === 'SMTP_NOT_CONFIGURED') {
        if (!problemsSeen.has(mail.org_id)) {
          problemsSeen.add(mail.org_id);
          await repo.problems.record({
            orgId: mail.org_id,
            kind: NOTIFICATIONS_UNAVAILABLE,
            message: `Notification mail (subscriptions to cabinets) cannot be sent: ${message}`,
            fix: 'Assign an SMTP service to the notifications component (mailroom components set notifications <service>) or configure the system default SMTP (MAILROOM_SMTP_HOST); the notifications wait and go out once it works.',
            at: iso(),
          });
          log.warn({ orgId: mail.org_id }, 'notification mail cannot be sent: no SMTP for the notifications component; kept for later');
        }
      } else {
        log.error({ err, key }, 'could not enqueue a notification mail; it is tried again on the next tick');
      }
    }
  }

  /** Candidates of one subscription, from the look-back before its cursor on. */
  function candidates(s: SubscriptionRow, limit: number): Promise<NotifiableDocument[]> {
    const terms = s.query ? queryTerms(s.query) : [];
    if (s.query && terms.length === 0) return Promise.resolve([]);
    const since = laterIso(s.created_at, iso(Date.parse(s.last_archived_at) - lookbackMs));
    return repo.notifier.candidates({ orgId: s.org_id, cabinetId: s.cabinet_id, subscriptionId: s.id, since, terms, limit });
  }

  function advance(s: SubscriptionRow, docs: NotifiableDocument[]): CursorAdvance {
    // Ordered by (archived_at, id): the last is the newest. The store only ever moves it forward.
    const last = docs[docs.length - 1]!;
    const newest = laterIso(s.last_archived_at, last.archived_at);
    return { subscriptionId: s.id, lastArchivedAt: last.archived_at, lastDocumentId: last.id, pruneBefore: iso(Date.parse(newest) - lookbackMs) };
  }

  async function immediate(s: SubscriptionRow, summary: TickSummary, problemsSeen: Set<string>): Promise<void> {
    let current = s;
    for (let batch = 0; batch < MAX_BATCHES_PER_SUBSCRIPTION; batch++) {
      const docs = await candidates(current, batchSize);
      if (docs.length === 0) return;
      const at = iso();
      const key = (d: NotifiableDocument): string => `doc:${s.user_id}:${d.id}`;
      const mails: MailIntent[] = docs.map((d) => ({ key: key(d), org_id: s.org_id, user_id: s.user_id, kind: 'document', state: 'pending', document_count: 1 }));
      const deliveries: NotificationDeliveryRow[] = docs.map((d) => ({ subscription_id: s.id, document_id: d.id, archived_at: d.archived_at, mail_key: key(d), created_at: at }));
      const cursor = advance(current, docs);
      const fresh = await repo.notifier.record({ at, mails, deliveries, cursors: [cursor] });
      for (const k of fresh) await deliver(k, false, summary, problemsSeen);
      await keepLease();
      if (docs.length < batchSize) return;
      current = { ...current, last_archived_at: laterIso(current.last_archived_at, cursor.lastArchivedAt) };
    }
  }

  async function digest(userId: string, orgId: string, subs: SubscriptionRow[], slotIso: string, summary: TickSummary, problemsSeen: Set<string>): Promise<void> {
    // A subscription joins the digests from the first slot after it was made.
    const eligible = subs.filter((s) => Date.parse(s.created_at) < Date.parse(slotIso));
    if (eligible.length === 0) return;
    const key = `digest:${userId}:${slotIso}`;
    if (await repo.notifier.mail(key)) return;
    const at = iso();
    const deliveries: NotificationDeliveryRow[] = [];
    const cursors: CursorAdvance[] = [];
    const ids = new Set<string>();
    for (const s of eligible) {
      const docs = await candidates(s, DIGEST_MAX_PER_SUBSCRIPTION);
      if (docs.length === 0) continue;
      for (const d of docs) {
        ids.add(d.id);
        deliveries.push({ subscription_id: s.id, document_id: d.id, archived_at: d.archived_at, mail_key: key, created_at: at });
      }
      cursors.push(advance(s, docs));
    }
    // An empty digest is recorded too: the slot is done, documents archived later wait for the next one.
    const mail: MailIntent = { key, org_id: orgId, user_id: userId, kind: 'digest', state: ids.size > 0 ? 'pending' : 'empty', document_count: ids.size };
    const fresh = await repo.notifier.record({ at, mails: [mail], deliveries, cursors });
    if (fresh.includes(key) && ids.size > 0) await deliver(key, false, summary, problemsSeen);
  }

  async function forEachSubscription(mode: 'immediate' | 'daily', fn: (s: SubscriptionRow) => Promise<void>): Promise<void> {
    let after = '';
    for (;;) {
      const page = await repo.subscriptions.byMode(mode, after, 200);
      for (const s of page) {
        try {
          await fn(s);
        } catch (err) {
          // One broken subscription must not stop the others; it is tried again next tick.
          log.error({ err, subscriptionId: s.id }, 'handling a subscription failed; trying again on the next tick');
        }
      }
      if (page.length < 200) return;
      after = page[page.length - 1]!.id;
    }
  }

  async function runTick(): Promise<TickSummary> {
    const summary: TickSummary = { skipped: false, enqueued: 0, digests: 0, recovered: 0, failed: 0 };
    const t = now();
    if (!(await store.sync.leaseAcquire(LEASE_KEY, holder, iso(t), iso(t + LEASE_MS)))) return { ...summary, skipped: true };
    leaseRenewedAt = t;
    const problemsSeen = new Set<string>();
    try {
      // 1. Mails recorded by earlier ticks but not known to be in the outbox.
      for (const m of await repo.notifier.pending(PENDING_PER_TICK)) {
        try {
          await deliver(m.key, true, summary, problemsSeen);
        } catch (err) {
          log.error({ err, key: m.key }, 'recovering a notification mail failed; trying again on the next tick');
        }
      }
      // 2. Immediate subscriptions: one mail per new document.
      await forEachSubscription('immediate', (s) => immediate(s, summary, problemsSeen));
      // 3. Daily subscriptions: one digest per user for the current slot.
      const slotIso = iso(digestSlot(now(), digestHour));
      const byUser = new Map<string, { orgId: string; subs: SubscriptionRow[] }>();
      await forEachSubscription('daily', async (s) => {
        const entry = byUser.get(s.user_id) ?? { orgId: s.org_id, subs: [] };
        entry.subs.push(s);
        byUser.set(s.user_id, entry);
      });
      for (const [userId, { orgId, subs }] of byUser) {
        try {
          await digest(userId, orgId, subs, slotIso, summary, problemsSeen);
          await keepLease();
        } catch (err) {
          log.error({ err, userId }, 'building a digest failed; trying again on the next tick');
        }
      }
    } finally {
      await store.sync.leaseRelease(LEASE_KEY, holder).catch((err: unknown) => log.warn({ err }, 'could not release the notifier lease'));
    }
    if (summary.enqueued > 0 || summary.failed > 0) log.info(summary, 'notifier tick');
    return summary;
  }

  /** Ticks run one after the other; a tick asked for while one runs starts after it. */
  function tick(): Promise<TickSummary> {
    inFlight += 1;
    const run = chain.then(runTick, runTick).finally(() => {
      inFlight -= 1;
    });
    chain = run.catch(() => undefined);
    return run;
  }

  /** One tick, then the next one interval later, until stop(). */
  function loop(): void {
    tick()
      .catch((err: unknown) => log.error({ err }, 'notifier tick failed'))
      .finally(() => {
        if (!started) return;
        timer = setTimeout(loop, intervalMs);
        timer.unref();
      });
  }

  return {
    /** Ticks every interval (30 s by default) until stop(); the first tick comes at once. */
    start(): void {
      if (started) return;
      started = true;
      loop();
      log.info({ intervalMs, digestHourUtc: digestHour }, 'notifier started');
    },
    /** Stops ticking and waits for a running tick to finish. */
    async stop(): Promise<void> {
      if (!started) return;
      started = false;
      if (timer !== null) clearTimeout(timer);
      timer = null;
      await chain;
      log.info('notifier stopped');
    },
    /** One pass now (tests, `mailroom notifications run`). */
    tick,
    get running(): boolean {
      return started || inFlight > 0;
    },
  };
}

export type Notifier = ReturnType<typeof createNotifier>;
