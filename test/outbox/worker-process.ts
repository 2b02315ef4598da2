/**
 * A send worker in a process of its own, for kill.test.ts: `node --import tsx
 * test/outbox/worker-process.ts <dataDir> forever|drain <concurrency> <leaseMs>`. The system
 * default SMTP comes from MAILROOM_SMTP_* in the environment; MAILROOM_SECRET_KEY is shared.
 * `forever` runs the worker until the process is killed; `drain` sends until nothing is left
 * that is due or claimed, prints `{"sent":n,...}` and exits.
 */
import { harness, sleep } from './support.ts';

const [dataDir, mode, concurrency, leaseMs] = process.argv.slice(2);
if (!dataDir || (mode !== 'forever' && mode !== 'drain')) {
  process.stderr.write('usage: worker-process.ts <dataDir> forever|drain <concurrency> <leaseMs>\n');
  process.exit(2);
}
const env: Record<string, string> = {};
for (const [k, v] of Object.entries(process.env)) if (k.startsWith('MAILROOM_SMTP_') && v !== undefined) env[k] = v;
const h = await harness({ dataDir, env, options: { concurrency: Number(concurrency ?? 8), leaseMs: Number(leaseMs ?? 2000), workerId: `process-${process.pid}` } });

if (mode === 'forever') {
  h.outbox.worker.start();
  process.stdout.write('started\n');
  setInterval(() => undefined, 1 << 30);
} else {
  const total = { sent: 0, deferred: 0, failed: 0 };
  for (;;) {
    const s = await h.outbox.worker.drain();
    total.sent += s.sent;
    total.deferred += s.deferred;
    total.failed += s.failed;
    const c = await h.outbox.counts();
    if (c.queued + c.deferred + c.sending === 0) break;
    await sleep(50);
  }
  process.stdout.write(`${JSON.stringify(total)}\n`);
  await h.cleanup();
}
