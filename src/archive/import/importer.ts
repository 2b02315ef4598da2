import path from 'node:path';
import { Readable } from 'node:stream';
import { toAppError, type AppError } from '../../errors/index.ts';
import type { IngestItem } from '../ingest.ts';
import type { IndexedMessage } from '../prepare.ts';
import type { IngestOutcome } from '../service.ts';
import { isSourceFailure, type SourceEntry, type SourceMessage } from './types.ts';

/** What the importer needs of the archive: its one door for raw messages. */
export interface IngestPort {
  ingest(orgId: string, cabinetId: string, items: IngestItem[]): Promise<IngestOutcome[]>;
  /**
   * Starts work on a batch that ingest() will get next with the same `items` array (e.g. parsing
   * it in another thread). Returns how to give up on it if ingest() is not called after all.
   */
  prefetch?(items: IngestItem[]): () => Promise<void>;
}

export interface ImportOptions {
  orgId: string;
  cabinetId: string;
  /** Most messages per ingest call, i.e. per database transaction (default 50). */
  batchMessages?: number;
  /** Most bytes of messages per ingest call, unless one message is larger (default 8 MiB). */
  batchBytes?: number;
  /**
   * Ingest calls allowed to run at once (default 1). Reading the next batch always overlaps the
   * ingest of the previous one; 2 also lets one batch be parsed while the previous one is being
   * fsynced and committed, at the cost of another batch in memory and of commits that may finish
   * out of order (so of two identical messages in neighbouring batches, either may be the one
   * reported as the duplicate).
   */
  concurrency?: number;
  /** Stored as each document's source, followed by the absolute `file` (default "import:"). */
  sourcePrefix?: string;
  /** Called after each batch's results have been handed out. */
  onProgress?: (progress: ImportProgress) => void;
}

export interface ImportProgress {
  /** Messages handed out so far (archived, duplicate or failed). */
  messages: number;
  /** Bytes of those messages. */
  bytes: number;
  /** Bytes of the source read up to the last of them (compare with the source's total bytes). */
  sourceBytes: number;
  failed: number;
}

export type ImportResult =
  | {
      ok: true;
      file: string;
      /** The document id (the existing one for a duplicate). */
      id: string;
      duplicate: boolean;
      /** Another document in the cabinet has this Message-ID with different bytes. */
      contentDiffers: boolean;
      size: number;
      parsed: IndexedMessage;
    }
  | { ok: false; file: string; error: AppError };

/** The counts a run ends with. */
export interface ImportSummary {
  messages: number;
  imported: number;
  duplicates: number;
  /** Archived although another document has the same Message-ID and different content. */
  contentDiffers: number;
  failed: number;
  bytes: number;
}

export function emptySummary(): ImportSummary {
  return { messages: 0, imported: 0, duplicates: 0, contentDiffers: 0, failed: 0, bytes: 0 };
}

export function addToSummary(summary: ImportSummary, r: ImportResult): void {
  summary.messages++;
  if (!r.ok) {
    summary.failed++;
    return;
  }
  summary.bytes += r.size;
  if (r.duplicate) summary.duplicates++;
  else {
    summary.imported++;
    if (r.contentDiffers) summary.contentDiffers++;
  }
}

/**
 * Batch bounds. Measured with bench/import.ts (docs/benchmarks.md): 200 messages per
 * transaction import about 20 % faster than 50 on SQLite (fewer commits) but need about 35 MB
 * more memory, which the 250 MB budget does not have; 100 are within the noise of 50.
 */
const DEFAULT_BATCH_MESSAGES = 50;
const DEFAULT_BATCH_BYTES = 8 * 1024 * 1024;
/**
 * Batches read ahead and handed to the archive's prefetch while earlier ones are ingested: the
 * worker thread parses them and their blobs are written meanwhile. Two measured about 4 %
 * faster than one (the worker never waits for the reader) for 3 MB more memory.
 */
const PREFETCH_BATCHES = 2;

interface Batch {
  results: Promise<ImportResult[]>;
  /** Source bytes read up to the end of the batch's last message. */
  sourceBytes: number;
}

/**
 * Archives the messages of a source in batches and hands out one result per message, in source
 * order. A message that cannot be archived is a failed result; the run goes on (design §2.3).
 * A message handed on as a stream is ingested alone: a consumed stream cannot be retried.
 *
 * Memory stays bounded: at most `concurrency` batches are being ingested while the next ones are
 * read (up to PREFETCH_BATCHES when the archive can prefetch), each at most `batchBytes` (plus a
 * single streamed message, which is never held whole).
 */
