import { sql, type Kysely, type RawBuilder, type Transaction } from 'kysely';
import type { DialectName } from '../db.ts';
import type { AttachmentRow, Database, DocumentRow, NewDocument } from '../schema.ts';

export interface DocumentWrite {
  doc: NewDocument;
  attachments: AttachmentRow[];
  /** Full-text terms in order (from archive/search). */
  terms: string[];
}

export type InsertOutcome =
  | { inserted: true; id: string; contentDiffers: boolean }
  | { inserted: false; existingId: string };

export interface SearchFilter {
  orgId: string;
  terms: string[];
  cabinetId?: string | undefined;
  dateFrom?: string | undefined;
  dateTo?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
  hasAttachment?: boolean | undefined;
  limit: number;
  offset: number;
}

export interface SearchPage {
  total: number;
  rows: Array<DocumentRow & { rank: number }>;
}

/** A tsvector literal; terms are letters and digits only, quoting is belt and braces. */
function tsvectorLiteral(terms: string[]): string {
  const parts: string[] = [];
  for (let i = 0; i < terms.length; i++) {
    // PostgreSQL positions stop at 16383; later occurrences still count at the last position.
    parts.push(`'${terms[i]!.replace(/\\/g, '\\\\').replace(/'/g, "''")}':${Math.min(i + 1, 16383)}`);
  }
  return parts.join(' ');
}

function tsqueryLiteral(terms: string[]): string {
  return terms.map((t) => `'${t.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`).join(' & ');
}

function fts5Query(terms: string[]): string {
  return terms.map((t) => `"${t.replace(/"/g, '""')}"`).join(' ');
}

