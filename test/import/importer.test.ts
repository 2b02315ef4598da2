import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { openApp, type App } from '../../src/app.ts';
import type { IngestItem, IngestOutcome } from '../../src/archive/index.ts';
import { loadConfig } from '../../src/config/index.ts';
import { AppError } from '../../src/errors/index.ts';
import { createLogger } from '../../src/log/index.ts';
import {
  addToSummary,
  emptySummary,
  importMessages,
  readMbox,
  type ImportProgress,
  type ImportResult,
  type IngestPort,
  type SourceEntry,
} from '../../src/archive/import/index.ts';

function message(n: number, extra = ''): Buffer {
  return Buffer.from(`From: S <s${n}@example.test>\r\nTo: r@example.test\r\nSubject: m${n}\r\nMessage-ID: <m${n}@example.test>\r\n\r\nbody ${n}${extra}\r\n`);
}

async function* entries(list: SourceEntry[]): AsyncGenerator<SourceEntry> {
  let consumed = 0;
  for (const e of list) {
    consumed += 'size' in e ? e.size : 0;
    yield { ...e, sourceBytes: consumed };
  }
}

function entry(n: number, raw: Buffer | Readable = message(n), size = Buffer.isBuffer(raw) ? raw.length : 0): SourceEntry {
  return { file: `/in/f${n}`, raw, size, sourceBytes: 0 };
}

/** An archive that records each ingest call and answers from a function of the item. */
function fakeArchive(answer: (item: IngestItem, index: number) => IngestOutcome = () => okOutcome()): IngestPort & { calls: IngestItem[][] } {
  const calls: IngestItem[][] = [];
  let seen = 0;
  return {
    calls,
    async ingest(_org, _cab, items) {
      calls.push(items);
      for (const i of items) if (i.raw instanceof Readable) for await (const _ of i.raw) void _;
      await new Promise((r) => setTimeout(r, 1));
      return items.map((item) => answer(item, seen++));
    },
  };
}

function okOutcome(id = 'id'): IngestOutcome {
  return {
    ok: true,
    id,
    duplicate: false,
    contentDiffers: false,
    sha256: 'x',
    size: 1,
    parsed: { messageId: null, subject: '', from: null, to: [], cc: [], date: null, inReplyTo: null, references: [], attachments: [], warnings: [] },
  };
}

async function run(archive: IngestPort, list: SourceEntry[], options: Partial<Parameters<typeof importMessages>[2]> = {}): Promise<ImportResult[]> {
  const out: ImportResult[] = [];
  for await (const r of importMessages(archive, entries(list), { orgId: 'o', cabinetId: 'c', ...options })) out.push(r);
  return out;
}

