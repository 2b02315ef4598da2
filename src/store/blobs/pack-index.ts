/**
 * Where each packed blob lives: SHA-256 -> pack file, position and length, in a SQLite file
 * beside the packs (`<blobs>/packs/index.sqlite`), whatever database the rest of Mailroom uses:
 * the blob store stays one directory that can be copied, and its lookups stay synchronous and
 * take microseconds (get() returns a stream at once). better-sqlite3 directly rather than
 * Kysely: three fixed statements on a private file, no dialects (docs/decisions/0009).
 *
 * Several processes (the server and a CLI sync) may share it: WAL lets readers go on during a
 * write, and a writer waits up to busy_timeout for another. `synchronous = FULL` makes each
 * commit durable before it returns: a document is committed only after the index rows of its
 * blobs, so it never refers to a blob the index forgot in a power cut.
 */
import SQLite from 'better-sqlite3';
import { AppError } from '../../errors/index.ts';

export interface PackedLocation {
  /** The pack's file name under `<blobs>/packs/`. */
  pack: string;
  /** Where the blob's bytes start in the pack. */
  pos: number;
  size: number;
}

const SCHEMA_VERSION = 1;

export class PackIndex {
  readonly #db: SQLite.Database;
  readonly #find: SQLite.Statement<[Buffer], { name: string; pos: number; len: number }>;
  readonly #packId: SQLite.Statement<[string], { id: number }>;
  readonly #addPack: SQLite.Statement<[string]>;
  readonly #add: SQLite.Statement<[Buffer, number, number, number]>;
  readonly #repoint: SQLite.Statement<[number, number, number, Buffer, string, number]>;

  constructor(file: string) {
    this.#db = new SQLite(file);
    let version: number;
    try {
      this.#db.pragma('journal_mode = WAL');
      this.#db.pragma('synchronous = FULL');
      this.#db.pragma('busy_timeout = 15000');
      version = this.#db.pragma('user_version', { simple: true }) as number;
    } catch (err) {
      this.#db.close();
      const why = err instanceof Error ? err.message : String(err);
      throw new AppError(
        'BLOB_CORRUPT',
        `The blob index ${file} cannot be read (${why}). Move it aside (with its -wal and -shm files) and run \`mailroom blobs reindex\` to rebuild it from the pack files.`,
      );
    }
    if (version > SCHEMA_VERSION) {
      this.#db.close();
      throw new AppError('BLOB_CORRUPT', `The blob index ${file} was written by a newer Mailroom (index version ${version}); run that version, or move the index aside and run \`mailroom blobs reindex\`.`);
    }
    this.#db.exec(`
      CREATE TABLE IF NOT EXISTS packs (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
      CREATE TABLE IF NOT EXISTS packed (
        sha256 BLOB PRIMARY KEY,
        pack INTEGER NOT NULL REFERENCES packs (id),
        pos INTEGER NOT NULL,
        len INTEGER NOT NULL
      ) WITHOUT ROWID;
      PRAGMA user_version = ${SCHEMA_VERSION};
    `);
    this.#find = this.#db.prepare('SELECT p.name, b.pos, b.len FROM packed b JOIN packs p ON p.id = b.pack WHERE b.sha256 = ?');
    this.#packId = this.#db.prepare('SELECT id FROM packs WHERE name = ?');
    this.#addPack = this.#db.prepare('INSERT OR IGNORE INTO packs (name) VALUES (?)');
    // A blob already indexed (put by another batch or process meanwhile) keeps its first copy.
    this.#add = this.#db.prepare('INSERT OR IGNORE INTO packed (sha256, pack, pos, len) VALUES (?, ?, ?, ?)');
    this.#repoint = this.#db.prepare('UPDATE packed SET pack = ?, pos = ?, len = ? WHERE sha256 = ? AND pack = (SELECT id FROM packs WHERE name = ?) AND pos = ?');
  }

  find(sha256: string): PackedLocation | null {
    const row = this.#find.get(Buffer.from(sha256, 'hex'));
    return row ? { pack: row.name, pos: row.pos, size: row.len } : null;
  }

  /**
   * Records blobs whose bytes are durable in their packs; one transaction, durable on return.
   * Returns how many were new (a blob indexed already keeps its first location).
   */
  add(entries: ReadonlyArray<{ sha256: string } & PackedLocation>): number {
    return this.#db.transaction(() => {
      let added = 0;
      const ids = new Map<string, number>();
      for (const e of entries) {
        let id = ids.get(e.pack);
        if (id === undefined) {
          this.#addPack.run(e.pack);
          id = this.#packId.get(e.pack)!.id;
          ids.set(e.pack, id);
        }
        added += this.#add.run(Buffer.from(e.sha256, 'hex'), id, e.pos, e.size).changes;
      }
      return added;
    }).immediate();
  }

  /**
   * Moves index rows from a damaged copy of a blob to an intact one (blobs reindex), each only
   * if it still points at that damaged copy. One transaction; returns how many moved.
   */
  repoint(moves: ReadonlyArray<{ sha256: string; from: PackedLocation; to: PackedLocation }>): number {
    return this.#db.transaction(() => {
      let moved = 0;
      for (const m of moves) {
        this.#addPack.run(m.to.pack);
        const to = this.#packId.get(m.to.pack)!.id;
        moved += this.#repoint.run(to, m.to.pos, m.to.size, Buffer.from(m.sha256, 'hex'), m.from.pack, m.from.pos).changes;
      }
      return moved;
    }).immediate();
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}
