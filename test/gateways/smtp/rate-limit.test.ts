/**
 * The per-sender rate limit, with an injected clock: no real waiting anywhere.
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { composeMessage } from '../../../src/mime/index.ts';
import { createRateLimiter, createSmtpSender, type Clock } from '../../../src/gateways/smtp/index.ts';
import { plainSettings, startSmtpServer, type SmtpServerFixture } from './helpers.ts';

/** A clock whose sleep() advances time instantly and records how long each caller waited. */
function fakeClock(start = 1_000_000): Clock & { sleeps: number[]; advance(ms: number): void } {
  let now = start;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => now,
    advance(ms: number) {
      now += ms;
    },
    async sleep(ms: number) {
      sleeps.push(ms);
      now += ms;
    },
  };
}

describe('createRateLimiter', () => {
  it('lets the first message go at once and spaces the next ones 60000/perMinute ms apart', async () => {
    const clock = fakeClock();
    const limiter = createRateLimiter({ perMinute: 30, clock });
    const waits = [];
    for (let i = 0; i < 5; i++) waits.push(await limiter.take());
    assert.deepEqual(waits, [0, 2000, 2000, 2000, 2000]);
    assert.deepEqual(clock.sleeps, [2000, 2000, 2000, 2000]);
  });

  it('never lets more than perMinute through in any sliding minute', async () => {
    const clock = fakeClock();
    const limiter = createRateLimiter({ perMinute: 30, clock });
    const sentAt: number[] = [];
    for (let i = 0; i < 100; i++) {
      await limiter.take();
      sentAt.push(clock.now());
    }
    for (const t of sentAt) {
      const inWindow = sentAt.filter((s) => s >= t && s < t + 60_000).length;
      assert.ok(inWindow <= 30, `${inWindow} messages in the minute from ${t}`);
    }
  });

  it('refills while idle, up to the burst size only', async () => {
    const clock = fakeClock();
    const limiter = createRateLimiter({ perMinute: 60, burst: 3, clock });
    assert.deepEqual([await limiter.take(), await limiter.take(), await limiter.take()], [0, 0, 0]);
    assert.equal(await limiter.take(), 1000);
    clock.advance(10 * 60_000); // a long pause refills to the burst of 3, not to 600
    assert.deepEqual([await limiter.take(), await limiter.take(), await limiter.take(), await limiter.take()], [0, 0, 0, 1000]);
  });

  it('serves concurrent callers in order, each waiting for its own token (delays, never drops)', async () => {
    let now = 0;
    const pending: Array<{ until: number; resolve: () => void }> = [];
    const clock: Clock = {
      now: () => now,
      sleep: (ms) => new Promise<void>((resolve) => pending.push({ until: now + ms, resolve })),
    };
    const limiter = createRateLimiter({ perMinute: 6, clock }); // one per 10 s
    const done: number[] = [];
    const all = [0, 1, 2, 3].map((i) => limiter.take().then(() => done.push(i)));
    await Promise.resolve();
    assert.deepEqual(pending.map((p) => p.until), [10_000, 20_000, 30_000]);
    for (const p of [...pending].sort((a, b) => a.until - b.until)) {
      now = p.until;
      p.resolve();
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all(all);
    assert.deepEqual(done, [0, 1, 2, 3]);
  });

  it('refuses a non-positive rate', () => {
    assert.throws(() => createRateLimiter({ perMinute: 0 }), RangeError);
  });
});

describe('SMTP sender with rateLimitPerMinute', () => {
  let server: SmtpServerFixture;
  before(async () => {
    server = await startSmtpServer();
  });
  after(async () => {
    await server.close();
  });

  it('delays sends through the limiter (30/min → 2 s apart) and sends every message', async () => {
    const clock = fakeClock();
    const sender = createSmtpSender(plainSettings(server.port), { rateLimitPerMinute: 30, clock, pool: true });
    try {
      const msg = await composeMessage({ from: { address: 'a@example.test' }, to: [{ address: 'b@example.test' }], subject: 'rate', text: 'x' });
      for (let i = 0; i < 4; i++) await sender.send(msg.envelope, msg.raw);
      assert.deepEqual(clock.sleeps, [2000, 2000, 2000]);
      assert.equal(server.events.messages.length, 4);
    } finally {
      await sender.close();
    }
  });
});
