import type { Readable } from 'node:stream';
import type { AppError } from '../../errors/index.ts';

/** One message read from an import source. */
export interface SourceMessage {
  /** The file it came from; `path#n` for the n-th message (1-based) of an mbox. */
  file: string;
  /**
   * The message's exact bytes. Messages larger than the reader's in-memory limit (8 MiB by
   * default) come as a stream so that no reader ever holds a huge message whole.
   */
  raw: Buffer | Readable;
  /** Size of the message in bytes. */
  size: number;
  /** Bytes of the source consumed up to the end of this message (for progress). */
  sourceBytes: number;
}

/** A file inside a source that could not be read; the import goes on without it. */
export interface SourceFailure {
  file: string;
  error: AppError;
  sourceBytes: number;
}

export type SourceEntry = SourceMessage | SourceFailure;

export function isSourceFailure(entry: SourceEntry): entry is SourceFailure {
  return 'error' in entry;
}

export type SourceKind = 'eml' | 'mbox' | 'maildir' | 'directory';

export interface ReaderOptions {
  /** Messages larger than this are handed on as streams (default 8 MiB). */
  inMemoryLimit?: number;
  /** Where an mbox reader spills a message above the limit (default: the OS temp dir). */
  spillDir?: string;
  /** Told about files a directory walk passes over, with the reason. */
  onSkip?: (file: string, reason: string) => void;
}

export const DEFAULT_IN_MEMORY_LIMIT = 8 * 1024 * 1024;
