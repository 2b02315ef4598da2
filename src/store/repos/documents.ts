import type SQLite from 'better-sqlite3';
import { sql, type Kysely, type RawBuilder, type Transaction } from 'kysely';
import { sqliteHandle, type DialectName } from '../db.ts';
import type { AttachmentRow, Database, DocumentRow, NewDocument } from '../schema.ts';
import { escapeLike, fts5Query, tsqueryLiteral } from './query-text.ts';

export interface DocumentWrite {
  doc: NewDocument;
  attachments: AttachmentRow[];
  /**
   * Full-text terms in order (from archive/search): an array, or the terms joined by line feeds
   * (indexTermLines; no term contains one), which is cheaper to hand between threads.
   */
  terms: readonly string[] | string;
}

/**
 * The terms as SQLite's FTS5 table gets them: separated by spaces, or by line feeds when they
 * come joined so. Its `ascii` tokenizer splits at every ASCII character that is not a letter or
 * digit, so both index and rank exactly alike.
 */
function ftsText(terms: readonly string[] | string): string {
  return typeof terms === 'string' ? terms : terms.join(' ');
}

function termList(terms: readonly string[] | string): readonly string[] {
  if (typeof terms !== 'string') return terms;
  return terms === '' ? [] : terms.split('\n');
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
function tsvectorLiteral(terms: readonly string[]): string {
  const parts: string[] = [];
  for (let i = 0; i < terms.length; i++) {
    // PostgreSQL positions stop at 16383; later occurrences still count at the last position.
    parts.push(`'${terms[i]!.replace(/\\/g, '\\\\').replace(/'/g, "''")}':${Math.min(i + 1, 16383)}`);
  }
  return parts.join(' ');
}

const COLUMN = /^[a-z_][a-z0-9_]*$/;

/** The columns a row sets: like Kysely's values(), keys whose value is undefined are left out. */
function rowColumns(row: object): string[] {
  const cols: string[] = [];
  for (const [key, value] of Object.entries(row)) if (value !== undefined) cols.push(key);
  return cols;
}

export interface InsertOptions {
  /**
   * Awaited after the rows are written and before the transaction commits; a rejection rolls
   * it back. The archive passes the commit of the batch's blobs, so that the inserts overlap
   * its fsyncs while no document is committed before its bytes are on disk.
   */
  beforeCommit?: () => Promise<void>;
}

/**
 * The SQLite insert path: one IMMEDIATE transaction per batch running prepared better-sqlite3
 * statements that are made once and reused, where Kysely would compile each query and
 * better-sqlite3 prepare it again, 4-5 times per document. Same statements, same outcomes.
 */
class SqliteInserter {
  readonly #db: SQLite.Database;
  readonly #inserts = new Map<string, { cols: string[]; stmt: SQLite.Statement }>();
  readonly #begin: SQLite.Statement;
  readonly #commit: SQLite.Statement;
  readonly #rollback: SQLite.Statement;
  readonly #existing: SQLite.Statement;
  readonly #sameMessageId: SQLite.Statement;
  readonly #flag: SQLite.Statement;
  readonly #fts: SQLite.Statement;
  readonly #lastSeq: SQLite.Statement;
  /** The last fts_seq given out, read at the start of each (write-locked) transaction. */
  #seq = 0;

  constructor(db: SQLite.Database) {
    this.#db = db;
    this.#begin = db.prepare('BEGIN IMMEDIATE');
    this.#commit = db.prepare('COMMIT');
    this.#rollback = db.prepare('ROLLBACK');
    this.#existing = db.prepare('SELECT id FROM documents WHERE cabinet_id = ? AND sha256 = ?').pluck();
    this.#sameMessageId = db.prepare('SELECT id FROM documents WHERE cabinet_id = ? AND message_id = ? AND sha256 != ?').pluck();
    this.#flag = db.prepare('UPDATE documents SET content_differs = 1 WHERE cabinet_id = ? AND message_id = ?');
    // The full-text row is tied to its document by rowid = documents.fts_seq (migration 005).
    this.#fts = db.prepare('INSERT INTO document_fts (rowid, terms) VALUES (?, ?)');
    this.#lastSeq = db.prepare('SELECT coalesce(max(fts_seq), 0) FROM documents').pluck();
  }

  /**
   * To be called holding Kysely's one connection, so that no Kysely query runs inside this
   * transaction, which stays open while `beforeCommit` is awaited.
   */
  async insertMany(writes: DocumentWrite[], beforeCommit: (() => Promise<void>) | undefined): Promise<InsertOutcome[]> {
    this.#begin.run();
    try {
      this.#seq = Number(this.#lastSeq.get());
      const out = writes.map((w) => this.#insertOne(w));
      if (beforeCommit) await beforeCommit();
      this.#commit.run();
      return out;
    } catch (err) {
      if (this.#db.inTransaction) this.#rollback.run();
      throw err;
    }
  }

  #insert(table: 'documents' | 'attachments', row: object, suffix: string): SQLite.RunResult {
    const cols = rowColumns(row);
    const key = `${table}|${cols.join(',')}`;
    let entry = this.#inserts.get(key);
    if (entry === undefined) {
      for (const c of cols) if (!COLUMN.test(c)) throw new Error(`not a column name: ${JSON.stringify(c)}`);
      const stmt = this.#db.prepare(`INSERT INTO ${table} (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})${suffix}`);
      entry = { cols, stmt };
      this.#inserts.set(key, entry);
    }
    const values = row as Record<string, unknown>;
    return entry.stmt.run(entry.cols.map((c) => values[c]));
  }

  #insertOne(w: DocumentWrite): InsertOutcome {
    const doc = { ...w.doc, fts_seq: this.#seq + 1 };
    if (this.#insert('documents', doc, ' ON CONFLICT (cabinet_id, sha256) DO NOTHING').changes === 0) {
      const existingId = this.#existing.get(doc.cabinet_id, doc.sha256);
      if (typeof existingId !== 'string') throw new Error(`document ${doc.sha256} conflicts but cannot be found in cabinet ${doc.cabinet_id}`);
      return { inserted: false, existingId };
    }
    this.#seq = doc.fts_seq;
    let contentDiffers = false;
    const messageId = doc.message_id ?? null;
    if (messageId !== null && this.#sameMessageId.get(doc.cabinet_id, messageId, doc.sha256) !== undefined) {
      contentDiffers = true;
      this.#flag.run(doc.cabinet_id, messageId);
    }
    for (const a of w.attachments) this.#insert('attachments', a, '');
    this.#fts.run(doc.fts_seq, ftsText(w.terms));
    return { inserted: true, id: doc.id, contentDiffers };
  }
}

/** Rows per multi-row INSERT on PostgreSQL (well below its 65,535 parameters per statement). */
const ATTACHMENT_ROWS_PER_INSERT = 1000;
const FTS_ROWS_PER_INSERT = 100;

export function documentsRepo(db: Kysely<Database>, dialect: DialectName) {
  /** The document row and the duplicate / Message-ID checks; attachments and terms follow per batch. */
  async function insertDocument(tx: Transaction<Database>, w: DocumentWrite): Promise<InsertOutcome> {
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
    return { inserted: true, id: w.doc.id, contentDiffers };
  }

  /** PostgreSQL: attachments and full-text rows of the inserted documents, in multi-row INSERTs. */
  async function insertDependents(tx: Transaction<Database>, inserted: DocumentWrite[]): Promise<void> {
    const attachments = inserted.flatMap((w) => w.attachments);
    for (let i = 0; i < attachments.length; i += ATTACHMENT_ROWS_PER_INSERT) {
      await tx.insertInto('attachments').values(attachments.slice(i, i + ATTACHMENT_ROWS_PER_INSERT)).execute();
    }
    for (let i = 0; i < inserted.length; i += FTS_ROWS_PER_INSERT) {
      const rows = inserted.slice(i, i + FTS_ROWS_PER_INSERT).map((w) => sql`(${w.doc.id}, ${w.doc.org_id}, ${tsvectorLiteral(termList(w.terms))}::tsvector)`);
      await sql`INSERT INTO document_fts (doc_id, org_id, terms) VALUES ${sql.join(rows)}`.execute(tx);
    }
  }

  let sqliteInserter: SqliteInserter | undefined;

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
    async insertMany(writes: DocumentWrite[], options: InsertOptions = {}): Promise<InsertOutcome[]> {
      if (dialect === 'sqlite') {
        const handle = sqliteHandle(db);
        if (handle === undefined) throw new Error('documents.insertMany: a SQLite store opened without openSqlite');
        const inserter = (sqliteInserter ??= new SqliteInserter(handle));
        // Holding Kysely's one connection: no Kysely transaction is open meanwhile.
        return db.connection().execute(() => inserter.insertMany(writes, options.beforeCommit));
      }
      return db.transaction().execute(async (tx) => {
        const out: InsertOutcome[] = [];
        const inserted: DocumentWrite[] = [];
        // One document at a time: a duplicate or a Message-ID twin may be earlier in the batch.
        for (const w of writes) {
          const outcome = await insertDocument(tx, w);
          out.push(outcome);
          if (outcome.inserted) inserted.push(w);
        }
        await insertDependents(tx, inserted);
        if (options.beforeCommit) await options.beforeCommit();
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
          SELECT COUNT(*) AS n FROM document_fts JOIN documents d ON d.fts_seq = document_fts.rowid
          WHERE document_fts MATCH ${match} AND ${where}`.execute(db);
        const rows = await sql<DocumentRow & { rank: number }>`
          SELECT d.*, bm25(document_fts) AS rank FROM document_fts JOIN documents d ON d.fts_seq = document_fts.rowid
          WHERE document_fts MATCH ${match} AND ${where}
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

export type DocumentsRepo = ReturnType<typeof documentsRepo>;
