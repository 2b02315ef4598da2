import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { AppError, isAppError, toAppError } from '../../errors/index.ts';
import { discardSpooled, type Archive, type IngestItem, type SpooledRaw } from '../../archive/index.ts';
import type { LedgerKey, Store } from '../../store/index.ts';
import type { ConnectionSettings, Cursor, MailSource, MessageRef, MessageSummary } from '../../gateways/index.ts';
import type { Logger } from '../../log/index.ts';
import type { Rule } from '../rules.ts';
import { summaryDetailFor } from './detail.ts';
import { passesFilters, serverCriteria } from './filters.ts';
import { acquireLease } from './lease.ts';
import { mapFields } from './mapping.ts';
import { BatchInFlight } from './pipeline.ts';

export type OpenSource = (settings: ConnectionSettings) => Promise<MailSource>;

export interface SyncSummary {
  rule: string;
  fetched: number;
  archived: number;
  duplicates: number;
  failed: number;
  skipped: number;
  seconds: number;
  /** Folders another process was syncing at the time (their lease was held). */
  busy: string[];
}

export interface SyncProgress {
  folder: string;
  seen: number;
  fetched: number;
  bytes: number;
}

export interface SyncDeps {
  store: Store;
  archive: Archive;
  log: Logger;
  openSource: OpenSource;
  settingsFor(rule: Rule): Promise<{ settings: ConnectionSettings; accountName: string; accountId: string }>;
}

/** A failed message is retried on this many runs in all, then left in the ledger for a person. */
export const MAX_ATTEMPTS = 5;
/**
 * Messages up to this size are read into memory; larger ones are spooled to a temp file. Both
 * go in batches. The blob store's bound for packed blobs too: a buffered message is held whole
 * by the read-ahead and the batch and copied whole on its way to the parse worker, a spooled one
 * streams through in windows; at 4 MiB the sync's peak RSS was 20-40 MB higher and no faster
 * (docs/benchmarks.md, "Sixth round").
 */
const BUFFER_LIMIT = 1024 * 1024;
/**
 * Messages per batch. 100 rather than 50: half the commits, fsyncs and full-text segment
 * flushes, a sync of 5,000 messages 0.3 s faster at the same peak RSS; 200 was no faster and
 * held 10 MB more (docs/benchmarks.md, "Seventh round").
 */
export const BATCH_COUNT = 100;
/** Bytes of buffered messages per batch (memory); spooled ones count only in BATCH_SPOOLED. */
const BATCH_BYTES = 16 * 1024 * 1024;
/** Spooled messages per batch: bounds the temp-file bytes of a batch (and of the one in flight). */
const BATCH_SPOOLED = 8;
const RECONNECTS = 5;

