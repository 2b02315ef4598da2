import { sql, type Kysely } from 'kysely';
import type { DialectName } from '../db.ts';
import type {
  Database,
  NotificationDeliveryRow,
  NotificationMailKind,
  NotificationMailRow,
  NotificationMailState,
  OrgProblemRow,
  PasswordResetRow,
  SubscriptionMode,
  SubscriptionRow,
} from '../schema.ts';
import { escapeLike, fts5Query, tsqueryLiteral } from './query-text.ts';

/** A subscription with the names a person recognises. */
export type SubscriptionListRow = SubscriptionRow & { user_email: string; cabinet_name: string };

/** The fields of a document a notification shows. */
export interface NotifiableDocument {
  id: string;
  org_id: string;
  cabinet_id: string;
  subject: string;
  from_name: string;
  from_address: string;
  date: string | null;
  archived_at: string;
  preview: string;
  attachment_count: number;
}

export interface MailIntent {
  key: string;
  org_id: string;
  user_id: string;
  kind: NotificationMailKind;
  state: Extract<NotificationMailState, 'pending' | 'empty'>;
  document_count: number;
}

export interface CursorAdvance {
  subscriptionId: string;
  lastArchivedAt: string;
  lastDocumentId: string;
  /** Deliveries of documents archived before this are forgotten (they are behind the look-back). */
  pruneBefore: string;
}

const DOC_COLUMNS = sql.raw('d.id, d.org_id, d.cabinet_id, d.subject, d.from_name, d.from_address, d.date, d.archived_at, d.preview, d.attachment_count');
const ROWS_PER_INSERT = 500;

/**
 * Password reset tokens, organisation problems, and the notifier's subscriptions, deliveries and
 * mails. Reads the API reaches are scoped by organisation; the notifier's reads are not (one
 * notifier serves every organisation).
 */
