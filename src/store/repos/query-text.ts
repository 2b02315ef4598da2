/**
 * Query text both repositories that search documents build alike (documents.ts for the archive's
 * search, notifications.ts for subscription filters): one place, so they match the same way.
 * Terms are letters and digits from archive/search; the quoting is belt and braces.
 */

/** An FTS5 MATCH expression: every term, each as a quoted string (AND is implicit). */
export function fts5Query(terms: readonly string[]): string {
  return terms.map((t) => `"${t.replace(/"/g, '""')}"`).join(' ');
}

/** A tsquery literal requiring every term. */
export function tsqueryLiteral(terms: readonly string[]): string {
  return terms.map((t) => `'${t.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`).join(' & ');
}

/** `text` for a LIKE pattern with `ESCAPE '\'`: its own %, _ and \ match literally. */
export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}
