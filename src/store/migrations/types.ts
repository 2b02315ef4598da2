import type { Kysely } from 'kysely';
import type { DialectName } from '../db.ts';

/** Column types that differ between the dialects; everything else is written once. */
export interface ColumnTypes {
  timestamp: 'text' | 'timestamptz';
  bigint: 'integer' | 'bigint';
}

export function columnTypes(dialect: DialectName): ColumnTypes {
  return dialect === 'sqlite' ? { timestamp: 'text', bigint: 'integer' } : { timestamp: 'timestamptz', bigint: 'bigint' };
}

export interface VersionedMigration {
  name: string;
  up(db: Kysely<unknown>, dialect: DialectName): Promise<void>;
}
