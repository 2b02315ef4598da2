import { sql, type Kysely, type Insertable } from 'kysely';
import type { DialectName } from '../db.ts';
import type { Database, OrgComponentRow, OutboxEventRow, OutboxEventsTable, OutboxRow, OutboxStatus, SendComponent } from '../schema.ts';

/** An outbox row without its message bytes (what lists and views need). */
export type OutboxSummaryRow = Omit<OutboxRow, 'raw'>;
export type NewOutboxEvent = Omit<Insertable<OutboxEventsTable>, 'id' | 'outbox_id'>;
/** A claimed message: its bytes come along when it is small (see claim), otherwise raw() reads them. */
export type ClaimedRow = OutboxSummaryRow & { raw: Buffer | null };

/** The outcome of one attempt, as the worker hands it to the store (see recordResults). */
export type OutboxResult =
  | { kind: 'sent'; id: string; worker: string; at: string; attempt: number; reply: string; queueId: string | null; note: string | null }
  | { kind: 'deferred'; id: string; worker: string; at: string; attempt: number; reply: string | null; code: string; message: string; nextAttemptAt: string }
  | { kind: 'failed'; id: string; worker: string; at: string; attempt: number; reply: string | null; code: string; message: string };

const SUMMARY_COLUMNS = [
  'id', 'org_id', 'component', 'service_id', 'created_by', 'message_id', 'subject', 'envelope_from', 'envelope_to_json', 'size',
  'needs_smtputf8', 'status', 'attempts', 'next_attempt_at', 'give_up_at', 'claimed_by', 'claim_expires_at', 'last_reply',
  'last_code', 'queue_id', 'created_at', 'updated_at', 'sent_at',
] as const satisfies ReadonlyArray<keyof OutboxSummaryRow>;

const DUE_STATUSES: OutboxStatus[] = ['queued', 'deferred'];

/**
 * The outbox's memory: component assignments, messages, claims and the event log. Every read
 * the API reaches is scoped by organisation; the worker's claim and result writes are not (a
 * worker serves every organisation).
 */
