/**
 * Attachments are decoded from the stored original when asked for (src/archive/extract.ts):
 * every attachment of every MIME fixture comes back with the bytes, size and SHA-256 recorded
 * when it was archived (attached messages and their attachments included), verify re-checks
 * them, and a reader that goes away early costs nothing.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { createArchive, type Archive } from '../../src/archive/service.ts';
import { AppError } from '../../src/errors/index.ts';
import { FsBlobStore, openStore, type Store } from '../../src/store/index.ts';

const FIXTURES = new URL('../fixtures/mime/', import.meta.url);
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function withAttachment(name: string, content: Buffer, nestedAlso = false): Buffer {
  const b64 = content.toString('base64').replace(/.{76}/g, '$&\r\n');
  const inner = nestedAlso
    ? `--mix\r\nContent-Type: message/rfc822\r\n\r\nFrom: inner@example.test\r\nSubject: inner\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="in"\r\n\r\n--in\r\nContent-Type: text/plain\r\n\r\ninner body\r\n--in\r\nContent-Type: application/pdf; name="inner.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64}\r\n--in--\r\n\r\n`
    : '';
  return Buffer.from(
    `From: a@example.test\r\nTo: b@example.test\r\nSubject: with ${name}\r\nMessage-ID: <${randomUUID()}@example.test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="mix"\r\n\r\n` +
      `--mix\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nsee attached\r\n` +
      `--mix\r\nContent-Type: application/octet-stream; name="${name}"\r\nContent-Disposition: attachment; filename="${name}"\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64}\r\n` +
      inner +
      `--mix\r\nContent-Type: text/plain; name="after.txt"\r\nContent-Disposition: attachment; filename="after.txt"\r\n\r\nthe part after\r\n--mix--\r\n`,
  );
}

describe('attachments decoded from the stored original', () => {
  let dataDir = '';
  let store: Store;
  let blobs: FsBlobStore;
  let archive: Archive;
  let orgId = '';
  let cabinetId = '';

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'mr-extract-'));
    store = await openStore({ dataDir });
    blobs = new FsBlobStore(join(dataDir, 'blobs'));
    archive = createArchive(store, blobs);
    orgId = randomUUID();
    await store.orgs.insert({ id: orgId, name: `org-${orgId}`, created_at: new Date().toISOString() });
    cabinetId = (await archive.createCabinet(orgId, 'Extract')).id;
  });
  after(async () => {
    await store.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  async function archiveOne(raw: Buffer): Promise<string> {
    const [o] = await archive.ingest(orgId, cabinetId, [{ raw, source: 'test' }]);
    assert.ok(o?.ok, o && !o.ok ? o.error.message : 'no outcome');
    return o.id;
  }

  test('every attachment of every fixture comes back with its recorded size and SHA-256', async () => {
    const names = (await readdir(FIXTURES)).filter((n) => n.endsWith('.eml')).sort();
    let checked = 0;
    let nested = 0;
    for (const name of names) {
      const id = await archiveOne(await readFile(new URL(name, FIXTURES)));
      const doc = await archive.getDocument(orgId, id);
      for (const a of doc.attachments ?? []) {
        const got = await archive.openAttachment(orgId, id, a.index);
        const bytes = await readAll(got.stream);
        assert.equal(bytes.length, a.size, `${name}: size of attachment ${a.index}`);
        assert.equal(sha(bytes), a.sha256, `${name}: bytes of attachment ${a.index} (${a.partPath})`);
        checked++;
        if (a.partPath.includes('.')) nested++;
      }
      assert.deepEqual((await archive.verify(orgId, id)).problems, [], name);
    }
    assert.ok(checked >= 20, `only ${checked} attachments in the fixtures`);
    assert.ok(nested >= 1, 'an attachment inside an attached message is among them');
  });

  test('a large attachment, also inside an attached message, is decoded byte for byte', async () => {
    const content = randomBytes(3 * 1024 * 1024 + 17);
    const id = await archiveOne(withAttachment('big.bin', content, true));
    const doc = await archive.getDocument(orgId, id);
    const byName = new Map((doc.attachments ?? []).map((a) => [a.filename, a]));
    for (const name of ['big.bin', 'inner.pdf']) {
      const a = byName.get(name);
      assert.ok(a, `${name} listed`);
      assert.deepEqual(await readAll((await archive.openAttachment(orgId, id, a.index)).stream), content, name);
    }
    const after = byName.get('after.txt');
    assert.ok(after);
    assert.equal((await readAll((await archive.openAttachment(orgId, id, after.index)).stream)).toString(), 'the part after');
  });

  test('a reader that stops early leaves nothing behind, and the next one gets everything', async () => {
    const content = randomBytes(2 * 1024 * 1024);
    const id = await archiveOne(withAttachment('early.bin', content));
    const first = await archive.openAttachment(orgId, id, 0);
    await new Promise<void>((resolve) => {
      first.stream.once('data', () => {
        first.stream.destroy();
        resolve();
      });
    });
    assert.deepEqual(await readAll((await archive.openAttachment(orgId, id, 0)).stream), content);
  });

  test('verify finds an attachment that no longer decodes as recorded', async () => {
    const id = await archiveOne(withAttachment('recorded.bin', randomBytes(10_000)));
    assert.equal((await archive.verify(orgId, id)).ok, true);
    // As if the recorded digest and the stored message had come apart.
    await store.db.kysely.updateTable('attachments').set({ sha256: '0'.repeat(64) }).where('document_id', '=', id).where('idx', '=', 0).execute();
    const result = await archive.verify(orgId, id);
    assert.equal(result.ok, false);
    assert.match(result.problems.join('\n'), /attachment 0 \(recorded\.bin\) decodes differently/);
  });

  test('verify finds a damaged original and a missing one', async () => {
    const content = randomBytes(64 * 1024);
    const raw = withAttachment('flip.bin', content);
    const id = await archiveOne(raw);
    const stored = blobs.locate(sha(raw))!;
    const pack = await readFile(stored.file);
    const at = stored.start + raw.indexOf('\r\n\r\n', raw.indexOf('flip.bin"\r\nContent-Transfer-Encoding')) + 200;
    pack[at] = pack[at] === 0x41 ? 0x42 : 0x41; // another base64 letter
    await writeFile(stored.file, pack);
    const result = await archive.verify(orgId, id);
    assert.equal(result.ok, false);
    assert.match(result.problems.join('\n'), /original message changed/);

    await rm(stored.file); // its pack gone (the last test of this file: nothing reads the other blobs in it again)
    const missing = await archive.verify(orgId, id);
    assert.match(missing.problems.join('\n'), /is missing/);
    await assert.rejects(
      archive.openAttachment(orgId, id, 0),
      (e: unknown) => e instanceof AppError && e.code === 'BLOB_MISSING',
    );
  });
});
