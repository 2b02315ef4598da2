import type { Kysely } from 'kysely';
import type { Database, LedgerRow, LedgerStatus, SyncRunRow } from '../schema.ts';

export interface LedgerKey {
  ruleId: string;
  folder: string;
  epoch: string;
  key: string;
}

/** The sync engine's memory: ledger of handled messages, cursors, leases and run history. */
export type LedgerValue = { orgId: string; status: LedgerStatus; documentId: string | null; reason: string | null; subject: string; now: string };

/** Rows per multi-row upsert: 13 parameters each, well under SQLite's and PostgreSQL's limits. */
const LEDGER_ROWS_PER_STATEMENT = 500;

/**
 * Inserts the rows, or for a key already in the ledger counts the attempt and takes the new
 * status, document, reason and subject (from `excluded`, the row proposed for insertion, on
 * SQLite and PostgreSQL alike); when it was first seen and whether the action was done stay.
 */
function upsertLedger(db: Kysely<Database>, rows: Array<[LedgerKey, LedgerValue]>) {
  return db
    .insertInto('sync_ledger')
    .values(rows.map(([k, v]) => ledgerInsert(k, v)))
    .onConflict((oc) =>
      oc.columns(['rule_id', 'folder', 'epoch', 'msg_key']).doUpdateSet((eb) => ({
        status: eb.ref('excluded.status'),
        document_id: eb.ref('excluded.document_id'),
        reason: eb.ref('excluded.reason'),
        subject: eb.ref('excluded.subject'),
        updated_at: eb.ref('excluded.updated_at'),
        attempts: eb('sync_ledger.attempts', '+', 1),
      })),
    )
    .execute();
}

/** A new ledger row: first attempt, mailbox action not done yet. */
function ledgerInsert(k: LedgerKey, v: LedgerValue) {
  return {
    rule_id: k.ruleId,
    folder: k.folder,
    epoch: k.epoch,
    msg_key: k.key,
    org_id: v.orgId,
    status: v.status,
    document_id: v.documentId,
    attempts: 1,
    reason: v.reason,
    action_done: 0,
    subject: v.subject,
    first_seen_at: v.now,
    updated_at: v.now,
  };
}

