/**
 * `mailroom blobs reindex`: the pack index lost, then rebuilt from the packs by the CLI; an
 * unreadable index refused with the way out; a damaged record left behind for an intact copy,
 * and one without a copy reported as lost.
 */
import { strict as assert } from 'node:assert';
import { open, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { packRecords } from '../support/packs.ts';
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

  it('a damaged record is left for an intact copy in another pack (exit 0, a warning); without a copy the blob is reported lost (exit 1)', async () => {
    const message = sampleMessage({ messageId: 'r1@example.org', subject: 'Rechnung Nr. 1 für Köln' });
    // Archived again with the index lost: the same bytes are packed a second time, in the
    // pack of this process, and the index knows only that copy.
    await loseIndex();
    const [copyId] = await archive(data.dir, 'default', 'Kopien', [message]);
    const names = (await readdir(packs())).filter((n) => n.endsWith('.pack')).sort();
    assert.equal(names.length, 2);
    const records = await Promise.all(names.map(async (n) => packRecords(await readFile(join(packs(), n)))));
    const second = names[records.findIndex((r) => r.length === 1)]!;
    const [record] = records.find((r) => r.length === 1)!;
    const damage = async (pack: string, at: number): Promise<void> => {
      const fh = await open(join(packs(), pack), 'r+');
      try {
        const [byte] = (await fh.read(Buffer.alloc(1), 0, 1, at)).buffer;
        await fh.write(Buffer.from([byte! ^ 0x20]), 0, 1, at);
      } finally {
        await fh.close();
      }
    };
    await damage(second, record!.start + 100);
    const broken = await run(data.dir, ['doc', 'verify', copyId!]);
    assert.notEqual(broken.code, 0, 'the copy the index points at is damaged');

    const r = await run(data.dir, ['blobs', 'reindex']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`NOTE {5}${second} at byte ${record!.start - 44}: the content of ${record!.sha256} hashes to [0-9a-f]{64}; the index points at an intact copy in ${names.find((n) => n !== second)} at byte \\d+`));
    assert.match(r.out, /; 1 added to the index, 1 moved from a damaged record to an intact copy\./);
    assert.match(r.err, /warning: 1 damaged record in the pack files, each with an intact copy in another pack \(nothing is lost\)/);
    const verified = await run(data.dir, ['doc', 'verify', '--all']);
    assert.equal(verified.code, 0, verified.out + verified.err);
    assert.match(verified.out, /all intact/);

    // Now the other copy too: nothing intact is left of that message.
    const first = names.find((n) => n !== second)!;
    const firstRecord = records[names.indexOf(first)]!.find((x) => x.sha256 === record!.sha256)!;
    await damage(first, firstRecord.start + 100);
    const lost = await run(data.dir, ['blobs', 'reindex', '--json']);
    assert.equal(lost.code, 1);
    const [result] = jsonLines<{ problems: Array<{ kind: string; sha256?: string; intactCopy?: unknown }> }>(lost.out);
    assert.deepEqual(
      result?.problems.map((p) => [p.kind, p.sha256, p.intactCopy]),
      [
        ['damaged', record!.sha256, null],
        ['damaged', record!.sha256, null],
      ],
    );
    const human = await run(data.dir, ['blobs', 'reindex']);
    assert.equal(human.code, 1);
    assert.match(human.out, /PROBLEM {2}.*no pack holds an intact copy: restore this pack from a backup/);
    assert.match(human.err, /error \[BLOB_CORRUPT\]: 2 damaged records in the pack files without an intact copy/);
  });
});