export async function* importMessages(archive: IngestPort, entries: AsyncIterable<SourceEntry>, options: ImportOptions): AsyncGenerator<ImportResult> {
  const maxMessages = Math.max(1, options.batchMessages ?? DEFAULT_BATCH_MESSAGES);
  const maxBytes = Math.max(1, options.batchBytes ?? DEFAULT_BATCH_BYTES);
  const depth = Math.max(1, options.concurrency ?? 1);
  const prefix = options.sourcePrefix ?? 'import:';
  const progress: ImportProgress = { messages: 0, bytes: 0, sourceBytes: 0, failed: 0 };
  const inflight: Batch[] = [];
  const current: SourceMessage[] = [];
  let currentBytes = 0;
  /** Batches read while `depth` are in flight, in source order; the archive is working on them. */
  const ready: Array<{ messages: SourceMessage[]; items: IngestItem[]; cancel: () => Promise<void> }> = [];
  const lookahead = archive.prefetch ? PREFETCH_BATCHES : 0;

  const start = (messages: SourceMessage[], items: IngestItem[]): void => {
    const run = async (): Promise<ImportResult[]> => {
      let outcomes: IngestOutcome[];
      try {
        outcomes = await archive.ingest(options.orgId, options.cabinetId, items);
      } catch (err) {
        const error = toAppError(err);
        for (const m of messages) if (m.raw instanceof Readable) m.raw.destroy();
        return messages.map((m) => ({ ok: false as const, file: m.file, error }));
      }
      return messages.map((m, i): ImportResult => {
        const o = outcomes[i];
        if (o === undefined) return { ok: false, file: m.file, error: toAppError(new Error(`ingest returned ${outcomes.length} outcomes for ${messages.length} messages`)) };
        if (!o.ok) return { ok: false, file: m.file, error: o.error };
        return { ok: true, file: m.file, id: o.id, duplicate: o.duplicate, contentDiffers: o.contentDiffers, size: o.size, parsed: o.parsed };
      });
    };
    inflight.push({ results: run(), sourceBytes: messages[messages.length - 1]!.sourceBytes });
  };

  async function* drainOne(): AsyncGenerator<ImportResult> {
    const batch = inflight.shift()!;
    const results = await batch.results;
    for (const r of results) {
      progress.messages++;
      if (r.ok) progress.bytes += r.size;
      else progress.failed++;
      yield r;
    }
    progress.sourceBytes = Math.max(progress.sourceBytes, batch.sourceBytes);
    options.onProgress?.({ ...progress });
  }

  /** Starts ready batches while fewer than `depth` are in flight; waits while more than `keep` are ready. */
  async function* advance(keep: number): AsyncGenerator<ImportResult> {
    while (ready.length > 0) {
      if (inflight.length < depth) {
        const next = ready.shift()!;
        start(next.messages, next.items);
      } else if (ready.length > keep) {
        yield* drainOne();
      } else {
        return;
      }
    }
  }

  /**
   * Starts a batch once fewer than `depth` are in flight, handing out finished ones meanwhile.
   * Until then the archive may begin on it (prefetch), up to `lookahead` batches ahead, so that
   * their parsing and writing overlap the storing of the batches before them.
   */
  async function* submit(messages: SourceMessage[]): AsyncGenerator<ImportResult> {
    const items: IngestItem[] = messages.map((m) => ({ raw: m.raw, source: prefix + path.resolve(m.file) }));
    if (ready.length === 0 && inflight.length < depth) {
      start(messages, items);
      return;
    }
    ready.push({ messages, items, cancel: archive.prefetch?.(items) ?? (async () => undefined) });
    yield* advance(lookahead);
  }

  try {
    for await (const entry of entries) {
      if (isSourceFailure(entry)) {
        if (current.length > 0) yield* submit(current.splice(0));
        currentBytes = 0;
        // The batches before it start first: results come in source order.
        yield* advance(0);
        const failure: ImportResult = { ok: false, file: entry.file, error: entry.error };
        inflight.push({ results: Promise.resolve([failure]), sourceBytes: entry.sourceBytes });
        // Many unreadable files in a row must not pile up either.
        while (inflight.length > depth) yield* drainOne();
      } else if (!Buffer.isBuffer(entry.raw)) {
        if (current.length > 0) yield* submit(current.splice(0));
        currentBytes = 0;
        yield* submit([entry]);
      } else {
        if (current.length > 0 && currentBytes + entry.size > maxBytes) {
          yield* submit(current.splice(0));
          currentBytes = 0;
        }
        current.push(entry);
        currentBytes += entry.size;
        if (current.length >= maxMessages) {
          yield* submit(current.splice(0));
          currentBytes = 0;
        }
      }
    }
    if (current.length > 0) yield* submit(current.splice(0));
    yield* advance(0);
    while (inflight.length > 0) yield* drainOne();
  } finally {
    // Stopped early: let the ingests already started finish before the caller closes the app,
    // give up on the batches not started, and release streams that will never be read.
    const abandoned = ready.splice(0);
    for (const m of [...current, ...abandoned.flatMap((b) => b.messages)]) if (m.raw instanceof Readable) m.raw.destroy();
    await Promise.allSettled([...inflight.map((b) => b.results), ...abandoned.map((b) => b.cancel())]);
  }
}