export function syncRepo(db: Kysely<Database>) {
  return {
    /**
     * Several ledger rows with one statement (one commit, one fsync on SQLite) per archived
     * batch, instead of one query per row that the sync's event loop built, prepared and ran.
     * A key given twice (PostgreSQL refuses to update a row twice in one statement) goes row by
     * row, in one transaction.
     */
    async ledgerRecordMany(entries: Array<[LedgerKey, LedgerValue]>): Promise<void> {
      if (entries.length === 0) return;
      const keys = new Set(entries.map(([k]) => JSON.stringify([k.ruleId, k.folder, k.epoch, k.key])));
      if (entries.length <= LEDGER_ROWS_PER_STATEMENT && keys.size === entries.length) {
        await upsertLedger(db, entries);
        return;
      }
      const size = keys.size === entries.length ? LEDGER_ROWS_PER_STATEMENT : 1;
      await db.transaction().execute(async (tx) => {
        for (let i = 0; i < entries.length; i += size) await upsertLedger(tx, entries.slice(i, i + size));
      });
    },
    async ledgerGet(k: LedgerKey): Promise<LedgerRow | undefined> {
      return db
        .selectFrom('sync_ledger')
        .selectAll()
        .where('rule_id', '=', k.ruleId)
        .where('folder', '=', k.folder)
        .where('epoch', '=', k.epoch)
        .where('msg_key', '=', k.key)
        .executeTakeFirst();
    },
    /** Ledger rows of one folder+epoch with keys in the given list (the engine asks per batch). */
    async ledgerMany(ruleId: string, folder: string, epoch: string, keys: string[]): Promise<LedgerRow[]> {
      if (keys.length === 0) return [];
      return db
        .selectFrom('sync_ledger')
        .selectAll()
        .where('rule_id', '=', ruleId)
        .where('folder', '=', folder)
        .where('epoch', '=', epoch)
        .where('msg_key', 'in', keys)
        .execute();
    },
    async ledgerRecord(k: LedgerKey, v: LedgerValue): Promise<void> {
      await upsertLedger(db, [[k, v]]);
    },
    async ledgerActionDone(ruleId: string, folder: string, epoch: string, keys: string[], now: string): Promise<void> {
      if (keys.length === 0) return;
      await db
        .updateTable('sync_ledger')
        .set({ action_done: 1, updated_at: now })
        .where('rule_id', '=', ruleId)
        .where('folder', '=', folder)
        .where('epoch', '=', epoch)
        .where('msg_key', 'in', keys)
        .execute();
    },
    /** Failed rows still below the retry limit, and archived rows whose mailbox action is pending. */
    async ledgerPending(ruleId: string, folder: string, epoch: string, maxAttempts: number): Promise<LedgerRow[]> {
      return db
        .selectFrom('sync_ledger')
        .selectAll()
        .where('rule_id', '=', ruleId)
        .where('folder', '=', folder)
        .where('epoch', '=', epoch)
        .where((eb) =>
          eb.or([
            eb.and([eb('status', '=', 'failed'), eb('attempts', '<', maxAttempts)]),
            eb.and([eb('status', '!=', 'failed'), eb('action_done', '=', 0)]),
          ]),
        )
        .orderBy('msg_key')
        .execute();
    },
    async ledgerList(orgId: string, ruleId: string, opts: { failedOnly: boolean; limit: number; offset: number }): Promise<LedgerRow[]> {
      let q = db.selectFrom('sync_ledger').selectAll().where('org_id', '=', orgId).where('rule_id', '=', ruleId);
      if (opts.failedOnly) q = q.where('status', '=', 'failed');
      return q.orderBy('updated_at', 'desc').orderBy('msg_key').limit(opts.limit).offset(opts.offset).execute();
    },
    async ledgerCounts(orgId: string, ruleId: string): Promise<Record<LedgerStatus, number>> {
      const rows = await db
        .selectFrom('sync_ledger')
        .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
        .where('org_id', '=', orgId)
        .where('rule_id', '=', ruleId)
        .groupBy('status')
        .execute();
      const out: Record<LedgerStatus, number> = { archived: 0, duplicate: 0, failed: 0 };
      for (const r of rows) out[r.status] = Number(r.n);
      return out;
    },
    /** Forgets what a rule did (all, or only failures) and its cursors, so the next run starts over. */
    async ledgerReset(orgId: string, ruleId: string, failedOnly: boolean): Promise<number> {
      return db.transaction().execute(async (tx) => {
        let q = tx.deleteFrom('sync_ledger').where('org_id', '=', orgId).where('rule_id', '=', ruleId);
        if (failedOnly) q = q.where('status', '=', 'failed');
        const r = await q.executeTakeFirst();
        if (!failedOnly) await tx.deleteFrom('sync_cursors').where('rule_id', '=', ruleId).execute();
        return Number(r.numDeletedRows);
      });
    },

    async cursorGet(ruleId: string, folder: string): Promise<string | undefined> {
      const r = await db.selectFrom('sync_cursors').select('cursor_json').where('rule_id', '=', ruleId).where('folder', '=', folder).executeTakeFirst();
      return r?.cursor_json;
    },
    async cursorSet(ruleId: string, folder: string, cursorJson: string, now: string): Promise<void> {
      await db
        .insertInto('sync_cursors')
        .values({ rule_id: ruleId, folder, cursor_json: cursorJson, updated_at: now })
        .onConflict((oc) => oc.columns(['rule_id', 'folder']).doUpdateSet({ cursor_json: cursorJson, updated_at: now }))
        .execute();
    },

    /**
     * Takes the lease when it is free or expired; true when this holder now has it. One atomic
     * upsert, so two processes racing for it cannot both win.
     */
    async leaseAcquire(key: string, holder: string, now: string, expiresAt: string): Promise<boolean> {
      await db
        .insertInto('leases')
        .values({ key, holder, expires_at: expiresAt })
        .onConflict((oc) =>
          oc
            .column('key')
            .doUpdateSet({ holder, expires_at: expiresAt })
            .where((eb) => eb.or([eb('leases.expires_at', '<', now), eb('leases.holder', '=', holder)])),
        )
        .execute();
      const row = await db.selectFrom('leases').select('holder').where('key', '=', key).executeTakeFirst();
      return row?.holder === holder;
    },
    async leaseRenew(key: string, holder: string, expiresAt: string): Promise<boolean> {
      const r = await db.updateTable('leases').set({ expires_at: expiresAt }).where('key', '=', key).where('holder', '=', holder).executeTakeFirst();
      return Number(r.numUpdatedRows) === 1;
    },
    async leaseRelease(key: string, holder: string): Promise<void> {
      await db.deleteFrom('leases').where('key', '=', key).where('holder', '=', holder).execute();
    },

    async runStart(row: SyncRunRow): Promise<void> {
      await db.insertInto('sync_runs').values(row).execute();
    },
    async runFinish(id: string, patch: Pick<SyncRunRow, 'finished_at' | 'fetched' | 'archived' | 'duplicates' | 'failed' | 'skipped' | 'error'>): Promise<void> {
      await db.updateTable('sync_runs').set(patch).where('id', '=', id).execute();
    },
    async runsOfRule(orgId: string, ruleId: string, limit: number): Promise<SyncRunRow[]> {
      return db.selectFrom('sync_runs').selectAll().where('org_id', '=', orgId).where('rule_id', '=', ruleId).orderBy('started_at', 'desc').limit(limit).execute();
    },
  };
}
export type SyncRepo = ReturnType<typeof syncRepo>;