export function outboxRepo(db: Kysely<Database>, dialect: DialectName) {
  return {
    // ------------------------------------------------------------------ components

    async componentsOf(orgId: string): Promise<OrgComponentRow[]> {
      return db.selectFrom('org_components').selectAll().where('org_id', '=', orgId).orderBy('component').execute();
    },
    async component(orgId: string, component: SendComponent): Promise<OrgComponentRow | undefined> {
      return db.selectFrom('org_components').selectAll().where('org_id', '=', orgId).where('component', '=', component).executeTakeFirst();
    },
    async setComponent(row: OrgComponentRow): Promise<void> {
      await db
        .insertInto('org_components')
        .values(row)
        .onConflict((oc) => oc.columns(['org_id', 'component']).doUpdateSet({ service_id: row.service_id, enabled: row.enabled, updated_at: row.updated_at }))
        .execute();
    },

    // ------------------------------------------------------------------ messages

    /** The message (with its bytes) and its `queued` event, in one transaction. */
    async insert(row: OutboxRow, event: NewOutboxEvent): Promise<void> {
      await db.transaction().execute(async (tx) => {
        await tx.insertInto('outbox').values(row).execute();
        await tx.insertInto('outbox_events').values({ ...event, outbox_id: row.id }).execute();
      });
    },

    async byId(orgId: string, id: string): Promise<OutboxSummaryRow | undefined> {
      return db.selectFrom('outbox').select(SUMMARY_COLUMNS).where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
    },

    async events(outboxId: string): Promise<OutboxEventRow[]> {
      return db.selectFrom('outbox_events').selectAll().where('outbox_id', '=', outboxId).orderBy('id').execute();
    },

    async list(orgId: string, opts: { status?: OutboxStatus | undefined; limit: number; offset: number }): Promise<OutboxSummaryRow[]> {
      let q = db.selectFrom('outbox').select(SUMMARY_COLUMNS).where('org_id', '=', orgId);
      if (opts.status) q = q.where('status', '=', opts.status);
      return q.orderBy('created_at', 'desc').orderBy('id').limit(opts.limit).offset(opts.offset).execute();
    },

    async counts(orgId?: string): Promise<Record<OutboxStatus, number>> {
      let q = db.selectFrom('outbox').select(['status', (eb) => eb.fn.countAll<number>().as('n')]);
      if (orgId !== undefined) q = q.where('org_id', '=', orgId);
      const rows = await q.groupBy('status').execute();
      const out: Record<OutboxStatus, number> = { queued: 0, sending: 0, deferred: 0, sent: 0, failed: 0, cancelled: 0 };
      for (const r of rows) out[r.status] = Number(r.n);
      return out;
    },

    /** queued/deferred → cancelled; false when the message is in another status. */
    async cancel(orgId: string, id: string, now: string, by: string | null): Promise<boolean> {
      return db.transaction().execute(async (tx) => {
        const r = await tx
          .updateTable('outbox')
          .set({ status: 'cancelled', updated_at: now })
          .where('org_id', '=', orgId)
          .where('id', '=', id)
          .where('status', 'in', DUE_STATUSES)
          .executeTakeFirst();
        if (Number(r.numUpdatedRows) !== 1) return false;
        await tx
          .insertInto('outbox_events')
          .values({ outbox_id: id, at: now, type: 'cancelled', attempt: null, reply: null, code: null, message: by === null ? 'cancelled' : `cancelled by ${by}`, worker: null })
          .execute();
        return true;
      });
    },

    /**
     * queued/deferred/failed → queued and due now. A failed message gets a fresh give-up time,
     * so transient failures are retried again for `retryWindowMs`.
     */
    async retryNow(orgId: string, id: string, now: string, giveUpAt: string, by: string | null): Promise<boolean> {
      return db.transaction().execute(async (tx) => {
        const r = await tx
          .updateTable('outbox')
          .set((eb) => ({
            status: 'queued',
            next_attempt_at: now,
            updated_at: now,
            give_up_at: eb.case().when('status', '=', 'failed').then(giveUpAt).else(eb.ref('give_up_at')).end(),
          }))
          .where('org_id', '=', orgId)
          .where('id', '=', id)
          .where('status', 'in', ['queued', 'deferred', 'failed'])
          .executeTakeFirst();
        if (Number(r.numUpdatedRows) !== 1) return false;
        await tx
          .insertInto('outbox_events')
          .values({ outbox_id: id, at: now, type: 'retry', attempt: null, reply: null, code: null, message: by === null ? 'retry now' : `retry now, asked by ${by}`, worker: null })
          .execute();
        return true;
      });
    },

    // ------------------------------------------------------------------ the worker's side

    /**
     * Claims up to `limit` due messages (queued or deferred, next attempt reached) for `worker`
     * until `until`, and returns them, with their bytes when they are at most `inlineBytes` long
     * (larger ones are read one at a time with raw(), so that only messages in flight are in
     * memory). One statement: on PostgreSQL the rows are
     * picked `FOR UPDATE SKIP LOCKED`, so concurrent workers take different messages without
     * waiting; SQLite has one writer at a time, and the status condition on the UPDATE itself
     * makes a second claimer find nothing left to take.
     */
    async claim(opts: { worker: string; now: string; until: string; limit: number; inlineBytes: number; ids?: string[] }): Promise<ClaimedRow[]> {
      if (opts.limit <= 0 || (opts.ids !== undefined && opts.ids.length === 0)) return [];
      let due = db
        .selectFrom('outbox')
        .select('id')
        .where('status', 'in', DUE_STATUSES)
        .where('next_attempt_at', '<=', opts.now)
        .orderBy('next_attempt_at')
        .limit(opts.limit);
      if (opts.ids !== undefined) due = due.where('id', 'in', opts.ids);
      if (dialect === 'postgres') due = due.forUpdate().skipLocked();
      const rows = await db
        .updateTable('outbox')
        .set({ status: 'sending', claimed_by: opts.worker, claim_expires_at: opts.until, updated_at: opts.now })
        .where('id', 'in', due)
        .where('status', 'in', DUE_STATUSES)
        .returning((eb) => [
          ...SUMMARY_COLUMNS,
          eb.case().when('size', '<=', opts.inlineBytes).then(eb.ref('raw')).else(null).end().as('raw'),
        ])
        .execute();
      return rows.sort((a, b) => (a.next_attempt_at < b.next_attempt_at ? -1 : a.next_attempt_at > b.next_attempt_at ? 1 : 0));
    },

    /** The message bytes, read just before sending so that only messages in flight are in memory. */
    async raw(id: string): Promise<Buffer | undefined> {
      const r = await db.selectFrom('outbox').select('raw').where('id', '=', id).executeTakeFirst();
      return r?.raw;
    },

    /** Extends the claims a live worker holds; one statement for all of them. */
    async renewClaims(worker: string, until: string): Promise<number> {
      const r = await db
        .updateTable('outbox')
        .set({ claim_expires_at: until })
        .where('claimed_by', '=', worker)
        .where('status', '=', 'sending')
        .executeTakeFirst();
      return Number(r.numUpdatedRows);
    },

    /** Gives back claimed messages this worker has not started (on stop): due again at once. */
    async release(worker: string, ids: string[], now: string): Promise<number> {
      if (ids.length === 0) return 0;
      return db.transaction().execute(async (tx) => {
        const rows = await tx
          .updateTable('outbox')
          .set((eb) => ({
            status: eb.case().when('attempts', '=', 0).then(sql.lit<OutboxStatus>('queued')).else(sql.lit<OutboxStatus>('deferred')).end(),
            claimed_by: null,
            claim_expires_at: null,
            updated_at: now,
          }))
          .where('claimed_by', '=', worker)
          .where('status', '=', 'sending')
          .where('id', 'in', ids)
          .returning('id')
          .execute();
        if (rows.length > 0) {
          await tx
            .insertInto('outbox_events')
            .values(rows.map((r) => ({ outbox_id: r.id, at: now, type: 'released' as const, attempt: null, reply: null, code: null, message: 'the worker stopped before sending it', worker })))
            .execute();
        }
        return rows.length;
      });
    },

    /**
     * Messages stuck in `sending` whose claim expired (their worker died): back to `deferred`,
     * due at once, with a `reclaimed` event. Their last attempt may have reached the server
     * before the worker died (the RFC 1047 window), so they are resent with the same
     * Message-ID: at-least-once, see docs/decisions/0004-outbox-delivery-guarantee.md.
     */
    async reclaimExpired(now: string, by: string): Promise<Array<{ id: string; claimedBy: string | null }>> {
      return db.transaction().execute(async (tx) => {
        const rows = await tx
          .updateTable('outbox')
          .set((eb) => ({
            status: 'deferred',
            attempts: eb('attempts', '+', 1),
            next_attempt_at: now,
            claimed_by: null,
            claim_expires_at: null,
            updated_at: now,
          }))
          .where('status', '=', 'sending')
          .where('claim_expires_at', '<=', now)
          .returning(['id', 'attempts'])
          .execute();
        if (rows.length === 0) return [];
        await tx
          .insertInto('outbox_events')
          .values(
            rows.map((r) => ({
              outbox_id: r.id,
              at: now,
              type: 'reclaimed' as const,
              attempt: r.attempts,
              reply: null,
              code: null,
              message: 'the worker sending it stopped (its claim expired); the server may already have accepted it, so it is sent again with the same Message-ID',
              worker: by,
            })),
          )
          .execute();
        return rows.map((r) => ({ id: r.id, claimedBy: null }));
      });
    },

    /**
     * Records attempt outcomes, many in one transaction (the worker's group commit). `sent` wins
     * over every other status: the server has the message, whatever else happened meanwhile.
     * Deferred and failed apply only while this worker still holds the claim.
     */
    async recordResults(results: OutboxResult[]): Promise<void> {
      if (results.length === 0) return;
      await db.transaction().execute(async (tx) => {
        for (const r of results) {
          if (r.kind === 'sent') {
            await tx
              .updateTable('outbox')
              .set({
                status: 'sent',
                sent_at: r.at,
                queue_id: r.queueId,
                last_reply: r.reply,
                last_code: null,
                attempts: r.attempt,
                claimed_by: null,
                claim_expires_at: null,
                updated_at: r.at,
              })
              .where('id', '=', r.id)
              .where('status', '!=', 'sent')
              .execute();
          } else {
            await tx
              .updateTable('outbox')
              .set({
                status: r.kind,
                last_reply: r.reply ?? r.message,
                last_code: r.code,
                attempts: r.attempt,
                claimed_by: null,
                claim_expires_at: null,
                updated_at: r.at,
                ...(r.kind === 'deferred' ? { next_attempt_at: r.nextAttemptAt } : {}),
              })
              .where('id', '=', r.id)
              .where('status', '=', 'sending')
              .where('claimed_by', '=', r.worker)
              .execute();
          }
        }
        // A message deleted meanwhile (its organisation removed) gets no event.
        const existing = new Set((await tx.selectFrom('outbox').select('id').where('id', 'in', results.map((r) => r.id)).execute()).map((r) => r.id));
        const logged = results.filter((r) => existing.has(r.id));
        if (logged.length === 0) return;
        await tx
          .insertInto('outbox_events')
          .values(
            logged.map((r) => ({
              outbox_id: r.id,
              at: r.at,
              type: r.kind,
              attempt: r.attempt,
              reply: r.reply,
              code: r.kind === 'sent' ? null : r.code,
              message: r.kind === 'sent' ? r.note : r.kind === 'deferred' ? `${r.message} Next attempt at ${r.nextAttemptAt}.` : r.message,
              worker: r.worker,
            })),
          )
          .execute();
      });
    },

    /** When the worker next has something to do: the earliest due time or claim expiry. */
    async nextWakeAt(): Promise<string | null> {
      const due = await db.selectFrom('outbox').select((eb) => eb.fn.min('next_attempt_at').as('t')).where('status', 'in', DUE_STATUSES).executeTakeFirst();
      const claims = await db.selectFrom('outbox').select((eb) => eb.fn.min('claim_expires_at').as('t')).where('status', '=', 'sending').executeTakeFirst();
      const times = [due?.t, claims?.t].filter((t): t is string => typeof t === 'string');
      return times.length === 0 ? null : times.sort()[0]!;
    },

    async statusOf(ids: string[]): Promise<Array<{ id: string; status: OutboxStatus }>> {
      if (ids.length === 0) return [];
      return db.selectFrom('outbox').select(['id', 'status']).where('id', 'in', ids).execute();
    },
  };
}
export type OutboxRepo = ReturnType<typeof outboxRepo>;
