/**
 * fetchRaw(): byte-exact streams (SHA-256 against what was delivered, a 5 MB message included),
 * no \Seen side effect, refs that no longer name a message, and a connection dropped mid-way.
 */
import assert from 'node:assert/strict';
import type { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { isAppError } from '../../../src/errors/index.ts';
import { openImapSource } from '../../../src/gateways/imap/index.ts';
import type { MailSource, MessageRef } from '../../../src/gateways/ports.ts';
import { startDovecot, type DovecotPeer } from '../../support/peers/dovecot.ts';
import { collect, kick, message, plainSettings, readAll, sha256, withObserver } from './helpers.ts';

const ALICE = 'alice@example.test';
const CAROL = 'carol@example.test';

function errorCode(err: unknown): string {
  return isAppError(err) ? err.code : `not an AppError: ${String(err)}`;
}

describe('IMAP gateway: fetchRaw', () => {
  let peer: DovecotPeer;
  let source: MailSource;
  const delivered: Buffer[] = [];
  let refs: MessageRef[] = [];

  before(async () => {
    peer = await startDovecot({
      users: [
        { user: ALICE, password: 'alice-secret' },
        { user: CAROL, password: 'carol-secret' },
      ],
    });
    delivered.push(
      message({ subject: 'small' }),
      message({ subject: 'Grüße mit Anhang', attachmentBytes: 40_000 }),
      message({ subject: 'five megabytes', attachmentBytes: Math.ceil((5 * 1024 * 1024 * 3) / 4) }),
      // No final line break: must come back exactly like this. (A bare LF would not: IMAP is
      // CRLF on the wire, RFC 3501 §2.2, and Dovecot serves bare LFs as CRLF.)
      Buffer.from('Subject: odd\r\nX-Raw: \xff\r\n\r\nno final newline', 'latin1'),
    );
    for (const raw of delivered) await peer.deliver(ALICE, raw);
    source = await openImapSource(plainSettings(peer, ALICE, 'alice-secret'));
    refs = (await collect(source, 'INBOX', null)).flatMap((c) => (c.type === 'new' ? [c.message.ref] : []));
    assert.equal(refs.length, delivered.length);
  });
  after(async () => {
    await source?.close();
    await peer?.stop();
  });

  test('summaries() of given refs: those asked for, in UID order; gone or other-epoch refs left out', async () => {
    const [first, second, , fourth] = refs;
    assert.ok(first && second && fourth);
    const asked = [fourth, first, { ...second, epoch: '1' }, { ...first, key: '999999' }];
    const got = await source.summaries('INBOX', asked);
    assert.deepEqual(got.map((m) => m.ref.key), [first.key, fourth.key]);
    assert.equal(got[0]?.subject, 'small');
    assert.equal(got[0]?.from?.address, 'alice.sender@example.test');
    assert.equal(got[1]?.subject, 'odd');
    assert.deepEqual(await source.summaries('INBOX', []), []);
  });

  test('streams every message byte-exact (SHA-256 equal), the 5 MB one included', async () => {
    assert.ok(delivered[2]!.length > 5 * 1024 * 1024);
    for (let i = 0; i < refs.length; i++) {
      const got = await readAll(await source.fetchRaw(refs[i]!));
      assert.equal(got.length, delivered[i]!.length, `length of message ${i}`);
      assert.equal(sha256(got), sha256(delivered[i]!), `SHA-256 of message ${i}`);
    }
  });

  test('the 5 MB message arrives in several chunks, not as one buffer', async () => {
    const stream: Readable = await source.fetchRaw(refs[2]!);
    let chunks = 0;
    let biggest = 0;
    for await (const c of stream) {
      chunks++;
      biggest = Math.max(biggest, (c as Buffer).length);
    }
    assert.ok(chunks > 5, `${chunks} chunks`);
    assert.ok(biggest < 2 * 1024 * 1024, `largest chunk ${biggest} bytes`);
  });

  test('fetching never sets \\Seen', async () => {
    await withObserver(peer, ALICE, async (c) => {
      await c.mailboxOpen('INBOX', { readOnly: true });
      for await (const m of c.fetch('1:*', { flags: true })) assert.ok(!m.flags?.has('\\Seen'), `message ${m.uid} was marked seen`);
    });
  });

  test('a ref of another UIDVALIDITY epoch is MAIL_MESSAGE_NOT_FOUND', async () => {
    const ref = refs[0]!;
    await assert.rejects(source.fetchRaw({ ...ref, epoch: String(Number(ref.epoch) - 1) }), (e: unknown) => {
      assert.equal(errorCode(e), 'MAIL_MESSAGE_NOT_FOUND');
      assert.match((e as Error).message, /UIDVALIDITY/);
      return true;
    });
  });

  test('a UID that no longer exists is MAIL_MESSAGE_NOT_FOUND', async () => {
    await peer.deliver(ALICE, message({ subject: 'doomed' }));
    const doomed = (await collect(source, 'INBOX', null)).flatMap((c) => (c.type === 'new' ? [c.message.ref] : [])).pop()!;
    await withObserver(peer, ALICE, async (c) => {
      await c.mailboxOpen('INBOX');
      await c.messageDelete(doomed.key, { uid: true });
    });
    await assert.rejects(source.fetchRaw(doomed), (e: unknown) => errorCode(e) === 'MAIL_MESSAGE_NOT_FOUND');
    await assert.rejects(source.fetchRaw({ ...doomed, key: 'abc' }), (e: unknown) => errorCode(e) === 'MAIL_MESSAGE_NOT_FOUND');
    // The connection is still fine afterwards.
    assert.equal(sha256(await readAll(await source.fetchRaw(refs[0]!))), sha256(delivered[0]!));
  });

  test('a destroyed stream releases the connection for the next call', async () => {
    const stream = await source.fetchRaw(refs[2]!);
    await new Promise<void>((resolve) => stream.once('readable', () => resolve()));
    stream.destroy();
    const again = await readAll(await source.fetchRaw(refs[1]!));
    assert.equal(sha256(again), sha256(delivered[1]!));
  });

  test('a connection dropped mid-fetch fails the stream with MAIL_CONNECTION_LOST (transient)', async () => {
    const big = message({ subject: 'cut short', attachmentBytes: 4 * 1024 * 1024 });
    await peer.deliver(CAROL, big);
    const carol = await openImapSource(plainSettings(peer, CAROL, 'carol-secret'));
    try {
      const [ref] = (await collect(carol, 'INBOX', null)).flatMap((c) => (c.type === 'new' ? [c.message.ref] : []));
      assert.ok(ref);
      const stream = await carol.fetchRaw(ref);
      // Read the first chunk, then let the server end the session while the rest is pending.
      const first = await new Promise<Buffer>((resolve, reject) => {
        stream.once('data', (c: Buffer) => {
          stream.pause();
          resolve(c);
        });
        stream.once('error', reject);
      });
      assert.ok(first.length > 0);
      await kick(peer, CAROL);
      let failure: unknown = null;
      try {
        await readAll(stream);
      } catch (err) {
        failure = err;
      }
      assert.equal(errorCode(failure), 'MAIL_CONNECTION_LOST');
      assert.ok(isAppError(failure) && failure.details?.['transient'] === true);
      // Every later call says the same instead of hanging.
      await assert.rejects(carol.listFolders(), (e: unknown) => errorCode(e) === 'MAIL_CONNECTION_LOST');
    } finally {
      await carol.close();
    }
  });
});
