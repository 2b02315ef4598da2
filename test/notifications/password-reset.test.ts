/**
 * Password reset over real HTTP, with the mail going through the outbox into a real Postfix
 * (root) and read back from its Maildir: the link, the language, confirm, login, token reuse,
 * sessions; the identical answer for unknown addresses; no SMTP / unreachable SMTP → 503 and a
 * problem for the organisation's administrators (API and CLI); rate limits.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ParsedMail } from 'mailparser';
import { createPasswordReset, PASSWORD_RESET_UNAVAILABLE } from '../../src/orgs/index.ts';
import { isAppError } from '../../src/errors/index.ts';
import { Client } from '../api/support.ts';
import { jsonLines, run } from '../cli/helpers.ts';
import { freePort } from '../support/peers/apt.ts';
import { dialects } from '../support/databases.ts';
import { startPostfix, type PostfixPeer } from '../support/peers/postfix.ts';
import { createOrg, notificationsVia, parseAll, recipient, sleep, startWorld, type Org, type World } from './support.ts';

for (const dialect of dialects()) describe(`password reset (${dialect})`, () => {
  let postfix: PostfixPeer;
  let world: World;
  let acme: Org;
  let anon: Client;

  /** The reset mails that reached the Maildir for this address so far. */
  async function mailsTo(address: string, atLeast: number): Promise<ParsedMail[]> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const mails = (await parseAll(await postfix.readMaildir())).filter((m) => recipient(m) === address);
      if (mails.length >= atLeast || Date.now() > deadline) return mails;
      await sleep(100);
    }
  }

  function tokenOf(m: ParsedMail): string {
    const link = new RegExp(`${world.baseUrl.replace(/[.]/g, '\\.')}/reset-password\\?token=(mrr_[A-Za-z0-9_-]+)`).exec(m.text ?? '');
    assert.ok(link, `no reset link in: ${m.text}`);
    assert.ok(typeof m.html === 'string' && m.html.includes(`href="${link[0]}"`), 'the HTML part links to the same address');
    return link[1]!;
  }

  before(async () => {
    postfix = await startPostfix({ name: `reset-${dialect}` });
    world = await startWorld({ dialect });
    acme = await createOrg(world, 'Acme', { language: 'de' });
    await notificationsVia(world, acme.id, 'acme-smtp', postfix.port);
    anon = new Client(world.baseUrl);
  });
  after(async () => {
    await world?.close();
    await postfix?.stop();
  });

  test('end to end: mail in the user\'s language with a working link; confirm; login; reuse fails; sessions end', async () => {
    const me = await acme.user.client.get('/api/auth/me');
    assert.equal(me.status, 200);

    const first = await anon.post('/api/auth/password-reset', { email: acme.user.email.toUpperCase() });
    assert.equal(first.status, 202, first.text);
    assert.deepEqual(first.json, { status: 'sent-if-registered' });
    const second = await anon.post('/api/auth/password-reset', { email: acme.user.email });
    assert.equal(second.status, 202, second.text);

    const mails = await mailsTo(acme.user.email, 2);
    assert.equal(mails.length, 2);
    for (const m of mails) {
      assert.equal(m.subject, 'Ihr Mailroom-Passwort zurücksetzen');
      assert.ok(m.text?.includes('Hallo Jörg Müller,'), m.text);
      assert.ok(m.text?.includes('innerhalb von 30 Minuten'));
      assert.equal(m.headers.get('auto-submitted'), 'auto-generated');
    }
    const [tokenA, tokenB] = mails.map(tokenOf) as [string, string];
    assert.notEqual(tokenA, tokenB);

    // A password that is too short is refused without using the token up.
    const short = await anon.post('/api/auth/password-reset/confirm', { token: tokenB, password: 'short' });
    assert.equal(short.status, 400);
    assert.equal(short.json.code, 'VALIDATION_FAILED');

    const newPassword = 'Neues-Passwort-2026 ✓';
    const done = await anon.post('/api/auth/password-reset/confirm', { token: tokenB, password: newPassword });
    assert.equal(done.status, 200, done.text);
    assert.deepEqual(done.json, { status: 'password-changed' });

    // The session from before the reset is gone; the old password no longer works, the new one does.
    assert.equal((await acme.user.client.get('/api/auth/me')).status, 401);
    assert.equal((await anon.post('/api/auth/login', { email: acme.user.email, password: acme.user.password })).status, 401);
    const fresh = await anon.post('/api/auth/login', { email: acme.user.email, password: newPassword });
    assert.equal(fresh.status, 200, fresh.text);

    // The used token, and the other one mailed before, no longer work.
    for (const token of [tokenB, tokenA]) {
      const again = await anon.post('/api/auth/password-reset/confirm', { token, password: 'another-password-1' });
      assert.equal(again.status, 400, again.text);
      assert.equal(again.json.code, 'RESET_TOKEN_INVALID');
      assert.match(again.json.message, /already used|expired/);
    }
    const made = await anon.post('/api/auth/password-reset/confirm', { token: 'mrr_madeUpTokenThatWasNeverIssued123456789', password: 'another-password-1' });
    assert.equal(made.json.code, 'RESET_TOKEN_INVALID');
  });

  test('an expired token is refused', async () => {
    let clock = Date.now();
    const reset = createPasswordReset({ store: world.app.store, outbox: world.outbox, log: world.log, publicUrl: world.baseUrl }, { now: () => clock });
    await reset.request({ email: acme.admin.email, ip: '198.51.100.1' });
    const [mail] = await mailsTo(acme.admin.email, 1);
    assert.ok(mail);
    assert.equal(mail.subject, 'Reset your Mailroom password', 'the admin has English set');
    clock += 31 * 60_000;
    await assert.rejects(reset.confirm({ token: tokenOf(mail), password: 'long-enough-1' }), (err: unknown) => isAppError(err) && err.code === 'RESET_TOKEN_INVALID');
  });

  test('an unknown address gets exactly the answer a known one gets, and no mail goes out', async () => {
    // Files, not a count: a mail of an earlier test may still be arriving, and the Maildir's
    // order is its file names', not arrival.
    const before = new Set((await postfix.readMaildir()).map((m) => m.file));
    const org = await createOrg(world, 'Quiet');
    await notificationsVia(world, org.id, 'quiet-smtp', postfix.port);
    const known = await anon.post('/api/auth/password-reset', { email: org.user.email });
    const unknown = await anon.post('/api/auth/password-reset', { email: 'nobody@quiet.example' });
    const elsewhere = await anon.post('/api/auth/password-reset', { email: 'nobody@unrelated.example' });
    for (const res of [unknown, elsewhere]) {
      assert.equal(res.status, known.status);
      assert.equal(res.text, known.text);
      assert.equal(res.headers.get('content-type'), known.headers.get('content-type'));
      assert.equal(res.headers.get('content-length'), known.headers.get('content-length'));
    }
    assert.equal(known.status, 202);
    await mailsTo(org.user.email, 1);
    await sleep(500);
    const arrived = (await postfix.readMaildir()).filter((m) => !before.has(m.file));
    const asked = new Set([org.user.email, 'nobody@quiet.example', 'nobody@unrelated.example']);
    const recipients = (await parseAll(arrived)).map(recipient).filter((r) => asked.has(r));
    assert.deepEqual(recipients, [org.user.email]);
  });

  test('no SMTP configured: 503 PASSWORD_RESET_UNAVAILABLE for known and unknown addresses, and a problem the admins see (API and CLI)', async () => {
    const org = await createOrg(world, 'NoMail');
    const known = await anon.post('/api/auth/password-reset', { email: org.user.email });
    assert.equal(known.status, 503, known.text);
    assert.equal(known.json.code, 'PASSWORD_RESET_UNAVAILABLE');
    assert.match(known.json.message, /Password reset is unavailable: no working SMTP connection/);
    assert.ok(!known.text.includes('NoMail') && !known.text.includes('nomail'), 'the public answer names no organisation');
    const unknown = await anon.post('/api/auth/password-reset', { email: 'ghost@nomail.example' });
    assert.equal(unknown.status, 503);
    assert.equal(unknown.text, known.text);

    const listed = await org.admin.client.get('/api/problems');
    assert.equal(listed.status, 200, listed.text);
    const problem = listed.json.problems.find((p: { kind: string }) => p.kind === PASSWORD_RESET_UNAVAILABLE);
    assert.ok(problem, listed.text);
    assert.match(problem.message, /no SMTP connection/);
    assert.match(problem.fix, /components set notifications/);
    assert.equal(problem.count, 1, 'the unknown address recorded nothing');
    assert.equal(problem.resolvedAt, null);
    assert.equal((await org.user.client.get('/api/problems')).status, 403, 'only administrators');
    const other = await acme.admin.client.get('/api/problems');
    assert.ok(!other.json.problems.some((p: { kind: string }) => p.kind === PASSWORD_RESET_UNAVAILABLE), 'another organisation does not see it');

    const cli = await run(world.dataDir, ['--org', 'NoMail', 'problems', 'list', '--json'], { env: world.cliEnv });
    assert.equal(cli.code, 0, cli.err);
    const rows = jsonLines<{ kind: string; fix: string; count: number }>(cli.out);
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.kind, PASSWORD_RESET_UNAVAILABLE);
    assert.equal(rows[0]!.count, 1);
    const human = await run(world.dataDir, ['--org', 'NoMail', 'problems', 'list'], { env: world.cliEnv });
    assert.equal(human.code, 0, human.err);
    assert.match(human.out, /password_reset_unavailable/);
    assert.match(human.out, /fix: +Assign an SMTP service/);
  });

  test('SMTP configured but unreachable: 503 after the first attempt, the mail called back, a problem recorded; fixed, it is resolved', async () => {
    const org = await createOrg(world, 'Down');
    const closed = await freePort();
    await notificationsVia(world, org.id, 'down-smtp', closed);
    const started = Date.now();
    const known = await anon.post('/api/auth/password-reset', { email: org.user.email });
    assert.equal(known.status, 503, known.text);
    assert.equal(known.json.code, 'PASSWORD_RESET_UNAVAILABLE');
    assert.ok(Date.now() - started < 10_000, 'answered after the first attempt, not after the whole wait');

    const problems = (await org.admin.client.get('/api/problems')).json.problems as Array<{ kind: string; message: string; fix: string }>;
    const p = problems.find((x) => x.kind === PASSWORD_RESET_UNAVAILABLE);
    assert.ok(p);
    assert.match(p.message, /SMTP service "down-smtp" \[MAIL_HOST_UNREACHABLE\]/);
    assert.match(p.fix, /running and reachable/);
    const messages = await world.outbox.list(org.id);
    assert.equal(messages.length, 1);
    assert.equal(messages[0]!.status, 'cancelled', 'a reset mail that was answered 503 must not arrive later');

    // Unknown addresses of the organisation: the same answer while the problem is open.
    const unknown = await anon.post('/api/auth/password-reset', { email: 'ghost@down.example' });
    assert.equal(unknown.status, 503);
    assert.equal(unknown.text, known.text);

    // Fixed: a working service for notifications; the next request goes through and resolves it.
    await notificationsVia(world, org.id, 'up-smtp', postfix.port);
    const ok = await anon.post('/api/auth/password-reset', { email: org.user.email });
    assert.equal(ok.status, 202, ok.text);
    await mailsTo(org.user.email, 1);
    assert.deepEqual((await org.admin.client.get('/api/problems')).json.problems, []);
    const all = (await org.admin.client.get('/api/problems?all=true')).json.problems as Array<{ kind: string; resolvedAt: string | null }>;
    assert.ok(all.find((x) => x.kind === PASSWORD_RESET_UNAVAILABLE)?.resolvedAt);
    const again = await anon.post('/api/auth/password-reset', { email: 'ghost@down.example' });
    assert.equal(again.status, 202);
  });

  test('rate limits: 3 requests per address, then 429 RATE_LIMITED with Retry-After (known or not)', async () => {
    // An unknown address and a known one (whose earlier request went through another instance).
    for (const email of ['limited@acme.example', acme.admin.email]) {
      for (let i = 0; i < 3; i++) {
        const res = await anon.post('/api/auth/password-reset', { email });
        assert.equal(res.status, 202, `${email} #${i + 1}: ${res.text}`);
      }
      const limited = await anon.post('/api/auth/password-reset', { email });
      assert.equal(limited.status, 429, limited.text);
      assert.equal(limited.json.code, 'RATE_LIMITED');
      assert.match(limited.json.message, /Too many password reset requests for this address/);
      assert.ok(Number(limited.headers.get('retry-after')) > 3000);
    }
  });

  test('rate limits: 10 requests per client IP', async () => {
    const reset = createPasswordReset({ store: world.app.store, outbox: world.outbox, log: world.log, publicUrl: world.baseUrl }, { sleep: async () => undefined });
    for (let i = 0; i < 10; i++) await reset.request({ email: `probe${i}@unrelated.example`, ip: '203.0.113.9' });
    await assert.rejects(reset.request({ email: 'probe10@unrelated.example', ip: '203.0.113.9' }), (err: unknown) => {
      assert.ok(isAppError(err) && err.code === 'RATE_LIMITED' && err.httpStatus === 429);
      assert.match(err.message, /from your network/);
      return true;
    });
    // Another client is not affected.
    assert.deepEqual(await reset.request({ email: 'probe10@unrelated.example', ip: '203.0.113.10' }), { status: 'sent-if-registered' });
  });
});
