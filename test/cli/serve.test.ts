import { strict as assert } from 'node:assert';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { run, serve, tempDataDir } from './helpers.ts';

describe('mailroom serve', () => {
  let data: Awaited<ReturnType<typeof tempDataDir>>;
  before(async () => {
    data = await tempDataDir();
  });
  after(async () => {
    await data.cleanup();
  });

  it('prints the first admin password once, answers /api/health and stops on SIGTERM', async () => {
    const first = await serve(data.dir);
    let password: string;
    try {
      const out = first.stdout();
      assert.match(out, /save this password now; it is not shown again/i);
      assert.match(out, /e-mail:\s+admin@localhost/);
      const m = /password:\s+(\S+)/.exec(out);
      assert.ok(m, out);
      password = m[1]!;
      assert.ok(password.length >= 16);
      assert.match(first.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      const health = await fetch(`${first.url}/api/health`);
      assert.equal(health.status, 200);
      // The password is not logged (logs go to stderr).
      assert.ok(!first.stderr().includes(password));
    } finally {
      assert.equal(await first.stop('SIGTERM'), 0);
    }

    const mode = (await stat(join(data.dir, 'secret.key'))).mode & 0o777;
    assert.equal(mode, 0o600, `secret.key mode is ${mode.toString(8)}`);

    const second = await serve(data.dir);
    try {
      assert.doesNotMatch(second.stdout(), /password/i);
      assert.ok(!second.stdout().includes(password));
      const health = await fetch(`${second.url}/api/health`);
      assert.equal(health.status, 200);
    } finally {
      assert.equal(await second.stop('SIGINT'), 0);
    }
  });

  it('fails with a clear error when the port is taken', async () => {
    const first = await serve(data.dir);
    try {
      const port = new URL(first.url).port;
      const r = await run(data.dir, ['serve', '--host', '127.0.0.1', '--port', port]);
      assert.equal(r.code, 2, r.err);
      assert.match(r.err, new RegExp(`^error \\[CONFIG_INVALID\\]: Port ${port} on 127\\.0\\.0\\.1 is already in use`, 'm'));
    } finally {
      await first.stop();
    }
  });

  it('rejects an invalid port as bad input', async () => {
    const r = await run(data.dir, ['serve', '--port', 'eighty']);
    assert.equal(r.code, 2);
    assert.match(r.err, /^error \[VALIDATION_FAILED\]: --port/m);
  });
});
