import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { jsonLines, run, sampleMessage, serve, tempDataDir, type ServeProcess } from './helpers.ts';

const lastLine = (text: string) => text.trimEnd().split('\n').at(-1) ?? '';

describe('mailroom orgs / users / tokens / cabinets', () => {
  let data: Awaited<ReturnType<typeof tempDataDir>>;
  before(async () => {
    data = await tempDataDir();
  });
  after(async () => {
    await data.cleanup();
  });

  it('adds and lists organisations; the generated key file is private', async () => {
    const added = await run(data.dir, ['orgs', 'add', 'Acme']);
    assert.equal(added.code, 0, added.err);
    assert.match(added.out, /Created organisation "Acme"/);
    const mode = (await stat(join(data.dir, 'secret.key'))).mode & 0o777;
    assert.equal(mode, 0o600, `secret.key mode is ${mode.toString(8)}`);

    const again = await run(data.dir, ['orgs', 'add', 'Acme']);
    assert.equal(again.code, 2);
    assert.match(again.err, /^error \[ORG_EXISTS\]: .*"Acme"/m);
    const bad = await run(data.dir, ['orgs', 'add', 'a/b']);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /^error \[VALIDATION_FAILED\]/m);

    const list = await run(data.dir, ['orgs', 'list', '--json']);
    assert.equal(list.code, 0, list.err);
    assert.equal(list.err, '');
    const orgs = jsonLines<{ id: string; name: string; createdAt: string }>(list.out);
    assert.ok(orgs.some((o) => o.name === 'Acme' && typeof o.id === 'string'));
    const human = await run(data.dir, ['orgs', 'list']);
    assert.match(human.out, /^NAME\s+ID\s+CREATED$/m);
    assert.match(human.out, /^Acme\s/m);
  });

  it('adds users (password from stdin) and keeps them per organisation', async () => {
    const bob = await run(data.dir, ['users', 'add', 'Bob@Example.com', '--role', 'user', '--name', 'Bob Builder', '--language', 'de', '--password-stdin'], { stdin: 'correct horse battery\n' });
    assert.equal(bob.code, 0, bob.err);
    assert.match(bob.out, /Added user bob@example\.com to organisation "default"/);
    const carol = await run(data.dir, ['users', 'add', 'carol@acme.test', '--org', 'Acme', '--role', 'admin', '--password-stdin'], { stdin: 'another password\r\n' });
    assert.equal(carol.code, 0, carol.err);
    assert.match(carol.out, /to organisation "Acme"/);

    const defaults = jsonLines<{ email: string; name: string; role: string; language: string }>((await run(data.dir, ['users', 'list', '--json'])).out);
    assert.deepEqual(defaults.map((u) => [u.email, u.name, u.role, u.language]), [['bob@example.com', 'Bob Builder', 'user', 'de']]);
    const acme = jsonLines<{ email: string; role: string }>((await run(data.dir, ['--org', 'Acme', 'users', 'list', '--json'])).out);
    assert.deepEqual(acme.map((u) => [u.email, u.role]), [['carol@acme.test', 'admin']]);

    const dup = await run(data.dir, ['users', 'add', 'bob@example.com', '--role', 'user', '--password-stdin'], { stdin: 'whatever123' });
    assert.equal(dup.code, 2);
    assert.match(dup.err, /^error \[USER_EXISTS\]/m);
    const short = await run(data.dir, ['users', 'add', 'dan@example.com', '--role', 'user', '--password-stdin'], { stdin: 'short\n' });
    assert.equal(short.code, 2);
    assert.match(short.err, /^error \[VALIDATION_FAILED\]: The password must be at least 8/m);
    const role = await run(data.dir, ['users', 'add', 'dan@example.com', '--role', 'boss', '--password-stdin'], { stdin: 'long enough' });
    assert.equal(role.code, 2);
    assert.match(role.err, /boss/);
    const noOrg = await run(data.dir, ['users', 'add', 'dan@example.com', '--org', 'Nowhere', '--role', 'user', '--password-stdin'], { stdin: 'long enough' });
    assert.equal(noOrg.code, 2);
    assert.match(noOrg.err, /^error \[ORG_NOT_FOUND\]: .*"Nowhere"/m);
  });

  it('adds and lists cabinets per organisation', async () => {
    const added = await run(data.dir, ['cabinets', 'add', 'Invoices']);
    assert.equal(added.code, 0, added.err);
    assert.match(added.out, /Created file cabinet "Invoices"/);
    const dup = await run(data.dir, ['cabinets', 'add', 'Invoices']);
    assert.equal(dup.code, 2);
    assert.match(dup.err, /^error \[CABINET_EXISTS\]/m);
    const list = jsonLines<{ name: string; documentCount: number }>((await run(data.dir, ['cabinets', 'list', '--json'])).out);
    assert.deepEqual(list.map((c) => [c.name, c.documentCount]), [['Invoices', 0]]);
    const acme = await run(data.dir, ['--org', 'Acme', 'cabinets', 'list', '--json']);
    assert.equal(acme.code, 0, acme.err);
    assert.equal(acme.out, '');
    const human = await run(data.dir, ['cabinets', 'list']);
    assert.match(human.out, /^Invoices\s+0\s/m);
  });

  describe('API tokens against a running server', () => {
    let server: ServeProcess;
    before(async () => {
      server = await serve(data.dir);
    });
    after(async () => {
      assert.equal(await server.stop(), 0);
    });

    const me = (token: string) => fetch(`${server.url}/api/auth/me`, { headers: { authorization: `Bearer ${token}` } });

    it('creates a token printed on the last line that authenticates as the user, lists and revokes it', async () => {
      const created = await run(data.dir, ['tokens', 'create', '--user', 'bob@example.com', '--name', 'laptop']);
      assert.equal(created.code, 0, created.err);
      const token = lastLine(created.out);
      assert.match(token, /^mrt_\S+$/);

      const res = await me(token);
      assert.equal(res.status, 200);
      const body = (await res.json()) as { user: { email: string }; org: { name: string } };
      assert.equal(body.user.email, 'bob@example.com');
      assert.equal(body.org.name, 'default');
      const cabinets = await fetch(`${server.url}/api/cabinets`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(cabinets.status, 200);
      assert.match(await cabinets.text(), /Invoices/);

      // A message uploaded through the API with the token comes back byte for byte from the CLI.
      const [cabinet] = jsonLines<{ id: string }>((await run(data.dir, ['cabinets', 'list', '--json'])).out);
      const raw = sampleMessage({ messageId: 'upload-1@example.org', subject: 'Hochgeladen über die API' });
      const upload = await fetch(`${server.url}/api/documents?cabinet=${cabinet!.id}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'message/rfc822' },
        body: raw,
      });
      assert.equal(upload.status, 201, await upload.clone().text());
      const { document } = (await upload.json()) as { document: { id: string } };
      const eml = await run(data.dir, ['doc', 'eml', document.id]);
      assert.equal(eml.code, 0, eml.err);
      assert.equal(createHash('sha256').update(eml.stdout).digest('hex'), createHash('sha256').update(raw).digest('hex'));
      const found = jsonLines<{ id: string; subject: string }>((await run(data.dir, ['search', 'hochgeladen', '--cabinet', 'Invoices', '--json'])).out);
      assert.deepEqual(found.map((d) => [d.id, d.subject]), [[document.id, 'Hochgeladen über die API']]);
      assert.equal((await run(data.dir, ['--org', 'Acme', 'search', 'hochgeladen', '--json'])).out, '');

      const listed = await run(data.dir, ['tokens', 'list', '--user', 'bob@example.com', '--json']);
      assert.equal(listed.code, 0, listed.err);
      assert.ok(!listed.out.includes(token));
      const tokens = jsonLines<{ id: string; name: string; lastUsedAt: string | null }>(listed.out);
      assert.equal(tokens.length, 1);
      assert.equal(tokens[0]!.name, 'laptop');
      assert.ok(tokens[0]!.lastUsedAt);

      const revoked = await run(data.dir, ['tokens', 'revoke', tokens[0]!.id, '--user', 'bob@example.com']);
      assert.equal(revoked.code, 0, revoked.err);
      assert.equal((await me(token)).status, 401);
      const again = await run(data.dir, ['tokens', 'revoke', tokens[0]!.id, '--user', 'bob@example.com']);
      assert.equal(again.code, 2);
      assert.equal(jsonLines((await run(data.dir, ['tokens', 'list', '--user', 'bob@example.com', '--json'])).out).length, 0);
    });

    it("scopes tokens to the user's organisation", async () => {
      const wrongOrg = await run(data.dir, ['--org', 'Acme', 'tokens', 'create', '--user', 'bob@example.com']);
      assert.equal(wrongOrg.code, 2);
      assert.equal(wrongOrg.out, '');
      assert.match(wrongOrg.err, /^error \[USER_NOT_FOUND\]: .*"Acme"/m);

      const carol = await run(data.dir, ['--org', 'Acme', 'tokens', 'create', '--user', 'carol@acme.test']);
      assert.equal(carol.code, 0, carol.err);
      const res = await me(lastLine(carol.out));
      assert.equal(res.status, 200);
      assert.equal(((await res.json()) as { org: { name: string } }).org.name, 'Acme');

      const unknown = await run(data.dir, ['tokens', 'create', '--user', 'nobody@example.com']);
      assert.equal(unknown.code, 2);
      assert.match(unknown.err, /^error \[USER_NOT_FOUND\]/m);
    });

    it('stored the password from stdin without its line break', async () => {
      const login = (email: string, password: string) =>
        fetch(`${server.url}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password }) });
      assert.equal((await login('bob@example.com', 'correct horse battery')).status, 200);
      assert.equal((await login('carol@acme.test', 'another password')).status, 200);
      assert.equal((await login('bob@example.com', 'correct horse battery\n')).status, 401);
    });
  });

  it('reports usage errors with exit code 2', async () => {
    const unknown = await run(data.dir, ['frobnicate']);
    assert.equal(unknown.code, 2);
    const missing = await run(data.dir, ['tokens', 'create']);
    assert.equal(missing.code, 2);
    assert.match(missing.err, /--user/);
  });
});
