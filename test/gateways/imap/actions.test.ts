/**
 * apply(): every mailbox action, each observed afterwards through a separate imapflow client.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ImapFlow } from 'imapflow';
import { isAppError } from '../../../src/errors/index.ts';
import { openImapSource } from '../../../src/gateways/imap/index.ts';
import type { MailSource, MessageRef, MessageSummary } from '../../../src/gateways/ports.ts';
import { startDovecot, type DovecotPeer } from '../../support/peers/dovecot.ts';
import { collect, message, plainSettings, withObserver } from './helpers.ts';
import { startScriptedImap } from './scripted-imap.ts';

const USER = 'alice@example.test';

/** Flags of each UID in a folder, as an independent client sees them. */
async function flagsOf(c: ImapFlow, folder: string): Promise<Map<number, Set<string>>> {
  await c.mailboxOpen(folder, { readOnly: true });
  const out = new Map<number, Set<string>>();
  for await (const m of c.fetch('1:*', { uid: true, flags: true })) out.set(m.uid, m.flags ?? new Set());
  return out;
}

async function messageIdsOf(c: ImapFlow, folder: string): Promise<string[]> {
  const mb = await c.mailboxOpen(folder, { readOnly: true });
  if (mb.exists === 0) return [];
  const out: string[] = [];
  for await (const m of c.fetch('1:*', { envelope: true })) out.push(m.envelope?.messageId ?? '');
  return out;
}

describe('IMAP gateway: apply', () => {
  let peer: DovecotPeer;
  let source: MailSource;
  let msgs: MessageSummary[] = [];
  const ref = (i: number): MessageRef => msgs[i]!.ref;
  const uid = (i: number): number => Number(msgs[i]!.ref.key);

  before(async () => {
    peer = await startDovecot();
    for (let i = 0; i < 9; i++) await peer.deliver(USER, message({ subject: `action ${i}` }));
    await withObserver(peer, USER, async (c) => {
      await c.mailboxCreate('Archiv/2026');
    });
    source = await openImapSource(plainSettings(peer, USER, 'alice-secret'));
    msgs = (await collect(source, 'INBOX', null)).flatMap((c) => (c.type === 'new' ? [c.message] : []));
    assert.equal(msgs.length, 9);
  });
  after(async () => {
    await source?.close();
    await peer?.stop();
  });

  test('seen sets \\Seen on exactly that message', async () => {
    await source.apply([ref(0)], { type: 'seen' });
    const flags = await withObserver(peer, USER, (c) => flagsOf(c, 'INBOX'));
    assert.ok(flags.get(uid(0))?.has('\\Seen'));
    for (let i = 1; i < 9; i++) assert.ok(!flags.get(uid(i))?.has('\\Seen'), `message ${i}`);
  });

  test('flag sets \\Flagged', async () => {
    await source.apply([ref(1)], { type: 'flag' });
    const flags = await withObserver(peer, USER, (c) => flagsOf(c, 'INBOX'));
    assert.ok(flags.get(uid(1))?.has('\\Flagged'));
    assert.ok(!flags.get(uid(0))?.has('\\Flagged'));
  });

  test('keyword sets a custom keyword; a keyword that is not an atom is refused', async () => {
    await source.apply([ref(2), ref(3)], { type: 'keyword', keyword: '$Archived' });
    const flags = await withObserver(peer, USER, (c) => flagsOf(c, 'INBOX'));
    assert.ok(flags.get(uid(2))?.has('$Archived'));
    assert.ok(flags.get(uid(3))?.has('$Archived'));
    assert.ok(!flags.get(uid(4))?.has('$Archived'));
    await assert.rejects(source.apply([ref(4)], { type: 'keyword', keyword: 'not an atom' }), (e: unknown) => isAppError(e) && e.code === 'VALIDATION_FAILED');
  });

  test('move puts the message into the target folder and out of the source', async () => {
    await source.apply([ref(4)], { type: 'move', folder: 'Archiv/2026' });
    await withObserver(peer, USER, async (c) => {
      assert.ok(!(await messageIdsOf(c, 'INBOX')).includes(msgs[4]!.messageId!));
      assert.deepEqual(await messageIdsOf(c, 'Archiv/2026'), [msgs[4]!.messageId]);
    });
  });

  test('move to a missing folder is MAIL_FOLDER_NOT_FOUND naming it; nothing moves, nothing is created', async () => {
    await assert.rejects(source.apply([ref(5)], { type: 'move', folder: 'Archiv/Fehlt' }), (e: unknown) => {
      assert.ok(isAppError(e));
      assert.equal(e.code, 'MAIL_FOLDER_NOT_FOUND');
      assert.match(e.message, /Archiv\/Fehlt/);
      return true;
    });
    await withObserver(peer, USER, async (c) => {
      assert.ok((await messageIdsOf(c, 'INBOX')).includes(msgs[5]!.messageId!));
      assert.ok(!(await c.list()).some((f) => f.path === 'Archiv/Fehlt'));
    });
  });

  test('delete expunges exactly the given UIDs; another \\Deleted message stays', async () => {
    await withObserver(peer, USER, async (c) => {
      await c.mailboxOpen('INBOX');
      await c.messageFlagsAdd(String(uid(6)), ['\\Deleted'], { uid: true });
    });
    await source.apply([ref(5)], { type: 'delete' });
    const flags = await withObserver(peer, USER, (c) => flagsOf(c, 'INBOX'));
    assert.ok(!flags.has(uid(5)), 'the deleted message is gone');
    assert.ok(flags.get(uid(6))?.has('\\Deleted'), 'the other \\Deleted message is still there');
    assert.ok(flags.has(uid(7)));
  });

  test('refs of another epoch are skipped, never acted on', async () => {
    const old = { ...ref(7), epoch: String(Number(ref(7).epoch) + 1) };
    await source.apply([old], { type: 'delete' });
    await source.apply([old], { type: 'seen' });
    const flags = await withObserver(peer, USER, (c) => flagsOf(c, 'INBOX'));
    assert.ok(flags.has(uid(7)));
    assert.ok(!flags.get(uid(7))?.has('\\Seen'));
  });

  test('one call may name messages of several folders; "none" does nothing', async () => {
    const [moved] = (await collect(source, 'Archiv/2026', null)).flatMap((c) => (c.type === 'new' ? [c.message.ref] : []));
    assert.ok(moved);
    await source.apply([ref(8), moved], { type: 'flag' });
    await source.apply([ref(7)], { type: 'none' });
    await withObserver(peer, USER, async (c) => {
      assert.ok((await flagsOf(c, 'INBOX')).get(uid(8))?.has('\\Flagged'));
      assert.ok((await flagsOf(c, 'Archiv/2026')).get(Number(moved.key))?.has('\\Flagged'));
      assert.deepEqual([...((await flagsOf(c, 'INBOX')).get(uid(7)) ?? [])], []);
    });
  });
});