export function documentsRepo(db: Kysely<Database>, dialect: DialectName) {
  async function insertOne(tx: Transaction<Database>, w: DocumentWrite): Promise<InsertOutcome> {
    const inserted = await tx
      .insertInto('documents')
      .values(w.doc)
      .onConflict((oc) => oc.columns(['cabinet_id', 'sha256']).doNothing())
      .returning('id')
      .executeTakeFirst();
    if (!inserted) {
      const existing = await tx
        .selectFrom('documents')
        .select('id')
        .where('cabinet_id', '=', w.doc.cabinet_id)
        .where('sha256', '=', w.doc.sha256)
        .executeTakeFirstOrThrow();
      return { inserted: false, existingId: existing.id };
    }
    let contentDiffers = false;
    const messageId = w.doc.message_id ?? null;
    if (messageId !== null) {
      const other = await tx
        .selectFrom('documents')
        .select('id')
        .where('cabinet_id', '=', w.doc.cabinet_id)
        .where('message_id', '=', messageId)
        .where('sha256', '!=', w.doc.sha256)
        .executeTakeFirst();
      if (other) {
        contentDiffers = true;
        await tx
          .updateTable('documents')
          .set({ content_differs: 1 })
          .where('cabinet_id', '=', w.doc.cabinet_id)
          .where('message_id', '=', messageId)
          .execute();
      }
    }
    if (w.attachments.length > 0) await tx.insertInto('attachments').values(w.attachments).execute();
    const terms = dialect === 'sqlite' ? w.terms.join(' ') : tsvectorLiteral(w.terms);
    if (dialect === 'sqlite') {
      await sql`INSERT INTO document_fts (doc_id, org_id, terms) VALUES (${w.doc.id}, ${w.doc.org_id}, ${terms})`.execute(tx);
    } else {
      await sql`INSERT INTO document_fts (doc_id, org_id, terms) VALUES (${w.doc.id}, ${w.doc.org_id}, ${terms}::tsvector)`.execute(tx);
    }
    return { inserted: true, id: w.doc.id, contentDiffers };
  }

  function filters(f: SearchFilter): RawBuilder<unknown> {
    const like = dialect === 'sqlite' ? sql`LIKE` : sql`ILIKE`;
    const parts: RawBuilder<unknown>[] = [sql`d.org_id = ${f.orgId}`];
    if (f.cabinetId) parts.push(sql`d.cabinet_id = ${f.cabinetId}`);
    if (f.dateFrom) parts.push(sql`d.date >= ${f.dateFrom}`);
    if (f.dateTo) parts.push(sql`d.date <= ${f.dateTo}`);
    if (f.from) {
      const p = `%${escapeLike(f.from)}%`;
      parts.push(sql`(d.from_address ${like} ${p} ESCAPE '\\' OR d.from_name ${like} ${p} ESCAPE '\\')`);
    }
    if (f.to) {
      const p = `%${escapeLike(f.to)}%`;
      parts.push(sql`(d.to_json ${like} ${p} ESCAPE '\\' OR d.cc_json ${like} ${p} ESCAPE '\\')`);
    }
    if (f.hasAttachment === true) parts.push(sql`d.attachment_count > 0`);
    if (f.hasAttachment === false) parts.push(sql`d.attachment_count = 0`);
    return sql.join(parts, sql` AND `);
  }

  return {
    /** Inserts a batch in one transaction; duplicates (same cabinet + bytes) are reported, not inserted. */
    async insertMany(writes: DocumentWrite[]): Promise<InsertOutcome[]> {
      return db.transaction().execute(async (tx) => {
        const out: InsertOutcome[] = [];
        for (const w of writes) out.push(await insertOne(tx, w));
        return out;
      });
    },

    async byId(orgId: string, id: string): Promise<DocumentRow | undefined> {
      return db.selectFrom('documents').selectAll().where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
    },

    async bySha(cabinetId: string, sha256: string): Promise<DocumentRow | undefined> {
      return db.selectFrom('documents').selectAll().where('cabinet_id', '=', cabinetId).where('sha256', '=', sha256).executeTakeFirst();
    },

    /** Which of these Message-IDs the organisation has archived (any cabinet). */
    async archivedMessageIds(orgId: string, messageIds: string[]): Promise<Set<string>> {
      if (messageIds.length === 0) return new Set();
      const rows = await db
        .selectFrom('documents')
        .select('message_id')
        .distinct()
        .where('org_id', '=', orgId)
        .where('message_id', 'in', messageIds)
        .execute();
      return new Set(rows.map((r) => r.message_id).filter((m): m is string => m !== null));
    },

    async attachments(documentId: string): Promise<AttachmentRow[]> {
      return db.selectFrom('attachments').selectAll().where('document_id', '=', documentId).orderBy('idx').execute();
    },

    /** Pages through every document of an organisation (optionally one cabinet), oldest first. */
    async *iterate(orgId: string, cabinetId?: string, pageSize = 500): AsyncGenerator<DocumentRow> {
      let after = '';
      let afterId = '';
      for (;;) {
        let q = db.selectFrom('documents').selectAll().where('org_id', '=', orgId);
        if (cabinetId) q = q.where('cabinet_id', '=', cabinetId);
        // No lower bound on the first page: PostgreSQL cannot compare timestamptz with ''.
        if (after !== '') q = q.where((eb) => eb.or([eb('archived_at', '>', after), eb.and([eb('archived_at', '=', after), eb('id', '>', afterId)])]));
        const rows = await q.orderBy('archived_at').orderBy('id').limit(pageSize).execute();
        for (const r of rows) yield r;
        if (rows.length < pageSize) return;
        const last = rows[rows.length - 1]!;
        after = last.archived_at;
        afterId = last.id;
      }
    },

    async count(orgId: string, cabinetId?: string): Promise<number> {
      let q = db.selectFrom('documents').select((eb) => eb.fn.countAll<number>().as('n')).where('org_id', '=', orgId);
      if (cabinetId) q = q.where('cabinet_id', '=', cabinetId);
      const row = await q.executeTakeFirst();
      return Number(row?.n ?? 0);
    },

    /** Ranked full-text search; without terms, the filtered documents newest first. */
    async search(f: SearchFilter): Promise<SearchPage> {
      const where = filters(f);
      if (f.terms.length === 0) {
        const totalRow = await sql<{ n: number }>`SELECT COUNT(*) AS n FROM documents d WHERE ${where}`.execute(db);
        const rows = await sql<DocumentRow & { rank: number }>`
          SELECT d.*, 0 AS rank FROM documents d WHERE ${where}
          ORDER BY d.date DESC NULLS LAST, d.id LIMIT ${f.limit} OFFSET ${f.offset}`.execute(db);
        return { total: Number(totalRow.rows[0]?.n ?? 0), rows: rows.rows };
      }
      if (dialect === 'sqlite') {
        const match = fts5Query(f.terms);
        const totalRow = await sql<{ n: number }>`
          SELECT COUNT(*) AS n FROM document_fts JOIN documents d ON d.id = document_fts.doc_id
          WHERE document_fts MATCH ${match} AND document_fts.org_id = ${f.orgId} AND ${where}`.execute(db);
        const rows = await sql<DocumentRow & { rank: number }>`
          SELECT d.*, bm25(document_fts) AS rank FROM document_fts JOIN documents d ON d.id = document_fts.doc_id
          WHERE document_fts MATCH ${match} AND document_fts.org_id = ${f.orgId} AND ${where}
          ORDER BY rank, d.date DESC, d.id LIMIT ${f.limit} OFFSET ${f.offset}`.execute(db);
        return { total: Number(totalRow.rows[0]?.n ?? 0), rows: rows.rows };
      }
      const query = tsqueryLiteral(f.terms);
      const totalRow = await sql<{ n: number }>`
        SELECT COUNT(*) AS n FROM document_fts f JOIN documents d ON d.id = f.doc_id
        WHERE f.terms @@ ${query}::tsquery AND f.org_id = ${f.orgId} AND ${where}`.execute(db);
      const rows = await sql<DocumentRow & { rank: number }>`
        SELECT d.*, ts_rank(f.terms, ${query}::tsquery) AS rank FROM document_fts f JOIN documents d ON d.id = f.doc_id
        WHERE f.terms @@ ${query}::tsquery AND f.org_id = ${f.orgId} AND ${where}
        ORDER BY rank DESC, d.date DESC NULLS LAST, d.id LIMIT ${f.limit} OFFSET ${f.offset}`.execute(db);
      return { total: Number(totalRow.rows[0]?.n ?? 0), rows: rows.rows };
    },
  };
}

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

export type DocumentsRepo = ReturnType<typeof documentsRepo>;
