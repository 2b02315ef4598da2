import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { BlobBatch, BlobRef, BlobStore, DocumentWrite, Store } from '../store/index.ts';
import { parseMessage } from './parse/index.ts';
import { prepared, type IndexedMessage, type PreparedMessage } from './prepare.ts';
import { SpooledRaw } from './spool.ts';

/**
 * A message as it arrives: its raw bytes and where it came from. Large ones come as a stream
 * (read once, so such an item goes alone) or already spooled to a temp file (spool.ts: its blob
 * is written, and it can be read again).
 */
export interface IngestItem {
  raw: Buffer | Readable | SpooledRaw;
  /** Free text naming the origin, e.g. "import:/mail/inbox.mbox#12" or "upload". */
  source: string;
  /** Values for the cabinet's own index fields (from an import rule's mapping). */
  fields?: Record<string, string>;
}

export interface IngestResult {
  /** The document id: the new one, or the existing one for a duplicate. */
  id: string;
  duplicate: boolean;
  /** Another document in the cabinet has the same Message-ID but different bytes. */
  contentDiffers: boolean;
  sha256: string;
  size: number;
  /** The message's index fields (its texts went into the preview and the full-text terms). */
  parsed: IndexedMessage;
}

/** Messages up to this size are parsed from memory; larger ones are re-read from the blob. */
const IN_MEMORY_LIMIT = 4 * 1024 * 1024;
/** How many raw messages are written to the blob store ahead of the one being parsed. */
const PUT_AHEAD = 8;

function toWrite(orgId: string, cabinetId: string, item: IngestItem, sha256: string, size: number, message: PreparedMessage, archivedAt: string): DocumentWrite {
  const p = message.parsed;
  const id = randomUUID();
  return {
    doc: {
      id,
      org_id: orgId,
      cabinet_id: cabinetId,
      message_id: p.messageId,
      sha256,
      size,
      subject: p.subject,
      from_name: p.from?.name ?? '',
      from_address: p.from?.address ?? '',
      to_json: JSON.stringify(p.to),
      cc_json: JSON.stringify(p.cc),
      date: p.date,
      in_reply_to: p.inReplyTo,
      references_json: JSON.stringify(p.references),
      attachment_count: p.attachments.length,
      attachment_names: p.attachments.length === 0 ? '' : JSON.stringify(p.attachments.map((a) => a.filename)),
      source: item.source,
      archived_at: archivedAt,
      content_differs: 0,
      warnings_json: JSON.stringify(p.warnings),
      preview: message.preview,
      fields_json: JSON.stringify(item.fields ?? {}),
    },
    attachments: p.attachments.map((a, idx) => ({
      document_id: id,
      idx,
      filename: a.filename,
      content_type: a.contentType,
      size: a.size,
      sha256: a.sha256,
      part_path: a.partPath,
    })),
    terms: message.terms,
  };
}

/** A message's raw bytes small enough to parse from memory (else they are re-read from the blob). */
export function parsedFromMemory(raw: IngestItem['raw']): raw is Buffer {
  return Buffer.isBuffer(raw) && raw.length <= IN_MEMORY_LIMIT;
}

/** A raw message read only once: it cannot be retried. */
export function isStream(raw: IngestItem['raw']): raw is Readable {
  return !Buffer.isBuffer(raw) && !(raw instanceof SpooledRaw);
}

/**
 * What a parse elsewhere reads: the bytes, or a local file (a spooled message's temp file, read
 * there as a stream: bounded memory, no copy between threads).
 */
export type ParseInput = Buffer | { file: string };

/** Starts parsing a raw message elsewhere (parse-pool.ts); null from the promise means "declined". */
export type ParseElsewhere = (raw: ParseInput) => Promise<PreparedMessage | null>;

function parseElsewhere(item: IngestItem, parse: ParseElsewhere): Promise<PreparedMessage | null> | undefined {
  const raw = item.raw;
  if (parsedFromMemory(raw)) return quiet(parse(raw));
  if (!(raw instanceof SpooledRaw)) return undefined;
  if (raw.file !== null) return quiet(parse({ file: raw.file }));
  // No file: the blob store holds a small one in memory until its commit packs it.
  if (raw.size <= IN_MEMORY_LIMIT) return quiet(raw.read().toArray().then((chunks) => parse(Buffer.concat(chunks as Buffer[]))));
  return undefined;
}

/**
 * A batch whose work has started ahead of its ingest (see stageBatch): its blob batch, the
 * writes of its raw messages, and per item the parse running elsewhere.
 */
export interface StagedBatch {
  readonly items: readonly IngestItem[];
  readonly batch: BlobBatch;
  readonly raws: ReadonlyArray<Promise<BlobRef> | undefined>;
  readonly parses: ReadonlyArray<Promise<PreparedMessage | null> | undefined>;
  /** Gives up on the batch: waits for what was started, then removes its temp files. */
  cancel(): Promise<void>;
}

/** Awaited later (or settled by cancel); a failure must not count as unhandled meanwhile. */
function quiet<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

