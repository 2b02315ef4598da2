import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { BlobRef, BlobStore, DocumentWrite, Store } from '../store/index.ts';
import { parseMessage, type ParsedMessage } from './parse/index.ts';
import { indexTerms } from './search/terms.ts';

/** A message as it arrives: its raw bytes (a Buffer, or a stream for large ones) and where it came from. */
export interface IngestItem {
  raw: Buffer | Readable;
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
  parsed: ParsedMessage;
}

/** Messages up to this size are parsed from memory; larger ones are re-read from the blob. */
const IN_MEMORY_LIMIT = 4 * 1024 * 1024;
const PREVIEW_CHARS = 300;
/** How many raw messages are written to the blob store ahead of the one being parsed. */
const PUT_AHEAD = 8;

function searchText(p: ParsedMessage): string {
  const people = [p.from, ...p.to, ...p.cc].filter((a) => a !== null).map((a) => `${a.name} ${a.address}`);
  return [p.subject, people.join(' '), p.attachments.map((a) => a.filename).join(' '), p.bodyText, p.attachmentText].join('\n');
}

function toWrite(orgId: string, cabinetId: string, item: IngestItem, sha256: string, size: number, p: ParsedMessage, archivedAt: string): DocumentWrite {
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
      preview: p.bodyText.replace(/\s+/g, ' ').trim().slice(0, PREVIEW_CHARS),
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
    terms: indexTerms(searchText(p)),
  };
}

/**
 * The receive path's one door into the archive (design §3): raw bytes to the blob store first,
 * then parse, then one database transaction per batch with the documents, attachments and
 * full-text rows. Blobs are fsynced before the transaction, so a committed document always has
 * its bytes; a crash before the commit leaves only unreferenced blobs, never a half document.
 */
export async function ingestBatch(store: Store, blobs: BlobStore, orgId: string, cabinetId: string, items: IngestItem[]): Promise<IngestResult[]> {
  const batch = blobs.batch();
  const archivedAt = new Date().toISOString();
  // Raw bytes of in-memory messages are written a few messages ahead of the one being parsed, so
  // the file system works while the CPU parses (a put is mostly waiting on open/write/close).
  const puts = new Map<number, Promise<BlobRef>>();
  let started = 0;
  const startPuts = (upTo: number): void => {
    for (; started < items.length && started <= upTo; started++) {
      const raw = items[started]!.raw;
      if (!Buffer.isBuffer(raw)) continue;
      const put = batch.put(raw);
      put.catch(() => undefined); // awaited below; a failure must not go unhandled meanwhile
      puts.set(started, put);
    }
  };
  try {
    const staged: Array<{ sha256: string; size: number; parsed: ParsedMessage; write: DocumentWrite }> = [];
    for (let i = 0; i < items.length; i++) {
      startPuts(i + PUT_AHEAD);
      const item = items[i]!;
      let ref: BlobRef;
      let parsed: ParsedMessage;
      if (Buffer.isBuffer(item.raw) && item.raw.length <= IN_MEMORY_LIMIT) {
        parsed = await parseMessage(item.raw, (content) => batch.put(content));
        ref = await puts.get(i)!;
      } else {
        ref = await (puts.get(i) ?? batch.put(item.raw));
        parsed = await parseMessage(batch.read(ref.sha256), (content) => batch.put(content));
      }
      puts.delete(i);
      staged.push({ ...ref, parsed, write: toWrite(orgId, cabinetId, item, ref.sha256, ref.size, parsed, archivedAt) });
    }
    await batch.commit();
    const outcomes = await store.documents.insertMany(staged.map((s) => s.write));
    return outcomes.map((o, i) => {
      const s = staged[i]!;
      return o.inserted
        ? { id: o.id, duplicate: false, contentDiffers: o.contentDiffers, sha256: s.sha256, size: s.size, parsed: s.parsed }
        : { id: o.existingId, duplicate: true, contentDiffers: false, sha256: s.sha256, size: s.size, parsed: s.parsed };
    });
  } catch (err) {
    // Let writes still in flight finish, so that abort() removes every file they made.
    await Promise.allSettled(puts.values());
    await batch.abort();
    throw err;
  }
}
