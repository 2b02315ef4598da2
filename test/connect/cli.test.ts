/**
 * Connect to Mail from the command line, end to end against a real Dovecot, as an administrator
 * would use it: a service, an account and a rule; `sync` and its JSON summary; the mailbox
 * action seen from another client; search; browsing and archiving by hand with non-ASCII folder
 * names; the errors a wrong password, an unreachable host and a self-signed certificate give;
 * bad messages and the ledger (failures, `--reset --failed`, `--reset`).
 */
import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { jsonLines, openTestApp, run, tempDataDir } from '../cli/helpers.ts';
import { startDovecot, type DovecotPeer } from '../support/peers/dovecot.ts';
import { ALICE, ALICE_PASSWORD, SUMMARY_KEYS, append, folderMessages, message, sha256, withObserver } from './helpers.ts';

type Summary = Record<string, number | string>;

function summaryOf(out: string): Summary {
  const lines = jsonLines<Summary>(out);
  assert.equal(lines.length, 1, `one summary line: ${out}`);
  return lines[0]!;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

describe('Connect to Mail from the CLI', { timeout: 150_000 }, () => {
  let peer: DovecotPeer;
  let data: Awaited<ReturnType<typeof tempDataDir>>;
  const cli = (args: string[], env: Record<string, string> = {}) => run(data.dir, args, { env });

  before(async () => {
    peer = await startDovecot();
    data = await tempDataDir();
  });
  after(async () => {
    await peer?.stop();
    await data?.cleanup();
  });

  test('service + account + rule from the CLI; sync archives, reports, marks read; a second sync fetches nothing; searchable', async () => {
    await append(peer, 'INBOX', [
      message({ subject: 'Rechnung März: Grüße aus Köln', body: 'Die Zebrafinken-Rechnung liegt bei.' }),
      message({ subject: '請求書のお知らせ', body: 'Zebrafinken 請求書 第42号' }),
      message({ subject: 'Quarterly report', body: 'Nothing about birds.', attachments: [{ filename: 'report.pdf', contentType: 'application/pdf', size: 5000 }] }),
    ]);

    // The first call alone (it creates the key file); independent calls after it run side by side.
    const service = await cli(['services', 'add', 'dove', '--kind', 'imap', '--host', peer.host, '--port', String(peer.imapPort), '--security', 'none']);
    assert.equal(service.code, 0, service.err);
    const [account, cabinet] = await Promise.all([
      cli(['accounts', 'add', 'alice', '--service', 'dove', '--username', ALICE, '--password-env', 'ALICE'], { ALICE: ALICE_PASSWORD }),
      cli(['cabinets', 'add', 'Mail']),
    ]);
    assert.equal(account.code, 0, account.err);
    assert.equal(cabinet.code, 0, cabinet.err);
    const [tested, rule] = await Promise.all([
      cli(['accounts', 'test', 'alice', '--json']),
      cli(['rules', 'add', 'r1', '--account', 'alice', '--folder', 'INBOX', '--cabinet', 'Mail', '--after', 'seen']),
    ]);
    assert.equal(tested.code, 0, tested.err);
    assert.equal(JSON.parse(tested.out).ok, true);
    assert.equal(rule.code, 0, rule.err);
    assert.match(rule.out, /after archiving: seen/);

    const first = await cli(['sync', 'r1', '--json']);
    assert.equal(first.code, 0, first.err);
    const s1 = summaryOf(first.out);
    assert.deepEqual(Object.keys(s1).sort(), [...SUMMARY_KEYS].sort(), 'exactly the documented keys');
    assert.deepEqual({ ...s1, seconds: 0 }, { rule: 'r1', fetched: 3, archived: 3, duplicates: 0, failed: 0, skipped: 0, seconds: 0 });
    assert.equal(typeof s1['seconds'], 'number');

    const second = await cli(['sync', 'r1', '--json']);
    assert.equal(second.code, 0, second.err);
    assert.deepEqual({ ...summaryOf(second.out), seconds: 0 }, { rule: 'r1', fetched: 0, archived: 0, duplicates: 0, failed: 0, skipped: 0, seconds: 0 });

    // The action, seen by another client.
    const inbox = await folderMessages(peer, 'INBOX');
    assert.equal(inbox.length, 3);
    for (const m of inbox) assert.ok(m.flags.has('\\Seen'), `${m.subject} is marked read`);

    const [ledgerRun, found] = await Promise.all([cli(['ledger', 'r1', '--json']), cli(['search', 'zebrafinken', '--json'])]);
    const ledger = jsonLines<{ status: string; actionDone: boolean; uid: string }>(ledgerRun.out);
    assert.equal(ledger.length, 3);
    assert.ok(ledger.every((e) => e.status === 'archived' && e.actionDone));

    assert.equal(found.code, 0, found.err);
    assert.deepEqual(jsonLines<{ subject: string }>(found.out).map((d) => d.subject).sort(), ['Rechnung März: Grüße aus Köln', '請求書のお知らせ'].sort());
  });

  test('manual archiving: folders with non-ASCII names, JSON pages of a folder, archive chosen UIDs', async () => {
    const folder = 'Rechnungen/März 2026';
    await withObserver(peer, (c) => c.mailboxCreate(folder).then(() => undefined));
    await append(peer, folder, [
      message({ subject: 'März-Rechnung 1', from: 'Büro Öztürk <buero@example.org>' }),
      message({ subject: 'März-Rechnung 2', attachments: [{ filename: 'r2.pdf', contentType: 'application/pdf', size: 300 }] }),
      message({ subject: 'März-Rechnung 3' }),
    ]);

    type Row = { uid: number; from: { name: string; address: string } | null; subject: string; date: string | null; size: number; hasAttachments: boolean; archived: boolean };
    const [folders, inbox1, inbox2, listed] = await Promise.all([
      cli(['mailbox', 'ls', 'alice', '--json']),
      cli(['mailbox', 'ls', 'alice', 'INBOX', '--json', '--limit', '2']),
      cli(['mailbox', 'ls', 'alice', 'INBOX', '--json', '--limit', '2', '--page', '2']),
      cli(['mailbox', 'ls', 'alice', folder, '--json']),
    ]);
    assert.equal(folders.code, 0, folders.err);
    const names = jsonLines<{ name: string; path: string }>(folders.out).map((f) => f.name);
    assert.ok(names.includes('Rechnungen/März 2026'), `decoded folder name listed: ${names.join(', ')}`);
    assert.ok(names.includes('INBOX'));

    // INBOX, paged newest first, 2 per page; everything there was archived by r1.
    const page1 = jsonLines<Row>(inbox1.out);
    const page2 = jsonLines<Row>(inbox2.out);
    assert.deepEqual(page1.map((m) => m.uid), [3, 2]);
    assert.deepEqual(page2.map((m) => m.uid), [1]);
    for (const m of [...page1, ...page2]) {
      for (const key of ['uid', 'from', 'subject', 'date', 'size', 'hasAttachments', 'archived']) assert.ok(key in m, `${key} in ${JSON.stringify(m)}`);
      assert.equal(m.archived, true, `${m.subject} was archived by the rule`);
      assert.ok(m.size > 0);
    }
    assert.equal(page1[0]?.subject, 'Quarterly report');
    assert.equal(page1[0]?.hasAttachments, true);

    const before = jsonLines<Row>(listed.out);
    assert.deepEqual(before.map((m) => [m.uid, m.subject, m.archived]), [[3, 'März-Rechnung 3', false], [2, 'März-Rechnung 2', false], [1, 'März-Rechnung 1', false]]);
    assert.deepEqual(before.find((m) => m.uid === 1)?.from, { name: 'Büro Öztürk', address: 'buero@example.org' });
    assert.equal(before.find((m) => m.uid === 2)?.hasAttachments, true);

    const archived = await cli(['mailbox', 'archive', 'alice', folder, '1', '3', '--cabinet', 'Mail', '--json']);
    assert.equal(archived.code, 0, archived.err);
    const results = jsonLines<{ uid: number; ok: boolean; duplicate: boolean; subject: string }>(archived.out);
    assert.deepEqual(results.map((r) => [r.uid, r.ok, r.duplicate, r.subject]), [[1, true, false, 'März-Rechnung 1'], [3, true, false, 'März-Rechnung 3']]);

    const afterwards = jsonLines<Row>((await cli(['mailbox', 'ls', 'alice', folder, '--json'])).out);
    assert.deepEqual(afterwards.map((m) => [m.uid, m.archived]), [[3, true], [2, false], [1, true]]);
    // By hand changes nothing in the mailbox.
    assert.ok((await folderMessages(peer, folder)).every((m) => m.flags.size === 0));

    // Again: reported as already archived, and a UID that does not exist is an error of its own.
    const again = await cli(['mailbox', 'archive', 'alice', folder, '1', '99', '--cabinet', 'Mail', '--json']);
    assert.equal(again.code, 1);
    const r2 = jsonLines<{ uid: number; ok: boolean; duplicate?: boolean; error?: { code: string } }>(again.out);
    assert.deepEqual(r2.map((r) => [r.uid, r.ok, r.duplicate ?? r.error?.code]), [[1, true, true], [99, false, 'MAIL_MESSAGE_NOT_FOUND']]);
  });

  test('errors: wrong password, unreachable host, self-signed certificate (refused, then pinned)', async () => {
    const wrong = 'Falsches-Passwort-4711';
    const port = await freePort();
    const tlsArgs = ['--kind', 'imap', '--host', '127.0.0.1', '--port', String(peer.imapsPort), '--security', 'tls'];
    // Four independent cases, side by side.
    const [denied, unreachable, refused, pinned] = await Promise.all([
      (async () => {
        assert.equal((await cli(['accounts', 'add', 'wrong', '--service', 'dove', '--username', ALICE, '--password-env', 'PW'], { PW: wrong })).code, 0);
        return cli(['accounts', 'test', 'wrong']);
      })(),
      (async () => {
        assert.equal((await cli(['services', 'add', 'nowhere', '--kind', 'imap', '--host', '127.0.0.1', '--port', String(port), '--security', 'none'])).code, 0);
        return cli(['services', 'test', 'nowhere']);
      })(),
      (async () => {
        assert.equal((await cli(['services', 'add', 'tls', ...tlsArgs])).code, 0);
        return cli(['services', 'test', 'tls']);
      })(),
      (async () => {
        const added = await cli(['services', 'add', 'tls-pinned', ...tlsArgs, '--tls-fingerprint', peer.certFingerprint256]);
        assert.equal(added.code, 0, added.err);
        assert.equal((await cli(['accounts', 'add', 'tls-pinned', '--service', 'tls-pinned', '--username', ALICE, '--password-env', 'PW'], { PW: ALICE_PASSWORD })).code, 0);
        return cli(['accounts', 'test', 'tls-pinned', '--json']);
      })(),
    ]);

    assert.equal(denied.code, 1);
    assert.match(denied.err, /^error \[MAIL_AUTH_FAILED\]: .*127\.0\.0\.1:\d+.*alice@example\.test.*password/m);
    assert.ok(!(denied.out + denied.err).includes(wrong), 'the password is never printed');

    assert.equal(unreachable.code, 1);
    assert.match(unreachable.err, new RegExp(`^error \\[MAIL_HOST_UNREACHABLE\\]: .*127\\.0\\.0\\.1:${port}`, 'm'));

    // Implicit TLS with Dovecot's self-signed certificate: refused by default, naming the fingerprint.
    assert.equal(refused.code, 1);
    assert.match(refused.err, /^error \[MAIL_TLS_FAILED\]: /m);
    assert.ok(refused.err.includes(peer.certFingerprint256), `names the fingerprint ${peer.certFingerprint256}: ${refused.err}`);

    // Pinned: accepted, and the login goes through.
    assert.equal(pinned.code, 0, pinned.err);
    assert.equal(JSON.parse(pinned.out).ok, true);
    assert.equal(JSON.parse(pinned.out).tlsFingerprint256, peer.certFingerprint256);
  });

  test('bad messages never stop a run; failures are in the ledger with a reason; --reset --failed retries them; --reset rescans without archiving twice', async () => {
    const folder = 'Kaputt';
    // Above 1 MiB, so that its blob is a file of its own (small ones are packed), which the blocker below stands in the way of.
    const failing = message({ subject: 'cannot be stored right now', attachments: [{ filename: 'big.bin', contentType: 'application/octet-stream', size: 1_200_000 }] });
    await append(peer, folder, [message({ subject: 'before the bad ones' })]);
    // A message with NUL bytes and one that is nothing but random bytes, as a broken mailer or
    // a damaged store might hand them over (doveadm save accepts any bytes).
    await peer.deliver(ALICE, Buffer.concat([Buffer.from('From: x@example.org\r\nSubject: nul\0inside\r\nMessage-ID: <nul@connect.test>\r\n\r\nbody\0with\0nul\r\n')]), folder);
    await peer.deliver(ALICE, randomBytes(4000), folder);
    await append(peer, folder, [failing, message({ subject: 'after the bad ones' })]);

    // A real storage failure for exactly one message: a directory where its blob goes.
    const sha = sha256(failing);
    const blocker = join(data.dir, 'blobs', sha.slice(0, 2), sha);
    await mkdir(blocker, { recursive: true });
    await writeFile(join(blocker, 'x'), 'in the way');

    assert.equal((await cli(['cabinets', 'add', 'Kaputt'])).code, 0);
    const added = await cli(['rules', 'add', 'rk', '--account', 'alice', '--folder', folder, '--cabinet', 'Kaputt', '--after', 'seen']);
    assert.equal(added.code, 0, added.err);
    const first = await cli(['sync', 'rk', '--json']);
    assert.equal(first.code, 1, 'a run with failures exits 1');
    assert.deepEqual({ ...summaryOf(first.out), seconds: 0 }, { rule: 'rk', fetched: 5, archived: 4, duplicates: 0, failed: 1, skipped: 0, seconds: 0 });

    const failed = jsonLines<{ uid: string; status: string; reason: string; subject: string; attempts: number }>((await cli(['ledger', 'rk', '--failed', '--json'])).out);
    assert.equal(failed.length, 1);
    assert.equal(failed[0]?.subject, 'cannot be stored right now');
    assert.equal(failed[0]?.status, 'failed');
    assert.equal(failed[0]?.attempts, 1);
    assert.match(failed[0]?.reason ?? '', /^[A-Z_]+: .+/, 'a code and a message');
    // Everything else, garbage included, is archived (with parser warnings), and marked read;
    // the failed message is not.
    const box = await folderMessages(peer, folder);
    assert.equal(box.length, 5);
    for (const m of box) assert.equal(m.flags.has('\\Seen'), m.subject !== 'cannot be stored right now', m.subject);

    // The cause is fixed; forgetting the failure makes the next run pick the message up again.
    await rm(blocker, { recursive: true });
    const reset = await cli(['ledger', 'rk', '--reset', '--failed', '--json']);
    assert.deepEqual(JSON.parse(reset.out), { removed: 1 });
    const retried = await cli(['sync', 'rk', '--json']);
    assert.equal(retried.code, 0, retried.err);
    assert.deepEqual({ ...summaryOf(retried.out), seconds: 0 }, { rule: 'rk', fetched: 1, archived: 1, duplicates: 0, failed: 0, skipped: 0, seconds: 0 });

    // A full reset forgets everything: the next run goes over the folder again and reports
    // every message as a duplicate; nothing is archived twice.
    const count = async (): Promise<number> => {
      const app = await openTestApp(data.dir);
      try {
        const org = await app.orgs.ensureOrg('default');
        return await app.archive.countDocuments(org.id, (await app.archive.cabinetByName(org.id, 'Kaputt')).id);
      } finally {
        await app.close();
      }
    };
    assert.equal(await count(), 5);
    assert.deepEqual(JSON.parse((await cli(['ledger', 'rk', '--reset', '--json'])).out), { removed: 5 });
    const rescan = await cli(['sync', 'rk', '--json']);
    assert.equal(rescan.code, 0, rescan.err);
    assert.deepEqual({ ...summaryOf(rescan.out), seconds: 0 }, { rule: 'rk', fetched: 5, archived: 0, duplicates: 5, failed: 0, skipped: 0, seconds: 0 });
    assert.equal(await count(), 5);
    const ledger = jsonLines<{ status: string }>((await cli(['ledger', 'rk', '--json'])).out);
    assert.deepEqual(ledger.map((e) => e.status), ['duplicate', 'duplicate', 'duplicate', 'duplicate', 'duplicate'], 'no failure left either');
  });
});
