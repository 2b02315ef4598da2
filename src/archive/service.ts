import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { AppError, toAppError } from '../errors/index.ts';
import type { BlobStore, Store } from '../store/index.ts';
import { digestParts, extractPart } from './extract.ts';
import { ingestBatch, isStream, stageBatch, type IngestItem, type IngestResult, type StagedBatch } from './ingest.ts';
import { parsePool } from './parse-pool.ts';
import { queryTerms } from './search/terms.ts';
import { discardSpooled, spool, SpooledRaw } from './spool.ts';
import { documentView, type DocumentView } from './views.ts';

export interface CabinetView {
  id: string;
  name: string;
  createdAt: string;
  documentCount?: number;
}

export type IngestOutcome = ({ ok: true } & IngestResult) | { ok: false; error: AppError };

export interface SearchInput {
  q?: string | undefined;
  cabinetId?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
  dateFrom?: string | undefined;
  dateTo?: string | undefined;
  hasAttachment?: boolean | undefined;
  limit?: number | undefined;
  offset?: number | undefined;
}

export interface VerifyResult {
  id: string;
  ok: boolean;
  problems: string[];
}

const CABINET_NAME = /^[^\u0000-\u001f/\\]{1,100}$/u;

/**
 * Batches from this size on are parsed in the worker thread (parse-pool.ts). A lone message
 * (an upload) is parsed in-process: it would only wait for the worker's start. A batch with a
 * spooled message goes to the worker whatever its size: that parse is long, and the sync
 * engine's worker is running anyway.
 */
const WORKER_MIN_BATCH = 2;

