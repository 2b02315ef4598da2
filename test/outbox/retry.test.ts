/** The retry policy: a pure function, checked as a table. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AppError } from '../../src/errors/index.ts';
import { classifySmtpError } from '../../src/gateways/smtp/index.ts';
import {
  baseDelayMs,
  decideRetry,
  failureOf,
  RETRY_EVERY_MS,
  RETRY_JITTER,
  RETRY_SCHEDULE_MS,
  RETRY_WINDOW_MS,
  withJitter,
} from '../../src/outbox/index.ts';

const M = 60_000;
const H = 60 * M;
const T0 = Date.parse('2026-03-01T08:00:00.000Z');
const GIVE_UP = T0 + RETRY_WINDOW_MS;
const mid = (): number => 0.5; // no jitter
const low = (): number => 0; // -10 %
const high = (): number => 0.999999; // +10 %

describe('retry schedule', () => {
  test('is 1 m, 5 m, 15 m, 1 h, 4 h, then every 4 h, within 24 h', () => {
    assert.deepEqual(RETRY_SCHEDULE_MS, [1 * M, 5 * M, 15 * M, 1 * H, 4 * H]);
    assert.equal(RETRY_EVERY_MS, 4 * H);
    assert.equal(RETRY_WINDOW_MS, 24 * H);
    assert.equal(RETRY_JITTER, 0.1);
  });

  const table: Array<[failures: number, wait: number]> = [
    [1, 1 * M],
    [2, 5 * M],
    [3, 15 * M],
    [4, 1 * H],
    [5, 4 * H],
    [6, 4 * H],
    [7, 4 * H],
    [20, 4 * H],
  ];
  for (const [failures, wait] of table) {
    test(`after failure ${failures} the wait is ${wait / M} min`, () => {
      assert.equal(baseDelayMs(failures), wait);
      assert.deepEqual(decideRetry({ permanent: false, failures, now: T0, giveUpAt: GIVE_UP, random: mid }), { action: 'retry', at: T0 + wait, delayMs: wait });
    });
  }

  test('jitter stays within ±10 %', () => {
    for (const wait of [1 * M, 5 * M, 4 * H]) {
      assert.equal(withJitter(wait, low), Math.round(wait * 0.9));
      assert.equal(withJitter(wait, mid), wait);
      assert.ok(Math.abs(withJitter(wait, high) - wait * 1.1) <= wait * 1e-5);
      for (let i = 0; i < 200; i++) {
        const d = withJitter(wait, Math.random);
        assert.ok(d >= wait * 0.9 - 1 && d <= wait * 1.1 + 1, `${d} for ${wait}`);
      }
    }
  });
});

describe('retry decision', () => {
  const cases: Array<{ name: string; permanent: boolean; failures: number; now: number; want: ReturnType<typeof decideRetry> }> = [
    { name: 'a permanent failure fails at once', permanent: true, failures: 1, now: T0, want: { action: 'fail', reason: 'permanent' } },
    { name: 'a permanent failure fails even on a late attempt', permanent: true, failures: 5, now: T0 + 2 * H, want: { action: 'fail', reason: 'permanent' } },
    { name: 'a transient failure right after enqueue waits 1 m', permanent: false, failures: 1, now: T0 + 1000, want: { action: 'retry', at: T0 + 1000 + M, delayMs: M } },
    { name: 'a transient failure 23 h in waits up to the 24 h mark, not beyond', permanent: false, failures: 9, now: T0 + 23 * H, want: { action: 'retry', at: GIVE_UP, delayMs: H } },
    { name: 'a transient failure at exactly 24 h fails', permanent: false, failures: 10, now: GIVE_UP, want: { action: 'fail', reason: 'expired' } },
    { name: 'a transient failure after 24 h fails', permanent: false, failures: 10, now: GIVE_UP + 5 * M, want: { action: 'fail', reason: 'expired' } },
  ];
  for (const c of cases) {
    test(c.name, () => {
      assert.deepEqual(decideRetry({ permanent: c.permanent, failures: c.failures, now: c.now, giveUpAt: GIVE_UP, random: mid }), c.want);
    });
  }

  test('a message failing transiently every time is attempted 10 times and fails at 24 h', () => {
    let now = T0;
    const attempts: number[] = [];
    for (let failures = 1; ; failures++) {
      attempts.push(now - T0);
      const d = decideRetry({ permanent: false, failures, now, giveUpAt: GIVE_UP, random: mid });
      if (d.action === 'fail') {
        assert.equal(d.reason, 'expired');
        break;
      }
      now = d.at;
    }
    // 0, 1 m, 6 m, 21 m, 1 h 21 m, 5 h 21, 9 h 21, 13 h 21, 17 h 21, 21 h 21, then the final one at 24 h.
    assert.deepEqual(
      attempts.map((ms) => ms / M),
      [0, 1, 6, 21, 81, 321, 561, 801, 1041, 1281, 1440],
    );
  });
});

describe('failure classification (what a send threw → permanent or not)', () => {
  const rows: Array<{ name: string; err: unknown; permanent: boolean; code: string }> = [
    { name: '4xx reply', err: Object.assign(new Error('Message failed: 451 4.3.0 try later'), { code: 'EMESSAGE', responseCode: 451, response: '451 4.3.0 try later' }), permanent: false, code: 'MAIL_SEND_TRANSIENT' },
    { name: '5xx reply', err: Object.assign(new Error('Recipient rejected'), { code: 'EENVELOPE', responseCode: 550, response: '550 5.1.1 no such user' }), permanent: true, code: 'MAIL_SEND_PERMANENT' },
    { name: 'connection refused', err: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ESOCKET', originalCode: 'ECONNREFUSED' }), permanent: false, code: 'MAIL_HOST_UNREACHABLE' },
    { name: 'connection reset', err: Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }), permanent: false, code: 'MAIL_SEND_TRANSIENT' },
    { name: 'authentication failed', err: Object.assign(new Error('Invalid login'), { code: 'EAUTH', responseCode: 535, response: '535 5.7.8 bad credentials' }), permanent: true, code: 'MAIL_AUTH_FAILED' },
    { name: 'gateway: SMTPUTF8 required', err: new AppError('MAIL_SMTPUTF8_REQUIRED', 'needs SMTPUTF8', { details: { permanent: true, response: null } }), permanent: true, code: 'MAIL_SMTPUTF8_REQUIRED' },
    { name: 'gateway: TLS untrusted', err: new AppError('MAIL_TLS_FAILED', 'untrusted', { details: { permanent: true, response: null, configuration: true } }), permanent: true, code: 'MAIL_TLS_FAILED' },
    { name: 'gateway: transient', err: new AppError('MAIL_SEND_TRANSIENT', 'later', { details: { permanent: false, response: '421 busy' } }), permanent: false, code: 'MAIL_SEND_TRANSIENT' },
    { name: 'our own: the key cannot open the password', err: new AppError('SECRET_DECRYPT_FAILED', 'wrong key'), permanent: false, code: 'SECRET_DECRYPT_FAILED' },
    { name: 'our own: invalid message', err: new AppError('VALIDATION_FAILED', 'bad'), permanent: true, code: 'VALIDATION_FAILED' },
  ];
  for (const r of rows) {
    test(r.name, () => {
      const f = failureOf(r.err, classifySmtpError);
      assert.equal(f.permanent, r.permanent);
      assert.equal(f.code, r.code);
      assert.ok(f.message.length > 0);
    });
  }
});
