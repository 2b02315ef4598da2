import { sql } from 'kysely';
import type { VersionedMigration } from './types.ts';

/**
 * SQLite only: the full-text table stops keeping a copy of every document's terms (FTS5
 * `content=''`), which was two thirds of its size and a third of the cost of archiving a
 * document (docs/decisions/0007). A contentless table cannot give back its columns, so a row is
 * tied to its document by rowid: `documents.fts_seq`, an explicit column because a VACUUM may
 * renumber the implicit rowids of a table without an INTEGER PRIMARY KEY. Automerge 8 (FTS5's
 * default is 4) merges index segments less often while importing, for slightly more segments
 * to read per query. PostgreSQL's tsvector table is unchanged.
 */
export const contentlessFtsMigration: VersionedMigration = {
  name: '005-contentless-fts',
  async up(db, dialect) {
    if (dialect !== 'sqlite') return;
    await sql`ALTER TABLE documents ADD COLUMN fts_seq integer`.execute(db);
    await sql`UPDATE documents SET fts_seq = rowid`.execute(db);
    await sql`CREATE UNIQUE INDEX documents_fts_seq ON documents (fts_seq)`.execute(db);
    // contentless_delete (SQLite 3.43+): a document could still be removed from the index later.
    await sql`CREATE VIRTUAL TABLE document_terms USING fts5(terms, tokenize = 'ascii', content = '', contentless_delete = 1)`.execute(db);
    await sql`INSERT INTO document_terms (document_terms, rank) VALUES ('automerge', 8)`.execute(db);
    await sql`INSERT INTO document_terms (rowid, terms) SELECT d.fts_seq, f.terms FROM document_fts f JOIN documents d ON d.id = f.doc_id`.execute(db);
    await sql`DROP TABLE document_fts`.execute(db);
    await sql`ALTER TABLE document_terms RENAME TO document_fts`.execute(db);
  },
};