export function notificationsRepo(db: Kysely<Database>, dialect: DialectName) {
  const resets = {
    async insert(row: PasswordResetRow): Promise<void> {
      await db.insertInto('password_resets').values(row).execute();
    },
    async remove(tokenHash: string): Promise<void> {
      await db.deleteFrom('password_resets').where('token_hash', '=', tokenHash).execute();
    },
    /**
     * Uses the token and sets the password, in one transaction: the token must be unused and
     * unexpired; then every reset token and every session of its user is removed. The user id,
     * or null when the token is not (or no longer) valid.
     */
    async consume(tokenHash: string, now: string, passwordHash: string): Promise<string | null> {
      return db.transaction().execute(async (tx) => {
        const r = await tx
          .updateTable('password_resets')
          .set({ used_at: now })
          .where('token_hash', '=', tokenHash)
          .where('used_at', 'is', null)
          .where('expires_at', '>', now)
          .returning('user_id')
          .executeTakeFirst();
        if (!r) return null;
        await tx.updateTable('users').set({ password_hash: passwordHash }).where('id', '=', r.user_id).execute();
        await tx.deleteFrom('password_resets').where('user_id', '=', r.user_id).execute();
        await tx.deleteFrom('sessions').where('user_id', '=', r.user_id).execute();
        return r.user_id;
      });
    },
    async deleteExpired(before: string): Promise<void> {
      await db.deleteFrom('password_resets').where('expires_at', '<', before).execute();
    },
    async countForUser(userId: string): Promise<number> {
      const r = await db.selectFrom('password_resets').select((eb) => eb.fn.countAll<number>().as('n')).where('user_id', '=', userId).executeTakeFirst();
      return Number(r?.n ?? 0);
    },
    /** The organisation most users with an address at this domain belong to. */
    async orgOfDomain(domain: string): Promise<string | undefined> {
      const r = await db
        .selectFrom('users')
        .select(['org_id', (eb) => eb.fn.countAll<number>().as('n')])
        .where(sql<boolean>`email LIKE ${`%@${escapeLike(domain)}`} ESCAPE '\\'`)
        .groupBy('org_id')
        .orderBy('n', 'desc')
        .orderBy('org_id')
        .limit(1)
        .executeTakeFirst();
      return r?.org_id;
    },
  };

  const problems = {
    /** Seen (again): counts up; a resolved problem that comes back starts over. */
    async record(p: { orgId: string; kind: string; message: string; fix: string; at: string }): Promise<void> {
      await db
        .insertInto('org_problems')
        .values({ org_id: p.orgId, kind: p.kind, message: p.message, fix: p.fix, first_seen_at: p.at, last_seen_at: p.at, count: 1, resolved_at: null })
        .onConflict((oc) =>
          oc.columns(['org_id', 'kind']).doUpdateSet({
            message: p.message,
            fix: p.fix,
            last_seen_at: p.at,
            count: sql<number>`CASE WHEN org_problems.resolved_at IS NULL THEN org_problems.count + 1 ELSE 1 END`,
            first_seen_at: sql<string>`CASE WHEN org_problems.resolved_at IS NULL THEN org_problems.first_seen_at ELSE ${p.at} END`,
            resolved_at: null,
          }),
        )
        .execute();
    },
    /** True when an open problem was resolved now. */
    async resolve(orgId: string, kind: string, at: string): Promise<boolean> {
      const r = await db.updateTable('org_problems').set({ resolved_at: at }).where('org_id', '=', orgId).where('kind', '=', kind).where('resolved_at', 'is', null).executeTakeFirst();
      return Number(r.numUpdatedRows) > 0;
    },
    async get(orgId: string, kind: string): Promise<OrgProblemRow | undefined> {
      return db.selectFrom('org_problems').selectAll().where('org_id', '=', orgId).where('kind', '=', kind).executeTakeFirst();
    },
    async list(orgId: string, opts: { includeResolved: boolean }): Promise<OrgProblemRow[]> {
      let q = db.selectFrom('org_problems').selectAll().where('org_id', '=', orgId);
      if (!opts.includeResolved) q = q.where('resolved_at', 'is', null);
      return q.orderBy('last_seen_at', 'desc').orderBy('kind').execute();
    },
  };

  const subscriptions = {
    async insert(row: SubscriptionRow): Promise<void> {
      await db.insertInto('notification_subscriptions').values(row).execute();
    },
    async byId(orgId: string, id: string): Promise<SubscriptionListRow | undefined> {
      return db
        .selectFrom('notification_subscriptions as s')
        .innerJoin('users as u', 'u.id', 's.user_id')
        .innerJoin('cabinets as c', 'c.id', 's.cabinet_id')
        .selectAll('s')
        .select(['u.email as user_email', 'c.name as cabinet_name'])
        .where('s.org_id', '=', orgId)
        .where('s.id', '=', id)
        .executeTakeFirst();
    },
    /** The organisation's subscriptions (one user's, when given), oldest first. */
    async list(opts: { orgId?: string | undefined; userId?: string | undefined }): Promise<SubscriptionListRow[]> {
      let q = db
        .selectFrom('notification_subscriptions as s')
        .innerJoin('users as u', 'u.id', 's.user_id')
        .innerJoin('cabinets as c', 'c.id', 's.cabinet_id')
        .selectAll('s')
        .select(['u.email as user_email', 'c.name as cabinet_name']);
      if (opts.orgId !== undefined) q = q.where('s.org_id', '=', opts.orgId);
      if (opts.userId !== undefined) q = q.where('s.user_id', '=', opts.userId);
      return q.orderBy('s.created_at').orderBy('s.id').execute();
    },
    /** Removes it when it belongs to the organisation (and to the user, when given); rows removed. */
    async remove(orgId: string | undefined, id: string, userId?: string): Promise<number> {
      let q = db.deleteFrom('notification_subscriptions').where('id', '=', id);
      if (orgId !== undefined) q = q.where('org_id', '=', orgId);
      if (userId !== undefined) q = q.where('user_id', '=', userId);
      const r = await q.executeTakeFirst();
      return Number(r.numDeletedRows);
    },
    /** Every subscription of a mode, across organisations, after `afterId` (paging by id). */
    async byMode(mode: SubscriptionMode, afterId: string, limit: number): Promise<SubscriptionRow[]> {
      return db.selectFrom('notification_subscriptions').selectAll().where('mode', '=', mode).where('id', '>', afterId).orderBy('id').limit(limit).execute();
    },
  };

  const notifier = {
    /**
     * Documents of the subscription's cabinet archived at or after `since` that it has not handled
     * yet, oldest first; with terms, only those whose full text has every term (the archive's
     * search semantics, on the same index).
     */
    async candidates(q: { orgId: string; cabinetId: string; subscriptionId: string; since: string; terms: string[]; limit: number }): Promise<NotifiableDocument[]> {
      const base = sql`d.org_id = ${q.orgId} AND d.cabinet_id = ${q.cabinetId} AND d.archived_at >= ${q.since}
        AND NOT EXISTS (SELECT 1 FROM notification_deliveries x WHERE x.subscription_id = ${q.subscriptionId} AND x.document_id = d.id)`;
      let r;
      if (q.terms.length === 0) {
        r = await sql<NotifiableDocument>`SELECT ${DOC_COLUMNS} FROM documents d WHERE ${base} ORDER BY d.archived_at, d.id LIMIT ${q.limit}`.execute(db);
      } else if (dialect === 'sqlite') {
        r = await sql<NotifiableDocument>`
          SELECT ${DOC_COLUMNS} FROM document_fts JOIN documents d ON d.fts_seq = document_fts.rowid
          WHERE document_fts MATCH ${fts5Query(q.terms)} AND ${base}
          ORDER BY d.archived_at, d.id LIMIT ${q.limit}`.execute(db);
      } else {
        r = await sql<NotifiableDocument>`
          SELECT ${DOC_COLUMNS} FROM document_fts f JOIN documents d ON d.id = f.doc_id
          WHERE f.terms @@ ${tsqueryLiteral(q.terms)}::tsquery AND f.org_id = ${q.orgId} AND ${base}
          ORDER BY d.archived_at, d.id LIMIT ${q.limit}`.execute(db);
      }
      return r.rows.map((d) => ({ ...d, attachment_count: Number(d.attachment_count) }));
    },

    async documents(orgId: string, ids: string[]): Promise<NotifiableDocument[]> {
      if (ids.length === 0) return [];
      const rows = await db
        .selectFrom('documents')
        .select(['id', 'org_id', 'cabinet_id', 'subject', 'from_name', 'from_address', 'date', 'archived_at', 'preview', 'attachment_count'])
        .where('org_id', '=', orgId)
        .where('id', 'in', ids)
        .orderBy('archived_at')
        .orderBy('id')
        .execute();
      return rows.map((d) => ({ ...d, attachment_count: Number(d.attachment_count) }));
    },

    /**
     * One transaction: the mails to send (a mail already recorded under its key is left alone),
     * what each subscription handled, and its cursor moved forward. Returns the keys of the mails
     * recorded now, which are the ones to enqueue.
     */
    async record(input: { at: string; mails: MailIntent[]; deliveries: NotificationDeliveryRow[]; cursors: CursorAdvance[] }): Promise<string[]> {
      return db.transaction().execute(async (tx) => {
        const fresh: string[] = [];
        for (let i = 0; i < input.mails.length; i += ROWS_PER_INSERT) {
          const rows = input.mails.slice(i, i + ROWS_PER_INSERT).map((m) => ({
            ...m,
            outbox_id: null,
            attempts: 0,
            last_error: null,
            created_at: input.at,
            updated_at: input.at,
          }));
          const inserted = await tx.insertInto('notification_mails').values(rows).onConflict((oc) => oc.column('key').doNothing()).returning('key').execute();
          fresh.push(...inserted.map((r) => r.key));
        }
        for (let i = 0; i < input.deliveries.length; i += ROWS_PER_INSERT) {
          await tx
            .insertInto('notification_deliveries')
            .values(input.deliveries.slice(i, i + ROWS_PER_INSERT))
            .onConflict((oc) => oc.columns(['subscription_id', 'document_id']).doNothing())
            .execute();
        }
        for (const c of input.cursors) {
          await tx
            .updateTable('notification_subscriptions')
            .set({ last_archived_at: c.lastArchivedAt, last_document_id: c.lastDocumentId, updated_at: input.at })
            .where('id', '=', c.subscriptionId)
            .where((eb) =>
              eb.or([
                eb('last_archived_at', '<', c.lastArchivedAt),
                eb.and([eb('last_archived_at', '=', c.lastArchivedAt), eb('last_document_id', '<', c.lastDocumentId)]),
              ]),
            )
            .execute();
          // A pending mail still needs its deliveries to be written.
          await tx
            .deleteFrom('notification_deliveries')
            .where('subscription_id', '=', c.subscriptionId)
            .where('archived_at', '<', c.pruneBefore)
            .where('mail_key', 'not in', (eb) => eb.selectFrom('notification_mails').select('key').where('state', '=', 'pending'))
            .execute();
        }
        return fresh;
      });
    },

    async mail(key: string): Promise<NotificationMailRow | undefined> {
      return db.selectFrom('notification_mails').selectAll().where('key', '=', key).executeTakeFirst();
    },

    /** Mails recorded but not (known to be) in the outbox, oldest first. */
    async pending(limit: number): Promise<NotificationMailRow[]> {
      return db.selectFrom('notification_mails').selectAll().where('state', '=', 'pending').orderBy('created_at').orderBy('key').limit(limit).execute();
    },

    /**
     * What a mail is about: its documents, with the subscriptions that recorded them (a mail
     * whose subscriptions were all removed has none left, and is not sent).
     */
    async deliveriesOf(mailKey: string): Promise<Array<{ document_id: string; subscription_id: string; query: string | null }>> {
      return db
        .selectFrom('notification_deliveries as x')
        .innerJoin('notification_subscriptions as s', 's.id', 'x.subscription_id')
        .select(['x.document_id', 'x.subscription_id', 's.query'])
        .where('x.mail_key', '=', mailKey)
        .orderBy('x.archived_at')
        .orderBy('x.document_id')
        .execute();
    },

    async markEnqueued(key: string, outboxId: string, at: string): Promise<void> {
      await db
        .updateTable('notification_mails')
        .set((eb) => ({ state: 'enqueued', outbox_id: outboxId, attempts: eb('attempts', '+', 1), last_error: null, updated_at: at }))
        .where('key', '=', key)
        .execute();
    },

    async markFailed(key: string, error: string, at: string): Promise<void> {
      await db
        .updateTable('notification_mails')
        .set((eb) => ({ attempts: eb('attempts', '+', 1), last_error: error, updated_at: at }))
        .where('key', '=', key)
        .where('state', '=', 'pending')
        .execute();
    },

    async markSkipped(key: string, reason: string, at: string): Promise<void> {
      await db.updateTable('notification_mails').set({ state: 'skipped', last_error: reason, updated_at: at }).where('key', '=', key).where('state', '=', 'pending').execute();
    },

    /**
     * The outbox message that carries this marker in its header, queued since `since`: finds a
     * mail the notifier enqueued just before it crashed (the marker is unique per mail key).
     */
    async outboxIdByMarker(orgId: string, since: string, marker: string): Promise<string | undefined> {
      const needle = Buffer.from(marker, 'ascii');
      const contains = dialect === 'sqlite' ? sql<boolean>`instr(raw, ${needle}) > 0` : sql<boolean>`position(${needle} in raw) > 0`;
      const r = await db
        .selectFrom('outbox')
        .select('id')
        .where('org_id', '=', orgId)
        .where('component', '=', 'notifications')
        .where('created_at', '>=', since)
        .where(contains)
        .orderBy('created_at')
        .limit(1)
        .executeTakeFirst();
      return r?.id;
    },
  };

  return { resets, problems, subscriptions, notifier };
}

export type NotificationsRepo = ReturnType<typeof notificationsRepo>;