describe('importMessages (batching)', () => {
  test('groups messages into batches bounded by count and bytes, results in source order', async () => {
    const archive = fakeArchive((item) => okOutcome(item.source));
    const list = Array.from({ length: 23 }, (_, i) => entry(i));
    const results = await run(archive, list, { batchMessages: 5 });
    assert.deepEqual(archive.calls.map((c) => c.length), [5, 5, 5, 5, 3]);
    assert.deepEqual(results.map((r) => r.file), list.map((e) => e.file));
    assert.deepEqual(results.map((r) => (r.ok ? r.id : null)), list.map((e) => `import:${e.file}`));

    const bySize = fakeArchive();
    const big = Array.from({ length: 6 }, (_, i) => entry(i, Buffer.alloc(400, 97)));
    await run(bySize, big, { batchBytes: 1000 });
    assert.deepEqual(bySize.calls.map((c) => c.length), [2, 2, 2]);
  });

  test('a streamed message is ingested alone; source failures keep their place', async () => {
    const archive = fakeArchive();
    const failure: SourceEntry = { file: 'broken', error: new AppError('IMPORT_SOURCE_INVALID', 'cannot read broken'), sourceBytes: 0 };
    const list = [entry(1), entry(2), entry(3, Readable.from([message(3)]), 10), entry(4), failure, entry(5)];
    const results = await run(archive, list, { batchMessages: 10 });
    assert.deepEqual(archive.calls.map((c) => c.map((i) => i.source)), [['import:/in/f1', 'import:/in/f2'], ['import:/in/f3'], ['import:/in/f4'], ['import:/in/f5']]);
    assert.deepEqual(results.map((r) => [r.file, r.ok]), [['/in/f1', true], ['/in/f2', true], ['/in/f3', true], ['/in/f4', true], ['broken', false], ['/in/f5', true]]);
    const failed = results[4]!;
    assert.ok(!failed.ok && failed.error.code === 'IMPORT_SOURCE_INVALID');
  });

  test('per-message failures and a failing ingest call become failed results; the run goes on', async () => {
    let call = 0;
    const archive: IngestPort = {
      async ingest(_o, _c, items) {
        call++;
        if (call === 2) throw new Error('database went away');
        return items.map((item) => (item.source.endsWith('f1') ? { ok: false as const, error: new AppError('MESSAGE_UNREADABLE', 'bad one') } : okOutcome()));
      },
    };
    const results = await run(archive, Array.from({ length: 6 }, (_, i) => entry(i)), { batchMessages: 2 });
    assert.deepEqual(results.map((r) => (r.ok ? 'ok' : r.error.code)), ['ok', 'MESSAGE_UNREADABLE', 'INTERNAL', 'INTERNAL', 'ok', 'ok']);
    const summary = emptySummary();
    for (const r of results) addToSummary(summary, r);
    assert.deepEqual({ ...summary, bytes: 0 }, { messages: 6, imported: 3, duplicates: 0, contentDiffers: 0, failed: 3, bytes: 0 });
  });

  test('reports progress after each batch and keeps at most `concurrency` ingests running', async () => {
    let running = 0;
    let most = 0;
    const archive: IngestPort = {
      async ingest(_o, _c, items) {
        running++;
        most = Math.max(most, running);
        await new Promise((r) => setTimeout(r, 5));
        running--;
        return items.map(() => okOutcome());
      },
    };
    const progress: ImportProgress[] = [];
    const list = Array.from({ length: 12 }, (_, i) => entry(i));
    await run(archive, list, { batchMessages: 3, concurrency: 2, onProgress: (p) => progress.push(p) });
    assert.equal(most, 2);
    assert.deepEqual(progress.map((p) => p.messages), [3, 6, 9, 12]);
    const total = list.reduce((a, e) => a + ('size' in e ? e.size : 0), 0);
    assert.equal(progress.at(-1)!.sourceBytes, total);
    most = 0;
    await run(archive, list, { batchMessages: 3 });
    assert.equal(most, 1, 'one ingest at a time by default');
  });
});

describe('importMessages into a real archive (SQLite)', () => {
  const dirs: string[] = [];
  const apps: App[] = [];
  after(async () => {
    await Promise.all(apps.map((a) => a.close()));
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  test('archives an mbox; a second import reports every message as a duplicate with the same id', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mr-importer-'));
    dirs.push(dir);
    const app = await openApp(loadConfig({ MAILROOM_DATA: join(dir, 'data') }), createLogger('silent'));
    apps.push(app);
    const org = await app.orgs.ensureOrg('default');
    const cabinet = await app.archive.ensureCabinet(org.id, 'Mail');
    const mbox = join(dir, 'in.mbox');
    const texts = [1, 2, 3, 4, 5].map((n) => message(n).toString('latin1').replace(/\r\n/g, '\n'));
    // Message 5 reuses message 1's Message-ID with other content: archived, and flagged.
    texts[4] = texts[4]!.replace('<m5@example.test>', '<m1@example.test>');
    await writeFile(mbox, texts.map((t, i) => `From x@example.test Mon Jan  1 00:00:0${i} 2024\n${t}\n`).join(''));

    const first: ImportResult[] = [];
    for await (const r of importMessages(app.archive, readMbox(mbox), { orgId: org.id, cabinetId: cabinet.id, batchMessages: 2 })) first.push(r);
    assert.deepEqual(first.map((r) => r.file), [1, 2, 3, 4, 5].map((n) => `${mbox}#${n}`));
    assert.ok(first.every((r) => r.ok && !r.duplicate));
    const last = first[4]!;
    assert.ok(last.ok && last.contentDiffers && last.parsed.messageId === 'm1@example.test');
    assert.equal(await app.archive.countDocuments(org.id, cabinet.id), 5);
    const doc = await app.archive.getDocument(org.id, first[0]!.ok ? first[0]!.id : '');
    assert.equal(doc.source, `import:${mbox}#1`);
    assert.equal(doc.subject, 'm1');

    const second: ImportResult[] = [];
    for await (const r of importMessages(app.archive, readMbox(mbox), { orgId: org.id, cabinetId: cabinet.id })) second.push(r);
    assert.ok(second.every((r) => r.ok && r.duplicate));
    assert.deepEqual(second.map((r) => (r.ok ? r.id : '')), first.map((r) => (r.ok ? r.id : '')));
    assert.equal(await app.archive.countDocuments(org.id, cabinet.id), 5);
  });
});