/**
 * Starts a batch: every raw message that is in memory goes to the blob store at once, and each
 * one small enough, or spooled to a local file, is parsed elsewhere (in the worker thread). The
 * archive stages the next batch while the current one is committed (service.prefetch), so the
 * file system and the worker keep busy meanwhile. Spooled messages are their owner's to commit
 * or discard (spool.ts), not the staged batch's: cancel() only waits for their parses.
 */
export function stageBatch(blobs: BlobStore, items: readonly IngestItem[], parse: ParseElsewhere): StagedBatch {
  const batch = blobs.batch();
  const raws = items.map((item) => (Buffer.isBuffer(item.raw) ? quiet(batch.put(item.raw)) : undefined));
  const parses = items.map((item) => parseElsewhere(item, parse));
  const cancel = async (): Promise<void> => {
    await Promise.allSettled([...raws, ...parses]);
    await batch.abort();
  };
  return { items, batch, raws, parses, cancel };
}

export interface IngestOptions {
  /** The batch's work started earlier by stageBatch with these same items. */
  staged?: StagedBatch;
}

interface Done {
  ref: BlobRef | Promise<BlobRef>;
  message: PreparedMessage;
}

/**
 * The receive path's one door into the archive (design §3): raw bytes to the blob store first,
 * then parse (attachments are digested, not stored apart: docs/decisions/0007), then one
 * database transaction per batch with the documents, attachment rows and full-text rows. Blobs
 * are fsynced before the transaction commits, so a committed document always has its bytes; a
 * crash before the commit leaves only unreferenced blobs, never a half document. (The rows are
 * written while the blobs are being fsynced; the commit waits for them.)
 *
 * Spooled messages (spool.ts) are committed with the batch's blobs; on failure they are left
 * as they are for their owner (archive.ingest), which may retry them one by one.
 */
export async function ingestBatch(
  store: Store,
  blobs: BlobStore,
  orgId: string,
  cabinetId: string,
  items: IngestItem[],
  options: IngestOptions = {},
): Promise<IngestResult[]> {
  const staged = options.staged;
  if (staged !== undefined && staged.items !== items) throw new Error('ingestBatch: the staged batch is for other items');
  const batch = staged?.batch ?? blobs.batch();
  const archivedAt = new Date().toISOString();
  // Raw bytes of in-memory messages are written ahead of the one being parsed, so the file
  // system works while the CPU parses (a put is mostly waiting on open/write/close): all of
  // them at once for a staged batch (parsed elsewhere), else a few messages ahead.
  const puts = new Map<number, Promise<BlobRef>>();
  staged?.raws.forEach((put, i) => put && puts.set(i, put));
  let started = staged ? items.length : 0;
  const startPuts = (upTo: number): void => {
    for (; started < items.length && started <= upTo; started++) {
      const raw = items[started]!.raw;
      if (Buffer.isBuffer(raw)) puts.set(started, quiet(batch.put(raw)));
    }
  };
  let committing: Promise<void> | null = null;
  try {
    const done: Done[] = [];
    for (let i = 0; i < items.length; i++) {
      startPuts(i + PUT_AHEAD);
      const item = items[i]!;
      // A spooled message was written when it was spooled (the commit waits for its fdatasync); only parsed here.
      const spooled = item.raw instanceof SpooledRaw ? item.raw : null;
      const elsewhere = await staged?.parses[i];
      if (elsewhere) {
        done.push({ ref: spooled?.ref ?? puts.get(i)!, message: elsewhere });
      } else if (parsedFromMemory(item.raw)) {
        done.push({ ref: puts.get(i)!, message: prepared(await parseMessage(item.raw)) });
      } else if (item.raw instanceof SpooledRaw) {
        done.push({ ref: item.raw.ref, message: prepared(await parseMessage(item.raw.read())) });
      } else {
        const ref = await (puts.get(i) ?? batch.put(item.raw));
        done.push({ ref, message: prepared(await parseMessage(batch.read(ref.sha256))) });
      }
    }
    const refs = await Promise.all(done.map((d) => d.ref));
    const writes = done.map(({ message }, i) => toWrite(orgId, cabinetId, items[i]!, refs[i]!.sha256, refs[i]!.size, message, archivedAt));
    // The blobs are fsynced and renamed while the rows are written; the transaction commits
    // only once that is done, spooled messages' blobs included.
    const spooled = items.map((item) => item.raw).filter((raw) => raw instanceof SpooledRaw);
    committing = quiet(Promise.all([batch.commit(), ...spooled.map((s) => s.commit())]).then(() => undefined));
    const commit = committing;
    const outcomes = await store.documents.insertMany(writes, { beforeCommit: () => commit });
    return outcomes.map((o, i) => {
      const ref = refs[i]!;
      const { message } = done[i]!;
      return o.inserted
        ? { id: o.id, duplicate: false, contentDiffers: o.contentDiffers, sha256: ref.sha256, size: ref.size, parsed: message.parsed }
        : { id: o.existingId, duplicate: true, contentDiffers: false, sha256: ref.sha256, size: ref.size, parsed: message.parsed };
    });
  } catch (err) {
    // Let writes (and a commit) still in flight finish, so that abort() removes every file they made.
    await Promise.allSettled([...puts.values(), ...(staged?.parses ?? []), committing]);
    await batch.abort();
    throw err;
  }
}
