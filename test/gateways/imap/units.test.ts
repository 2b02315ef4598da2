/**
 * The pure parts of the IMAP gateway, without a server: modified UTF-7, the error table,
 * fingerprints, UID sets, page ranges, attachment detection, keyword checks, back-off.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { AppError } from '../../../src/errors/index.ts';
import { checkKeyword } from '../../../src/gateways/imap/actions.ts';
import { pageRange } from '../../../src/gateways/imap/browse.ts';
import { translateImapError, type ErrorContext } from '../../../src/gateways/imap/errors.ts';
import { backoffDelay } from '../../../src/gateways/imap/idle.ts';
import { openImapSource, type ImapLogger } from '../../../src/gateways/imap/index.ts';
import { createLogger, type Logger } from '../../../src/log/index.ts';
import { freePort } from '../../support/peers/apt.ts';
import { toSearchQuery } from '../../../src/gateways/imap/search.ts';
import { packUids, parseUid } from '../../../src/gateways/imap/session.ts';
import { hasAttachment } from '../../../src/gateways/imap/summary.ts';
import { formatFingerprint, judgeCertificate, normalizeFingerprint } from '../../../src/gateways/imap/tls.ts';
import { decodeModifiedUtf7, encodeModifiedUtf7 } from '../../../src/gateways/imap/utf7.ts';

describe('modified UTF-7 (RFC 3501 §5.1.3)', () => {
  const vectors: Array<[string, string]> = [
    ['INBOX', 'INBOX'],
    ['März 2026', 'M&AOQ-rz 2026'],
    ['日本語', '&ZeVnLIqe-'],
    ['Привет', '&BB8EQAQ4BDIENQRC-'],
    ['A&B', 'A&-B'],
    ['~peter/mail/台北/日本語', '~peter/mail/&U,BTFw-/&ZeVnLIqe-'], // the RFC's own example
    ['Grüße & 📎', 'Gr&APwA3w-e &- &2D3czg-'],
  ];
  for (const [unicode, wire] of vectors) {
    test(`${unicode} <-> ${wire}`, () => {
      assert.equal(encodeModifiedUtf7(unicode), wire);
      assert.equal(decodeModifiedUtf7(wire), unicode);
    });
  }
  test('invalid input is reported as null, not garbage', () => {
    assert.equal(decodeModifiedUtf7('&ZeVnLIqe'), null); // unterminated
    assert.equal(decodeModifiedUtf7('&Ze/n-'), null); // "/" is not modified base64
    assert.equal(decodeModifiedUtf7('&AA-'), null); // odd byte count
  });
});

describe('error translation table', () => {
  const ctx: ErrorContext = { host: 'imap.example.test', port: 993, security: 'tls', user: 'alice@example.test', authType: 'basic' };
  const err = (props: Record<string, unknown>, message = 'x'): Error => Object.assign(new Error(message), props);
  const cases: Array<[string, Record<string, unknown>, string, boolean]> = [
    ['auth failure', { authenticationFailed: true, serverResponseCode: 'AUTHENTICATIONFAILED' }, 'MAIL_AUTH_FAILED', false],
    ['refused', { code: 'ECONNREFUSED' }, 'MAIL_HOST_UNREACHABLE', true],
    ['dns', { code: 'ENOTFOUND' }, 'MAIL_HOST_UNREACHABLE', true],
    ['connect timeout', { code: 'CONNECT_TIMEOUT' }, 'MAIL_TIMEOUT', true],
    ['greeting timeout', { code: 'GREETING_TIMEOUT' }, 'MAIL_TIMEOUT', true],
    ['dropped', { code: 'NoConnection' }, 'MAIL_CONNECTION_LOST', true],
    ['reset', { code: 'ECONNRESET' }, 'MAIL_CONNECTION_LOST', true],
    ['self-signed', { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }, 'MAIL_TLS_FAILED', false],
    ['wrong port for TLS', { code: 'ERR_SSL_WRONG_VERSION_NUMBER' }, 'MAIL_TLS_FAILED', false],
    ['missing folder', { mailboxMissing: true, responseStatus: 'NO' }, 'MAIL_FOLDER_NOT_FOUND', false],
    ['refused command', { responseStatus: 'NO', responseText: 'Permission denied' }, 'MAIL_PROTOCOL_ERROR', false],
    ['parser', { code: 'ParserError3' }, 'MAIL_PROTOCOL_ERROR', false],
  ];
  for (const [name, props, code, transient] of cases) {
    test(`${name} -> ${code}`, () => {
      const e = translateImapError(err(props), ctx);
      assert.equal(e.code, code);
      assert.equal(e.details?.['transient'], transient);
      assert.match(e.message, /imap\.example\.test/);
    });
  }
  test('STARTTLS not offered is a TLS failure that says so', () => {
    const e = translateImapError(err({ tlsFailed: true }, 'Server does not support STARTTLS'), { ...ctx, security: 'starttls', port: 143 });
    assert.equal(e.code, 'MAIL_TLS_FAILED');
    assert.match(e.message, /does not offer STARTTLS/);
  });
  test('OAuth2 failures talk about the token, not a password', () => {
    const e = translateImapError(err({ authenticationFailed: true }), { ...ctx, authType: 'oauth2' });
    assert.match(e.message, /access token/);
  });
  test('AppErrors pass through; unknown errors become INTERNAL', () => {
    const own = new AppError('MAIL_TLS_FINGERPRINT_MISMATCH', 'x');
    assert.equal(translateImapError(own, ctx), own);
    assert.equal(translateImapError(new TypeError('bug'), ctx).code, 'INTERNAL');
  });
});

describe('TLS pinning', () => {
  const fp = 'CE:74:E8:39:37:4A:03:E6:54:DF:C3:91:55:AD:C3:8E:4A:C0:3A:C1:B2:D1:5C:60:9E:F1:DC:3B:B4:15:A1:8C';
  const hex = fp.replace(/:/g, '').toLowerCase();
  test('both fingerprint forms normalise to the same value', () => {
    assert.equal(normalizeFingerprint(fp), hex);
    assert.equal(normalizeFingerprint(hex.toUpperCase()), hex);
    assert.equal(normalizeFingerprint('ab'), null);
    assert.equal(formatFingerprint(hex), fp);
  });
  const target = { host: 'h', port: 993 };
  const peer = { authorized: false, authorizationError: 'DEPTH_ZERO_SELF_SIGNED_CERT', fingerprint256: fp };
  test('verify refuses an unauthorized certificate, pin accepts it, insecure ignores it', () => {
    assert.equal(judgeCertificate({ mode: 'verify' }, target, peer)?.code, 'MAIL_TLS_FAILED');
    assert.equal(judgeCertificate({ mode: 'fingerprint', sha256: hex }, target, peer), null);
    assert.equal(judgeCertificate({ mode: 'fingerprint', sha256: '00'.repeat(32) }, target, peer)?.code, 'MAIL_TLS_FINGERPRINT_MISMATCH');
    assert.equal(judgeCertificate({ mode: 'insecure' }, target, peer), null);
    assert.equal(judgeCertificate({ mode: 'verify' }, target, { ...peer, authorized: true }), null);
  });
});

describe('small helpers', () => {
  test('UID sets are packed into ranges', () => {
    assert.equal(packUids([5, 1, 2, 3, 9, 10, 3]), '1:3,5,9:10');
    assert.equal(packUids([42]), '42');
  });
  test('only decimal 32-bit UIDs are keys', () => {
    assert.equal(parseUid('17'), 17);
    assert.equal(parseUid('0'), null);
    assert.equal(parseUid('1e3'), null);
    assert.equal(parseUid('4294967296'), null);
  });
  test('newest-first pages map to sequence ranges', () => {
    assert.deepEqual(pageRange(100, 0, 10), { from: 91, to: 100 });
    assert.deepEqual(pageRange(100, 95, 10), { from: 1, to: 5 });
    assert.equal(pageRange(100, 100, 10), null);
    assert.equal(pageRange(0, 0, 10), null);
  });
  test('attachments: a disposition or a file name anywhere in the tree', () => {
    assert.equal(hasAttachment({ type: 'text/plain' }), false);
    assert.equal(hasAttachment({ type: 'multipart/mixed', childNodes: [{ type: 'text/plain' }, { type: 'application/pdf', disposition: 'attachment' }] }), true);
    assert.equal(hasAttachment({ type: 'multipart/mixed', childNodes: [{ type: 'image/png', disposition: 'inline', dispositionParameters: { filename: 'a.png' } }] }), true);
    assert.equal(hasAttachment({ type: 'multipart/alternative', childNodes: [{ type: 'application/pdf', parameters: { name: 'r.pdf' } }] }), true);
    const forwarded = { type: 'message/rfc822', disposition: 'attachment', childNodes: [{ type: 'text/plain' }] };
    assert.equal(hasAttachment({ type: 'multipart/mixed', childNodes: [{ type: 'text/plain' }, forwarded] }), true);
    assert.equal(hasAttachment({ type: 'multipart/alternative', childNodes: [{ type: 'text/plain' }, { type: 'text/html' }] }), false);
  });
  test('keywords must be IMAP atoms', () => {
    checkKeyword('$Archived');
    checkKeyword('Mailroom_Archived');
    for (const bad of ['has space', '\\Seen', 'a(b', 'Grüße', 'x*', '']) {
      assert.throws(() => checkKeyword(bad), (e: unknown) => e instanceof AppError && e.code === 'VALIDATION_FAILED', bad);
    }
  });
  test('search criteria map to imapflow keys', () => {
    assert.deepEqual(toSearchQuery({ unseen: true, subject: 'Grüße', from: 'a@x', to: 'b@y', since: '2026-03-01', before: '2026-04-01' }), {
      seen: false,
      subject: 'Grüße',
      from: 'a@x',
      to: 'b@y',
      since: new Date('2026-03-01'),
      before: new Date('2026-04-01'),
    });
    assert.throws(() => toSearchQuery({ since: 'yesterday' }), /ISO date/);
  });
  test('reconnect back-off doubles from 1 s up to 60 s', () => {
    assert.deepEqual([0, 1, 2, 3, 5, 6, 7, 20].map(backoffDelay), [1000, 2000, 4000, 8000, 32000, 60000, 60000, 60000]);
  });
});

describe('logger', () => {
  test('a pino logger fits the gateway logger type, and imapflow entries reach it', async () => {
    // Compile-time: the app's pino Logger is accepted as it is.
    const asGatewayLogger = (l: Logger): ImapLogger => l;
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    });
    const logger = asGatewayLogger(createLogger('debug', sink));
    await assert.rejects(openImapSource({ host: '127.0.0.1', port: await freePort(), security: 'none', tls: { mode: 'verify' }, auth: { type: 'basic', user: 'u', password: 'pw-not-logged' } }, { logger }));
    assert.ok(lines.some((l) => l.includes('"component":"imap"')), lines.join(''));
    assert.ok(!lines.join('').includes('pw-not-logged'));
  });
});