/** Cabinets, archiving, retrieval, search and verification: everything behind one door. */
export function createArchive(store: Store, blobs: BlobStore) {
  async function cabinetByName(orgId: string, name: string): Promise<CabinetView> {
    const c = await store.cabinets.byName(orgId, name);
    if (!c) throw new AppError('CABINET_NOT_FOUND', `No file cabinet named "${name}"; create it with: mailroom cabinets add "${name}"`);
    return { id: c.id, name: c.name, createdAt: c.created_at };
  }

  async function createCabinet(orgId: string, name: string): Promise<CabinetView> {
    const trimmed = name.trim();
    if (!CABINET_NAME.test(trimmed)) {
      throw new AppError('VALIDATION_FAILED', `"${name}" is not a valid cabinet name: use 1-100 characters without slashes or control characters.`);
    }
    if (await store.cabinets.byName(orgId, trimmed)) throw new AppError('CABINET_EXISTS', `A file cabinet named "${trimmed}" already exists.`);
    const row = { id: randomUUID(), org_id: orgId, name: trimmed, created_at: new Date().toISOString() };
    await store.cabinets.insert(row);
    return { id: row.id, name: row.name, createdAt: row.created_at };
  }

  async function getDocumentRow(orgId: string, id: string) {
    const d = await store.documents.byId(orgId, id);
    if (!d) throw new AppError('DOCUMENT_NOT_FOUND', `No document with id ${id} in this organisation.`);
    return d;
  }

  /**
   * Batches handed to prefetch() and not yet taken by ingest(), keyed by the items array that
   * ingest() will get; null when nothing was staged (still, their spooled messages are ours).
   */
  const prefetched = new WeakMap<IngestItem[], StagedBatch | null>();

  /** Stages a batch when a worker thread can parse it; else ingest() does everything in-process. */
  function stage(items: IngestItem[]): StagedBatch | undefined {
    if (items.length < WORKER_MIN_BATCH && !items.some((i) => i.raw instanceof SpooledRaw)) return undefined;
    const pool = parsePool();
    if (pool === null) return undefined;
    return stageBatch(blobs, items, (raw) => (Buffer.isBuffer(raw) ? pool.prepare(raw) : pool.prepareFile(raw.file)));
  }

  async function ingestWithFallback(orgId: string, cabinetId: string, items: IngestItem[], staged: StagedBatch | undefined): Promise<IngestOutcome[]> {
    try {
      return (await ingestBatch(store, blobs, orgId, cabinetId, items, { staged })).map((r) => ({ ok: true as const, ...r }));
    } catch (err) {
      if (items.length === 1) return [{ ok: false, error: toAppError(err) }];
      // A consumed stream cannot be replayed; the caller sends those one at a time. A spooled
      // message can: its temp file (or, if the batch got that far, its committed blob) is still there.
      if (items.some((i) => isStream(i.raw))) throw err;
      const out: IngestOutcome[] = [];
      for (const item of items) {
        try {
          const [r] = await ingestBatch(store, blobs, orgId, cabinetId, [item]);
          out.push({ ok: true, ...r! });
        } catch (e) {
          out.push({ ok: false, error: toAppError(e) });
        }
      }
      return out;
    }
  }

  return {
    createCabinet,
    cabinetByName,

    /**
     * Consumes a large message's stream at once into a temp file of the blob store (hashed,
     * fdatasynced) and returns a handle to pass in the items of ingest() or prefetch(). The
     * caller owns it until then and must discard() it if it never passes it on (spool.ts).
     */
    spool(stream: Readable): Promise<SpooledRaw> {
      return spool(blobs, stream);
    },

    /**
     * Starts work on the batch that the next ingest() call will get with this same `items`
     * array: its raw messages go to the blob store and are parsed in the worker thread while
     * the previous batch is being committed. Returns how to give up on it instead (removing its
     * temp files and its spooled messages) when ingest() will not be called after all.
     * Optional: ingest() does whatever was not prefetched.
     */
    prefetch(items: IngestItem[]): () => Promise<void> {
      if (!prefetched.has(items)) prefetched.set(items, stage(items) ?? null);
      return async () => {
        if (!prefetched.has(items)) return; // taken by ingest(), which ends its spooled messages
        const staged = prefetched.get(items);
        prefetched.delete(items);
        // The staged parses read the spooled files: they are done before the files go.
        await staged?.cancel();
        await discardSpooled(items.map((i) => i.raw));
      };
    },

    async ensureCabinet(orgId: string, name: string): Promise<CabinetView> {
      const c = await store.cabinets.byName(orgId, name.trim());
      return c ? { id: c.id, name: c.name, createdAt: c.created_at } : createCabinet(orgId, name);
    },

    async cabinetById(orgId: string, id: string): Promise<CabinetView> {
      const c = await store.cabinets.byId(orgId, id);
      if (!c) throw new AppError('CABINET_NOT_FOUND', `No file cabinet with id ${id} in this organisation.`);
      return { id: c.id, name: c.name, createdAt: c.created_at };
    },

    async listCabinets(orgId: string): Promise<CabinetView[]> {
      return (await store.cabinets.list(orgId)).map((c) => ({ id: c.id, name: c.name, createdAt: c.created_at, documentCount: c.document_count }));
    },

    /**
     * Archives a batch in one transaction. If the batch fails, each message is retried alone so
     * one bad message costs only itself (design §2.3), and its error is returned in its place.
     * Spooled messages among the items are ended here, whatever happens: committed with their
     * documents, else discarded once no retry needs them.
     */
    async ingest(orgId: string, cabinetId: string, items: IngestItem[]): Promise<IngestOutcome[]> {
      let staged = prefetched.get(items) ?? undefined;
      prefetched.delete(items);
      try {
        // The cabinet must be the organisation's own: nothing else stops a document of one
        // tenant from being filed into another tenant's cabinet (design §2.6).
        if (!(await store.cabinets.byId(orgId, cabinetId))) {
          const error = new AppError('CABINET_NOT_FOUND', `No file cabinet with id ${cabinetId} in this organisation.`);
          return items.map(() => ({ ok: false as const, error }));
        }
        staged ??= stage(items);
        return await ingestWithFallback(orgId, cabinetId, items, staged);
      } finally {
        // Whatever happened, nothing is left behind: the staged work is waited for and its temp
        // files removed (nothing to remove once ingestBatch has committed or aborted it), then
        // the spooled messages that were not committed go, after the parses reading them.
        await staged?.cancel();
        await discardSpooled(items.map((i) => i.raw));
      }
    },

    async getDocument(orgId: string, id: string): Promise<DocumentView> {
      const d = await getDocumentRow(orgId, id);
      return documentView(d, await store.documents.attachments(d.id));
    },

    async *listDocuments(orgId: string, cabinetId?: string): AsyncGenerator<DocumentView> {
      for await (const d of store.documents.iterate(orgId, cabinetId)) yield documentView(d);
    },

    async countDocuments(orgId: string, cabinetId?: string): Promise<number> {
      return store.documents.count(orgId, cabinetId);
    },

    async openRaw(orgId: string, id: string): Promise<{ stream: Readable; size: number; document: DocumentView }> {
      const d = await getDocumentRow(orgId, id);
      return { stream: blobs.get(d.sha256), size: Number(d.size), document: documentView(d) };
    },

    async openAttachment(orgId: string, id: string, index: number): Promise<{ stream: Readable; filename: string; contentType: string; size: number }> {
      const d = await getDocumentRow(orgId, id);
      const att = (await store.documents.attachments(d.id)).find((a) => a.idx === index);
      if (!att) {
        throw new AppError('ATTACHMENT_NOT_FOUND', `Document ${id} has no attachment number ${index}; it has ${d.attachment_count} (numbered from 0).`);
      }
      return { stream: extractPart(blobs.get(d.sha256), att.part_path), filename: att.filename, contentType: att.content_type, size: Number(att.size) };
    },

    async search(orgId: string, input: SearchInput): Promise<{ total: number; documents: Array<DocumentView & { rank: number }> }> {
      const terms = queryTerms(input.q ?? '');
      if ((input.q ?? '').trim() !== '' && terms.length === 0) {
        throw new AppError('SEARCH_QUERY_EMPTY', 'The search query has no words to look for; use letters or digits.');
      }
      const page = await store.documents.search({
        orgId,
        terms,
        cabinetId: input.cabinetId,
        from: input.from,
        to: input.to,
        dateFrom: input.dateFrom,
        dateTo: input.dateTo,
        hasAttachment: input.hasAttachment,
        limit: Math.min(Math.max(input.limit ?? 50, 1), 1000),
        offset: Math.max(input.offset ?? 0, 0),
      });
      return { total: page.total, documents: page.rows.map((r) => ({ ...documentView(r), rank: Number(r.rank) })) };
    },

    /**
     * Re-reads the original and compares it with its recorded SHA-256; when it is intact,
     * decodes every attachment from it again and compares those with theirs.
     */
    async verify(orgId: string, id: string): Promise<VerifyResult> {
      const d = await getDocumentRow(orgId, id);
      const problems: string[] = [];
      const raw = await blobs.verify(d.sha256);
      if (raw.actual === null) problems.push(`original message ${d.sha256} is missing`);
      else if (!raw.ok) problems.push(`original message changed: expected sha256 ${d.sha256}, found ${raw.actual}`);
      const attachments = await store.documents.attachments(d.id);
      if (problems.length === 0 && attachments.length > 0) {
        const digests = await digestParts(blobs.get(d.sha256));
        for (const a of attachments) {
          const found = digests.get(a.part_path);
          if (found === undefined) problems.push(`attachment ${a.idx} (${a.filename}) is no longer found in the message`);
          else if (found.sha256 !== a.sha256) problems.push(`attachment ${a.idx} (${a.filename}) decodes differently: expected sha256 ${a.sha256}, found ${found.sha256}`);
        }
      }
      return { id: d.id, ok: problems.length === 0, problems };
    },
  };
}

export type Archive = ReturnType<typeof createArchive>;
