/**
 * IMAP IDLE through the scheduler: the server started by `startServer` (as `mailroom serve`)
 * runs every enabled rule once at start and watches its folders; a message delivered afterwards
 * is archived without waiting for the rule's interval (one hour here), i.e. because IDLE
 * reported it.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createLogger } from '../../src/log/index.ts';
import { startServer, type RunningServer } from '../../src/main.ts';
import { startDovecot, type DovecotPeer } from '../support/peers/dovecot.ts';
import { ALICE, addRule, append, eventually, folderMessages, message, openTestApp, type TestApp } from './helpers.ts';

describe('Connect to Mail: IDLE through the scheduler', { timeout: 90_000 }, () => {
  let peer: DovecotPeer;
  let dir: string;
  let setup: TestApp;
  let server: RunningServer | undefined;

  before(async () => {
    peer = await startDovecot();
    dir = await mkdtemp(join(tmpdir(), 'mr-connect-'));
    // Configure with one app, then close it: the server opens its own on the same data.
    setup = await openTestApp({ dir });
    await append(peer, 'INBOX', [message({ subject: 'there before the server started' })]);
    await addRule(setup, peer, { name: 'idle', action: { type: 'seen' }, useIdle: true, intervalSeconds: 3600 });
    await setup.close();
  });
  after(async () => {
    await server?.close();
    await peer?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('a message delivered while serving is archived within seconds, through IDLE', async () => {
    server = await startServer({ env: { ...setup.env, MAILROOM_HOST: '127.0.0.1' }, port: 0, log: createLogger('silent') });
    const app = server.app;
    const org = await app.orgs.ensureOrg('default');
    const cabinet = (await app.archive.cabinetByName(org.id, 'Mail')).id;
    const count = () => app.archive.countDocuments(org.id, cabinet);
    const runs = async () => (await app.connect.runs(org.id, 'idle')).filter((r) => r.finishedAt !== null);

    // The run at start takes what was there.
    await eventually(async () => (await runs()).length >= 1, 20_000, 'the first scheduled run');
    assert.equal(await count(), 1);

    await peer.deliver(ALICE, message({ subject: 'arrived while serving', body: 'Eilig: bitte sofort ablegen.' }));
    await eventually(async () => (await count()) === 2, 20_000, 'the delivered message to be archived');
    const docs = await app.archive.search(org.id, { q: 'sofort ablegen' });
    assert.deepEqual(docs.documents.map((d) => d.subject), ['arrived while serving']);
    // A second run did it (the interval is an hour, so only IDLE can have started it), and the
    // mailbox action followed.
    await eventually(async () => (await runs()).length >= 2, 20_000, 'the IDLE-triggered run to finish');
    await eventually(async () => (await folderMessages(peer, 'INBOX')).every((m) => m.flags.has('\\Seen')), 20_000, 'the action (seen)');

    await server.close();
    server = undefined;
  });
});