async function toBuffer(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  // A read-ahead message arrives as one chunk: concat would copy it for nothing.
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

function isTransient(err: unknown): boolean {
  if (!isAppError(err)) return false;
  // An explicit verdict wins: a lost lease is MAIL_CONNECTION_LOST but must not be retried.
  const verdict = err.details?.['transient'];
  if (typeof verdict === 'boolean') return verdict;
  return err.code === 'MAIL_CONNECTION_LOST' || err.code === 'MAIL_TIMEOUT' || err.code === 'MAIL_HOST_UNREACHABLE';
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A fetched message waiting for its batch. A spooled one is the engine's to end (spool.ts)
 * until its batch is handed to the pipeline; from then on the archive ends it.
 */
interface Pending {
  summary: MessageSummary;
  raw: Buffer | SpooledRaw;
  size: number;
}

/** Messages archived together; `items` is the very array archive.prefetch and archive.ingest get. */
interface Batch {
  pending: Pending[];
  items: IngestItem[];
}

function toBatch(rule: Rule, folder: string, accountName: string, pending: Pending[]): Batch {
  const items = pending.map((p) => ({
    raw: p.raw,
    source: `imap:${accountName}/${folder}#${p.summary.ref.epoch}:${p.summary.ref.key}`,
    fields: mapFields(rule.mapping, p.summary, { folder, account: accountName }),
  }));
  return { pending, items };
}

/**
 * One pass of a rule (design §3, receive path): per folder take the lease, list changes since
 * the cursor, filter, fetch each raw message (into memory, or spooled to a temp file when large)
 * and archive it in a batch with archive.ingest (blobs, then one transaction), record it in the
 * ledger, then apply the mailbox action, and only then advance the cursor.
 * Every step is idempotent, so a run killed anywhere is repaired by the next one: a message
 * archived but not yet in the ledger comes back as a duplicate of itself, never twice.
 */
export async function runRuleOnce(deps: SyncDeps, rule: Rule, onProgress?: (p: SyncProgress) => void): Promise<SyncSummary> {
  const started = Date.now();
  const summary: SyncSummary = { rule: rule.name, fetched: 0, archived: 0, duplicates: 0, failed: 0, skipped: 0, seconds: 0, busy: [] };
  const { settings, accountName, accountId } = await deps.settingsFor(rule);
  const runId = randomUUID();
  await deps.store.sync.runStart({
    id: runId, rule_id: rule.id, org_id: rule.orgId, trigger: 'run', started_at: new Date().toISOString(), finished_at: null,
    fetched: 0, archived: 0, duplicates: 0, failed: 0, skipped: 0, error: null,
  });
  let source: MailSource | null = null;
  let runError: AppError | null = null;
  try {
    source = await deps.openSource(settings);
    const folders = await resolveFolders(source, rule);
    for (const folder of folders) {
      const lease = await acquireLease(deps.store, `account:${accountId}:folder:${folder}`);
      if (!lease) {
        summary.busy.push(folder);
        continue;
      }
      try {
        for (let attempt = 0; ; attempt++) {
          try {
            await syncFolder(deps, source, rule, folder, accountName, summary, onProgress, () => lease.lost);
            break;
          } catch (err) {
            if (!isTransient(err) || attempt >= RECONNECTS) throw err;
            // Dropped connection: reconnect with back-off and go over the folder again; the
            // ledger makes the messages already done cost nothing.
            deps.log.warn({ rule: rule.name, folder, attempt, code: (err as AppError).code }, 'connection lost during sync; reconnecting');
            await source.close().catch(() => undefined);
            await sleep(Math.min(1000 * 2 ** attempt, 30_000));
            source = await deps.openSource(settings);
          }
        }
      } finally {
        await lease.release();
      }
    }
  } catch (err) {
    runError = toAppError(err);
    throw runError;
  } finally {
    await source?.close().catch(() => undefined);
    summary.seconds = Math.round((Date.now() - started) / 10) / 100;
    await deps.store.sync.runFinish(runId, {
      finished_at: new Date().toISOString(), fetched: summary.fetched, archived: summary.archived, duplicates: summary.duplicates,
      failed: summary.failed, skipped: summary.skipped, error: runError ? `${runError.code}: ${runError.message}` : null,
    });
  }
  return summary;
}

async function resolveFolders(source: MailSource, rule: Rule): Promise<string[]> {
  const all = await source.listFolders();
  const out: string[] = [];
  for (const wanted of rule.folders) {
    const f = all.find((x) => x.path === wanted || x.displayPath === wanted);
    if (!f) {
      throw new AppError('MAIL_FOLDER_NOT_FOUND', `The folder "${wanted}" of rule "${rule.name}" does not exist in the mailbox; list the folders with: mailroom mailbox ls <account>`);
    }
    if (f.selectable) out.push(f.path);
    if (rule.includeSubfolders) {
      for (const sub of all) {
        if (sub.selectable && sub.path !== f.path && sub.path.startsWith(f.path + f.delimiter)) out.push(sub.path);
      }
    }
  }
  return [...new Set(out)];
}

async function syncFolder(
  deps: SyncDeps,
  source: MailSource,
  rule: Rule,
  folder: string,
  accountName: string,
  summary: SyncSummary,
  onProgress: ((p: SyncProgress) => void) | undefined,
  leaseLost: () => boolean,
): Promise<void> {
  const { store, archive } = deps;
  const stored = await store.sync.cursorGet(rule.id, folder);
  const cursor = stored ? (JSON.parse(stored) as Cursor) : null;
  const criteria = serverCriteria(rule.filters);
  const allowed = criteria ? await source.search(folder, criteria) : null;
  const now = new Date();
  const progress: SyncProgress = { folder, seen: 0, fetched: 0, bytes: 0 };
  let batch: Pending[] = [];
  let batchBytes = 0;
  let batchSpooled = 0;
  let epoch: string | null = null;
  let newCursor: Cursor | null = null;
  // Failures of this pass are retried on the next run, not again by retryPending below.
  const triedNow = new Set<string>();

  // Fetching the next batch overlaps the archiving of the previous one (pipeline.ts).
  const inFlight = new BatchInFlight(
    (items) => archive.prefetch(items),
    (err) => {
      const e = toAppError(err);
      deps.log.warn({ rule: rule.name, folder, code: e.code, reason: e.message }, 'a batch in flight failed too; the next pass repeats what it did not finish');
    },
  );
  const flush = async () => {
    if (batch.length === 0) return;
    const next = toBatch(rule, folder, accountName, batch);
    await inFlight.hand(next.items, () => archiveAndAct(deps, source, rule, folder, next, summary));
    // Handed over: the archive now ends the batch's spooled messages (ingest, or prefetch's
    // cancel). Should hand() throw instead, they are still in `batch` for the finally below
    // (discarding one twice is harmless).
    batch = [];
    batchBytes = 0;
    batchSpooled = 0;
  };

  let candidates: MessageSummary[] = [];
  const handleCandidates = async () => {
    if (candidates.length === 0) return;
    const list = candidates;
    candidates = [];
    const ledger = new Map((await store.sync.ledgerMany(rule.id, folder, list[0]!.ref.epoch, list.map((m) => m.ref.key))).map((r) => [r.msg_key, r]));
    const toAct: MessageRef[] = [];
    for (const m of list) {
      if (leaseLost()) throw new AppError('MAIL_CONNECTION_LOST', `The sync lease for folder "${folder}" was lost; another run took over.`, { details: { transient: false } });
      const row = ledger.get(m.ref.key);
      if (row && row.status !== 'failed') {
        if (row.action_done === 0) toAct.push(m.ref);
        continue;
      }
      if (row && row.attempts >= MAX_ATTEMPTS) continue;
      if (!passesFilters(rule.filters, m, now) || (allowed && !allowed.has(m.ref.key))) {
        summary.skipped++;
        continue;
      }
      triedNow.add(m.ref.key);
      let raw: Buffer | SpooledRaw;
      try {
        // The stream holds the connection until it is consumed, and the batch in flight may be
        // waiting for the connection to apply its mailbox action. Both reading into memory and
        // spooling consume it at once without waiting for anything of that batch, so there is
        // no deadlock: its action runs as soon as this message is read.
        const stream = await source.fetchRaw(m.ref);
        raw = m.size <= BUFFER_LIMIT ? await toBuffer(stream) : await archive.spool(stream);
      } catch (err) {
        if (isTransient(err)) throw err;
        await recordFailure(deps, source, rule, m, toAppError(err));
        summary.failed++;
        continue;
      }
      summary.fetched++;
      progress.fetched++;
      progress.bytes += m.size;
      if (Buffer.isBuffer(raw)) {
        batch.push({ summary: m, raw, size: raw.length });
        batchBytes += raw.length;
      } else {
        batch.push({ summary: m, raw, size: raw.size });
        batchSpooled++;
      }
      if (batch.length >= BATCH_COUNT || batchBytes >= BATCH_BYTES || batchSpooled >= BATCH_SPOOLED) await flush();
      onProgress?.(progress);
    }
    await flush();
    if (toAct.length > 0) {
      await inFlight.settle();
      await applyAction(deps, source, rule, folder, toAct);
    }
  };

  try {
    for await (const change of source.changes(folder, cursor, summaryDetailFor(rule.filters, rule.mapping))) {
      if (change.type === 'reset') {
        deps.log.warn({ rule: rule.name, folder, reason: change.reason }, 'mailbox ids were invalidated; rescanning the folder (nothing is archived twice)');
        continue;
      }
      if (change.type === 'cursor') {
        newCursor = change.cursor;
        continue;
      }
      if (change.type !== 'new') continue;
      progress.seen++;
      epoch = change.message.ref.epoch;
      candidates.push(change.message);
      if (candidates.length >= BATCH_COUNT) await handleCandidates();
    }
    await handleCandidates();
    // The retries below read the ledger, and the cursor may move only once all is done.
    await inFlight.settle();
  } catch (err) {
    // The caller may reconnect and start over: the last batch must not still be running.
    await inFlight.drain();
    throw err;
  } finally {
    // Spooled messages of a batch never handed over (a pass that failed while filling it): the
    // next pass fetches them again. Empty when the pass got to its end.
    await discardSpooled(batch.map((p) => p.raw));
  }

  // Messages that failed on an earlier run, or whose mailbox action did not happen, of this epoch.
  const currentEpoch = epoch ?? (newCursor?.kind === 'imap' ? String(newCursor.uidValidity) : null);
  if (currentEpoch !== null) await retryPending(deps, source, rule, folder, currentEpoch, accountName, summary, triedNow);

  if (newCursor) await store.sync.cursorSet(rule.id, folder, JSON.stringify(newCursor), new Date().toISOString());
  onProgress?.(progress);
}

async function retryPending(
  deps: SyncDeps,
  source: MailSource,
  rule: Rule,
  folder: string,
  epoch: string,
  accountName: string,
  summary: SyncSummary,
  triedNow: ReadonlySet<string>,
): Promise<void> {
  const pending = await deps.store.sync.ledgerPending(rule.id, folder, epoch, MAX_ATTEMPTS);
  const toRetry = pending.filter((row) => row.status === 'failed' && !triedNow.has(row.msg_key)).map((row): MessageRef => ({ folder, epoch, key: row.msg_key }));
  // What the mapping needs (from, to, date, ...) is in the summaries, as on the first try.
  const summaries = new Map((await source.summaries(folder, toRetry)).map((m) => [m.ref.key, m]));
  const toAct: MessageRef[] = [];
  for (const row of pending) {
    const ref: MessageRef = { folder, epoch, key: row.msg_key };
    if (row.status !== 'failed') {
      toAct.push(ref);
      continue;
    }
    if (triedNow.has(row.msg_key)) continue; // failed moments ago in this pass: once per run
    // Spooled whatever its size: the ledger does not know it, and a retry is rare enough that
    // the temp file costs nothing worth saving, while a large message is never held in memory.
    let raw: SpooledRaw;
    try {
      raw = await deps.archive.spool(await source.fetchRaw(ref));
    } catch (err) {
      if (isTransient(err)) throw err;
      const e = toAppError(err);
      await deps.store.sync.ledgerRecord({ ruleId: rule.id, folder, epoch, key: row.msg_key }, {
        orgId: rule.orgId, status: 'failed', documentId: null, reason: `${e.code}: ${e.message}`, subject: row.subject, now: new Date().toISOString(),
      });
      summary.failed++;
      continue;
    }
    summary.fetched++;
    // Gone from the summaries but fetched all the same (expunged in between): what the ledger knows.
    const known = summaries.get(row.msg_key) ?? {
      ref, detail: { envelope: false, structure: false }, size: raw.size, seen: false, flagged: false, receivedAt: null, date: null, subject: row.subject, from: null, to: [], messageId: null, hasAttachments: false,
    };
    // archive.ingest ends the spooled message (commits or discards it), whatever happens.
    await archiveAndAct(deps, source, rule, folder, toBatch(rule, folder, accountName, [{ summary: known, raw, size: raw.size }]), summary);
  }
  if (toAct.length > 0) await applyAction(deps, source, rule, folder, toAct);
}

type LedgerEntry = Parameters<Store['sync']['ledgerRecord']>;

function failureEntry(deps: SyncDeps, rule: Rule, m: MessageSummary, err: AppError, subject: string): LedgerEntry {
  deps.log.warn({ rule: rule.name, folder: m.ref.folder, key: m.ref.key, code: err.code }, 'message could not be archived; it will be retried on the next run');
  return [
    { ruleId: rule.id, folder: m.ref.folder, epoch: m.ref.epoch, key: m.ref.key },
    { orgId: rule.orgId, status: 'failed', documentId: null, reason: `${err.code}: ${err.message}`, subject, now: new Date().toISOString() },
  ];
}

/**
 * The subjects of failed messages for their ledger rows, so that `ledger --failed` says which
 * mail it was. A summary listed without its envelope (the rule reads none) has no subject: the
 * failed ones, rare as they are, are asked for theirs. Should that fail as well, the row goes
 * with what the summary has; the failure itself is what must be recorded.
 */
async function subjectsOf(deps: SyncDeps, source: MailSource, folder: string, failed: readonly MessageSummary[]): Promise<Map<string, string>> {
  const out = new Map(failed.map((m) => [m.ref.key, m.subject]));
  const bare = failed.filter((m) => !m.detail.envelope);
  if (bare.length === 0) return out;
  try {
    for (const full of await source.summaries(folder, bare.map((m) => m.ref))) out.set(full.ref.key, full.subject);
  } catch (err) {
    deps.log.warn({ folder, code: toAppError(err).code }, 'the subjects of failed messages could not be read; their ledger rows go without');
  }
  return out;
}

async function recordFailure(deps: SyncDeps, source: MailSource, rule: Rule, m: MessageSummary, err: AppError): Promise<void> {
  const subjects = await subjectsOf(deps, source, m.ref.folder, [m]);
  await deps.store.sync.ledgerRecord(...failureEntry(deps, rule, m, err, subjects.get(m.ref.key) ?? ''));
}

/** The ledger rows of one archived batch in one commit, not one commit (and fsync) per message. */
async function recordBatch(store: Store, entries: LedgerEntry[]): Promise<void> {
  await store.sync.ledgerRecordMany(entries);
}

async function archiveAndAct(deps: SyncDeps, source: MailSource, rule: Rule, folder: string, batch: Batch, summary: SyncSummary): Promise<void> {
  const items = batch.pending;
  const outcomes = await deps.archive.ingest(rule.orgId, rule.cabinetId, batch.items);
  const done: MessageRef[] = [];
  const entries: LedgerEntry[] = [];
  const now = new Date().toISOString();
  const failed = outcomes.flatMap((o, i) => (o.ok ? [] : [items[i]!.summary]));
  const subjects = failed.length > 0 ? await subjectsOf(deps, source, folder, failed) : new Map<string, string>();
  for (const [i, o] of outcomes.entries()) {
    const p = items[i]!;
    const key: LedgerKey = { ruleId: rule.id, folder, epoch: p.summary.ref.epoch, key: p.summary.ref.key };
    if (!o.ok) {
      entries.push(failureEntry(deps, rule, p.summary, o.error, subjects.get(p.summary.ref.key) ?? ''));
      summary.failed++;
      continue;
    }
    if (o.duplicate) summary.duplicates++;
    else summary.archived++;
    entries.push([key, {
      orgId: rule.orgId, status: o.duplicate ? 'duplicate' : 'archived', documentId: o.id, reason: null, subject: o.parsed.subject, now,
    }]);
    done.push(p.summary.ref);
  }
  await recordBatch(deps.store, entries);
  // Only now, with documents and ledger committed, may the mailbox change (design §2.1).
  if (done.length > 0) await applyAction(deps, source, rule, folder, done);
}

async function applyAction(deps: SyncDeps, source: MailSource, rule: Rule, folder: string, refs: MessageRef[]): Promise<void> {
  const byEpoch = new Map<string, MessageRef[]>();
  for (const r of refs) byEpoch.set(r.epoch, [...(byEpoch.get(r.epoch) ?? []), r]);
  for (const [epoch, list] of byEpoch) {
    if (rule.action.type !== 'none') await source.apply(list, rule.action);
    await deps.store.sync.ledgerActionDone(rule.id, folder, epoch, list.map((r) => r.key), new Date().toISOString());
  }
}
