/**
 * `mailroom blobs reindex`: the pack index lost, then rebuilt from the packs by the CLI; an
 * unreadable index refused with the way out.
 */
import { strict as assert } from 'node:assert';
import { rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { archive, jsonLines, run, sampleMessage, tempDataDir } from './helpers.ts';

describe('mailroom blobs reindex', () => {
  let data: Awaited<ReturnType<typeof tempDataDir>>;
  let ids: string[] = [];
  const packs = (): string => join(data.dir, 'blobs', 'packs');
  const loseIndex = () => Promise.all(['index.sqlite', 'index.sqlite-wal', 'index.sqlite-shm'].map((f) => rm(join(packs(), f), { force: true })));

  before(async () => {
    data = await tempDataDir();
    const r = await run(data.dir, ['cabinets', 'add', 'Akten']);
    assert.equal(r.code, 0, r.err);
    ids = await archive(data.dir, 'default', 'Akten', [
      sampleMessage({ messageId: 'r1@example.org', subject: 'Rechnung Nr. 1 für Köln' }),
      sampleMessage({ messageId: 'r2@example.org', subject: '請求書 第2号' }),
    ]);
  });
  after(async () => {
    await data.cleanup();
  });

  it('rebuilds a lost index: the originals are found again, byte for byte', async () => {
    await loseIndex();
    const lost = await run(data.dir, ['doc', 'eml', ids[0]!]);
    assert.equal(lost.code, 1);
    assert.match(lost.err, /BLOB_MISSING/);

    const r = await run(data.dir, ['blobs', 'reindex', '--json']);
    assert.equal(r.code, 0, r.err);
    const [result] = jsonLines<{ packs: number; records: number; added: number; problems: unknown[] }>(r.out);
    assert.deepEqual({ records: result?.records, added: result?.added, problems: result?.problems }, { records: 2, added: 2, problems: [] });

    const verified = await run(data.dir, ['doc', 'verify', '--all']);
    assert.equal(verified.code, 0, verified.out + verified.err);
    assert.match(verified.out, /all intact/);
    const again = await run(data.dir, ['blobs', 'reindex']);
    assert.equal(again.code, 0, again.err);
    assert.match(again.out, /Read 2 records in 1 pack; 0 added to the index\./);
  });

  it('an unreadable index is refused with the way out, and the way out works', async () => {
    const index = join(packs(), 'index.sqlite');
    await loseIndex();
    await writeFile(index, 'not a database '.repeat(500));
    const refused = await run(data.dir, ['doc', 'list']);
    assert.equal(refused.code, 1);
    assert.match(refused.err, /error \[BLOB_CORRUPT\]: The blob index .*index\.sqlite cannot be read .*Move it aside .*`mailroom blobs reindex`/);

    await rename(index, `${index}.broken`);
    const r = await run(data.dir, ['blobs', 'reindex', '--json']);
    assert.equal(r.code, 0, r.err);
    assert.equal(jsonLines<{ added: number }>(r.out)[0]?.added, 2);
    const eml = await run(data.dir, ['doc', 'eml', ids[1]!]);
    assert.equal(eml.code, 0, eml.err);
  });
});
