/**
 * A mailbox of 1,000 messages, 20 of them with 2-5 MB attachments: one sync archives them all,
 * every large attachment comes back byte for byte, every original keeps its SHA-256, and a
 * second sync has nothing to fetch.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { startDovecot, type DovecotPeer } from '../support/peers/dovecot.ts';
import { addRule, countDocs, deliverMaildir, docs, message, openTestApp, readAll, sha256, type TestApp } from './helpers.ts';

const TOTAL = 1000;
const LARGE = 20;
const MB = 1024 * 1024;

describe('Connect to Mail: a large mailbox', { timeout: 120_000 }, () => {
  let peer: DovecotPeer;
  let t: TestApp;
  const raws: Buffer[] = [];
  const attachments = new Map<string, Buffer>(); // Message-ID -> attachment bytes

  before(async () => {
    peer = await startDovecot();
    t = await openTestApp();
    for (let i = 0; i < TOTAL; i++) {
      const messageId = `large-${i}@connect.test`;
      if (i % (TOTAL / LARGE) === 7) {
        const content = randomBytes(2 * MB + (attachments.size % 4) * MB + i); // 2..5 MB
        attachments.set(messageId, content);
        raws.push(message({ subject: `with attachment ${i}`, messageId, attachments: [{ filename: `scan-${i}.bin`, contentType: 'application/octet-stream', content }] }));
      } else {
        raws.push(message({ subject: `message ${i}`, messageId, body: `Nachricht ${i}: Grüße aus dem Archiv.` }));
      }
    }
    assert.equal(attachments.size, LARGE);
    await deliverMaildir(peer, 'INBOX', raws);
  });
  after(async () => {
    await t?.close();
    await peer?.stop();
  });

  test('one sync archives all 1,000; attachments and originals are byte-exact; a second sync fetches nothing', async () => {
    await addRule(t, peer, { name: 'big', action: { type: 'seen' } });
    const summary = await t.app.connect.sync(t.orgId, 'big');
    assert.deepEqual(
      { fetched: summary.fetched, archived: summary.archived, duplicates: summary.duplicates, failed: summary.failed, skipped: summary.skipped },
      { fetched: TOTAL, archived: TOTAL, duplicates: 0, failed: 0, skipped: 0 },
    );
    assert.equal(await countDocs(t), TOTAL);

    const all = await docs(t);
    const byMessageId = new Map(all.map((d) => [d.messageId, d]));
    assert.equal(byMessageId.size, TOTAL);
    // Every original is stored unchanged: the document's SHA-256 is that of the bytes delivered.
    const want = new Set(raws.map(sha256));
    for (const d of all) assert.ok(want.has(d.sha256), `${d.subject}: stored bytes differ from the delivered ones`);

    for (const [messageId, content] of attachments) {
      const d = byMessageId.get(messageId);
      assert.ok(d, `${messageId} archived`);
      const doc = await t.app.archive.getDocument(t.orgId, d.id);
      assert.equal(doc.attachments?.length, 1);
      const att = await t.app.archive.openAttachment(t.orgId, d.id, 0);
      assert.equal(att.size, content.length);
      const bytes = await readAll(att.stream);
      assert.ok(bytes.equals(content), `attachment of ${messageId} (${content.length} bytes) is byte-exact`);
      const raw = await t.app.archive.openRaw(t.orgId, d.id);
      assert.equal(sha256(await readAll(raw.stream)), d.sha256);
    }

    const again = await t.app.connect.sync(t.orgId, 'big');
    assert.deepEqual({ fetched: again.fetched, archived: again.archived, skipped: again.skipped }, { fetched: 0, archived: 0, skipped: 0 });
    assert.equal(await countDocs(t), TOTAL);
  });
});