describe('IMAP gateway: apply on folders that cannot take the action', () => {
  const settings = (port: number) =>
    ({ host: '127.0.0.1', port, security: 'none', tls: { mode: 'verify' }, auth: { type: 'basic', user: 'u', password: 'p' }, timeoutMs: 5000 }) as const;
  const selectWith = (codes: string, readOnly: boolean) => (tag: string, command: string) =>
    command === 'SELECT' || command === 'EXAMINE'
      ? `* 2 EXISTS\r\n* FLAGS (\\Seen \\Flagged \\Deleted $Known)\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT 3] ok\r\n${codes}${tag} OK [${readOnly ? 'READ-ONLY' : 'READ-WRITE'}] done\r\n`
      : undefined;

  test('a keyword outside PERMANENTFLAGS (no \\*) is MAIL_ACTION_UNSUPPORTED; nothing is stored', async () => {
    const server = await startScriptedImap(selectWith('* OK [PERMANENTFLAGS (\\Seen \\Flagged \\Deleted $Known)] ok\r\n', false));
    const source = await openImapSource(settings(server.port));
    try {
      const ref = { folder: 'INBOX', epoch: '7', key: '1' };
      await assert.rejects(source.apply([ref], { type: 'keyword', keyword: '$Archived' }), (e: unknown) => {
        assert.ok(isAppError(e));
        assert.equal(e.code, 'MAIL_ACTION_UNSUPPORTED');
        assert.match(e.message, /\$Archived/);
        return true;
      });
      assert.ok(!server.commands.some((c) => /STORE/i.test(c)));
      await source.apply([ref], { type: 'keyword', keyword: '$Known' });
      assert.ok(server.commands.some((c) => /UID STORE 1 \+FLAGS\.SILENT \(\$Known\)/i.test(c)), server.commands.join('\n'));
    } finally {
      await source.close();
      await server.close();
    }
  });

  test('a folder the server opens read-only is MAIL_ACTION_UNSUPPORTED', async () => {
    const server = await startScriptedImap(selectWith('', true));
    const source = await openImapSource(settings(server.port));
    try {
      await assert.rejects(source.apply([{ folder: 'INBOX', epoch: '7', key: '1' }], { type: 'seen' }), (e: unknown) => isAppError(e) && e.code === 'MAIL_ACTION_UNSUPPORTED');
    } finally {
      await source.close();
      await server.close();
    }
  });
});
