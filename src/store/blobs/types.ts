import type { Readable } from 'node:stream';

export interface BlobRef {
  sha256: string;
  size: number;
}

/** A set of writes that become visible and durable together (see FsBlobStore for why). */
export interface BlobBatch {
  /** Stores the bytes; until commit() they are readable only through `read()` of this batch. */
  put(content: Readable | Buffer): Promise<BlobRef>;
  /** A stream of a blob put in this batch (or already committed). */
  read(sha256: string): Readable;
  /**
   * The local file holding a blob put in this batch and not yet committed, for a reader in
   * another thread (the parse worker); null when there is none (e.g. an object store).
   */
  fileOf(sha256: string): string | null;
  /** Makes the puts durable (the data synced, each blob moved to its content address, the directories synced). */
  commit(): Promise<void>;
  /** Removes what was not committed. */
  abort(): Promise<void>;
}

/**
 * Content-addressed blob storage for raw messages and attachments. A blob's name is the SHA-256
 * of its bytes, so writing the same content twice stores it once. An S3 driver implements the
 * same interface later.
 */
export interface BlobStore {
  batch(): BlobBatch;
  put(content: Readable | Buffer): Promise<BlobRef>;
  get(sha256: string): Readable;
  has(sha256: string): Promise<boolean>;
  /** Re-reads the blob and compares its hash with its name. */
  verify(sha256: string): Promise<{ ok: boolean; actual: string | null; size: number }>;
}
