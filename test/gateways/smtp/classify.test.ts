/**
 * Pure parts of the SMTP gateway: error classification (a table, like emailengine's
 * delivery-error tests), EHLO parsing, queue ids, fingerprints, envelope preparation.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { AppError } from '../../../src/errors/index.ts';
import {
  classifySmtpError,
  normalizeFingerprint,
  parseEhlo,
  parseQueueId,
  toWireEnvelope,
  utf8AddressHeaders,
} from '../../../src/gateways/smtp/index.ts';

/** A nodemailer-shaped error. */
function nm(fields: { code?: string; originalCode?: string; response?: string; responseCode?: number; command?: string; timeoutType?: string }, message = 'failed'): Error {
  return Object.assign(new Error(message), fields);
}
function sys(code: string, message = code): Error {
  return Object.assign(new Error(message), { code });
}

const TABLE: Array<{ name: string; err: unknown; code: string; permanent: boolean; configuration?: boolean }> = [
  // permanent rejections
  { name: '550 recipient unknown', err: nm({ code: 'EENVELOPE', response: '550 5.1.1 <x@example.test>: Recipient address rejected: User unknown', responseCode: 550, command: 'RCPT TO' }), code: 'MAIL_SEND_PERMANENT', permanent: true },
  { name: '554 transaction failed after DATA', err: nm({ code: 'EMESSAGE', response: '554 5.7.1 Spam message rejected', responseCode: 554, command: 'DATA' }), code: 'MAIL_SEND_PERMANENT', permanent: true },
  { name: '553 mailbox name not allowed', err: nm({ code: 'EENVELOPE', response: '553 5.1.3 Bad recipient address syntax', responseCode: 553 }), code: 'MAIL_SEND_PERMANENT', permanent: true },
  { name: '5xx without responseCode (parsed from response)', err: nm({ code: 'EENVELOPE', response: '551 5.7.1 Relaying denied' }), code: 'MAIL_SEND_PERMANENT', permanent: true },
  { name: 'local envelope error', err: nm({ code: 'EENVELOPE', command: 'API' }, 'No recipients defined'), code: 'MAIL_SEND_PERMANENT', permanent: true },
  // transient
  { name: '451 local error', err: nm({ code: 'EENVELOPE', response: '451 4.3.0 Temporary lookup failure', responseCode: 451, command: 'RCPT TO' }), code: 'MAIL_SEND_TRANSIENT', permanent: false },
  { name: '450 greylisted', err: nm({ code: 'EENVELOPE', response: '450 4.2.0 <x@example.test>: Recipient address rejected: Greylisted', responseCode: 450 }), code: 'MAIL_SEND_TRANSIENT', permanent: false },
  { name: '421 shutting down', err: nm({ code: 'ECONNECTION', response: '421 4.3.2 Service shutting down', responseCode: 421 }), code: 'MAIL_SEND_TRANSIENT', permanent: false },
  { name: '452 mailbox full (4.2.2)', err: nm({ code: 'EENVELOPE', response: '452 4.2.2 Mailbox full', responseCode: 452 }), code: 'MAIL_SEND_TRANSIENT', permanent: false },
  { name: '503 bad sequence', err: nm({ code: 'EPROTOCOL', response: '503 5.5.1 Error: nested MAIL command', responseCode: 503 }), code: 'MAIL_SEND_TRANSIENT', permanent: false },
  // connection failures
  { name: 'ECONNREFUSED via nodemailer ESOCKET', err: nm({ code: 'ESOCKET', originalCode: 'ECONNREFUSED', command: 'CONN' }, 'connect ECONNREFUSED 127.0.0.1:25'), code: 'MAIL_HOST_UNREACHABLE', permanent: false },
  { name: 'bare ECONNREFUSED', err: sys('ECONNREFUSED'), code: 'MAIL_HOST_UNREACHABLE', permanent: false },
  { name: 'EDNS', err: nm({ code: 'EDNS', originalCode: 'ENOTFOUND' }, 'getaddrinfo ENOTFOUND smtp.nowhere.invalid'), code: 'MAIL_HOST_UNREACHABLE', permanent: false },
  { name: 'EHOSTUNREACH', err: sys('EHOSTUNREACH'), code: 'MAIL_HOST_UNREACHABLE', permanent: false },
  { name: 'connect timeout', err: nm({ code: 'ETIMEDOUT', timeoutType: 'CONNECT_TIMEOUT', command: 'CONN' }, 'Connection timeout'), code: 'MAIL_HOST_UNREACHABLE', permanent: false },
  { name: 'greeting timeout', err: nm({ code: 'ETIMEDOUT', timeoutType: 'GREETING_TIMEOUT', command: 'CONN' }, 'Greeting never received'), code: 'MAIL_SEND_TRANSIENT', permanent: false },
  { name: 'ECONNRESET', err: nm({ code: 'ESOCKET', originalCode: 'ECONNRESET' }, 'read ECONNRESET'), code: 'MAIL_SEND_TRANSIENT', permanent: false },
  { name: 'connection closed', err: nm({ code: 'ECONNECTION', command: 'CONN' }, 'Connection closed unexpectedly'), code: 'MAIL_SEND_TRANSIENT', permanent: false },
  { name: 'plain ETIMEDOUT system error', err: sys('ETIMEDOUT'), code: 'MAIL_SEND_TRANSIENT', permanent: false },
  // authentication: permanent for the message, and a configuration problem
  { name: '535 invalid credentials', err: nm({ code: 'EAUTH', response: '535 5.7.8 Error: authentication failed: authentication failure', responseCode: 535, command: 'AUTH PLAIN' }, 'Invalid login'), code: 'MAIL_AUTH_FAILED', permanent: true, configuration: true },
  { name: 'Exchange 535 5.7.3', err: nm({ code: 'EAUTH', response: '535 5.7.3 Authentication unsuccessful [AM0PR01CA0001.eurprd01.prod.exchangelabs.com]', responseCode: 535, command: 'AUTH LOGIN' }), code: 'MAIL_AUTH_FAILED', permanent: true, configuration: true },
  { name: '530 authentication required at MAIL FROM', err: nm({ code: 'EENVELOPE', response: '530 5.7.0 Authentication required', responseCode: 530, command: 'MAIL FROM' }), code: 'MAIL_AUTH_FAILED', permanent: true, configuration: true },
  { name: '454 temporary auth failure', err: nm({ code: 'EAUTH', response: '454 4.7.0 Temporary authentication failure', responseCode: 454, command: 'AUTH PLAIN' }), code: 'MAIL_AUTH_FAILED', permanent: false, configuration: false },
  { name: 'missing credentials', err: nm({ code: 'EAUTH', command: 'API' }, 'Missing credentials for "PLAIN"'), code: 'MAIL_AUTH_FAILED', permanent: true, configuration: true },
  // TLS: permanent, configuration
  { name: 'self-signed certificate', err: nm({ code: 'ESOCKET', originalCode: 'DEPTH_ZERO_SELF_SIGNED_CERT', command: 'CONN' }, 'self-signed certificate'), code: 'MAIL_TLS_FAILED', permanent: true, configuration: true },
  { name: 'host name mismatch', err: sys('ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames"), code: 'MAIL_TLS_FAILED', permanent: true, configuration: true },
  { name: 'expired certificate', err: nm({ code: 'ESOCKET', originalCode: 'CERT_HAS_EXPIRED' }, 'certificate has expired'), code: 'MAIL_TLS_FAILED', permanent: true, configuration: true },
  { name: 'TLS on a plain port', err: nm({ code: 'ESOCKET', originalCode: 'ERR_SSL_WRONG_VERSION_NUMBER' }, 'wrong version number'), code: 'MAIL_TLS_FAILED', permanent: true, configuration: true },
  { name: 'STARTTLS refused', err: nm({ code: 'ETLS', response: '502 5.5.1 Error: command not implemented', responseCode: 502, command: 'STARTTLS' }, 'Error upgrading connection with STARTTLS'), code: 'MAIL_TLS_FAILED', permanent: true, configuration: true },
  // size
  { name: '552 5.3.4 message too big', err: nm({ code: 'EMESSAGE', response: '552 5.3.4 Message size exceeds fixed limit', responseCode: 552, command: 'DATA' }), code: 'MAIL_MESSAGE_TOO_LARGE', permanent: true },
  { name: '552 without enhanced code', err: nm({ code: 'EENVELOPE', response: '552 Message size exceeds maximum permitted', responseCode: 552 }), code: 'MAIL_MESSAGE_TOO_LARGE', permanent: true },
  { name: '554 5.3.4', err: nm({ code: 'EMESSAGE', response: '554 5.3.4 Message too big for system', responseCode: 554 }), code: 'MAIL_MESSAGE_TOO_LARGE', permanent: true },
  { name: 'nodemailer local SIZE check', err: nm({ code: 'EMESSAGE', command: 'MAIL FROM' }, 'Message size larger than allowed 1000'), code: 'MAIL_MESSAGE_TOO_LARGE', permanent: true },
  { name: '552 5.2.2 mailbox full is not "too large"', err: nm({ code: 'EENVELOPE', response: '552 5.2.2 Mailbox full', responseCode: 552 }), code: 'MAIL_SEND_PERMANENT', permanent: true },
  // SMTPUTF8
  { name: '553 5.6.7 non-ASCII address', err: nm({ code: 'EENVELOPE', response: '553 5.6.7 Non-ASCII addresses not permitted for that sender', responseCode: 553 }), code: 'MAIL_SMTPUTF8_REQUIRED', permanent: true },
  { name: "nodemailer's rewording", err: nm({ code: 'EENVELOPE', response: '550 mailbox unavailable', responseCode: 550 }, 'Internationalized mailbox name not allowed: 550 mailbox unavailable'), code: 'MAIL_SMTPUTF8_REQUIRED', permanent: true },
  // unknown
  { name: 'unknown error', err: new Error('something odd'), code: 'MAIL_SEND_TRANSIENT', permanent: false },
  { name: 'a string', err: 'weird', code: 'MAIL_SEND_TRANSIENT', permanent: false },
  { name: 'null', err: null, code: 'MAIL_SEND_TRANSIENT', permanent: false },
];

describe('classifySmtpError', () => {
  for (const row of TABLE) {
    it(`${row.name} → ${row.code}, ${row.permanent ? 'permanent' : 'transient'}`, () => {
      const c = classifySmtpError(row.err);
      assert.equal(c.code, row.code, c.message);
      assert.equal(c.permanent, row.permanent);
      if (row.configuration !== undefined) assert.equal(c.configuration, row.configuration);
      assert.equal(typeof c.message, 'string');
      assert.ok(c.message.length > 10);
      const response = (row.err as { response?: string } | null)?.response;
      assert.equal(c.response, response ?? null);
      if (response) assert.ok(c.message.includes(response), 'the message quotes the server reply');
    });
  }

  it('passes AppErrors through with their own verdict', () => {
    const err = new AppError('MAIL_SMTPUTF8_REQUIRED', 'needs SMTPUTF8', { details: { permanent: true, response: null } });
    assert.deepEqual(classifySmtpError(err), { permanent: true, code: 'MAIL_SMTPUTF8_REQUIRED', message: 'needs SMTPUTF8', response: null, configuration: false });
  });

  it('is pure: the same input gives the same answer and the error is not changed', () => {
    const err = nm({ code: 'EENVELOPE', response: '550 no', responseCode: 550 });
    const before = JSON.stringify(Object.entries(err));
    assert.deepEqual(classifySmtpError(err), classifySmtpError(err));
    assert.equal(JSON.stringify(Object.entries(err)), before);
  });
});

describe('parseEhlo', () => {
  it('reads SMTPUTF8, 8BITMIME, SIZE and AUTH from a Postfix EHLO reply', () => {
    const caps = parseEhlo(
      '250-pf.mailroom.test\n250-PIPELINING\n250-SIZE 104857600\n250-VRFY\n250-ETRN\n250-AUTH PLAIN LOGIN XOAUTH2\n' +
        '250-ENHANCEDSTATUSCODES\n250-8BITMIME\n250-DSN\n250 SMTPUTF8',
    );
    assert.equal(caps.smtputf8, true);
    assert.equal(caps.eightBitMime, true);
    assert.equal(caps.maxSize, 104857600);
    assert.deepEqual(caps.authMechanisms, ['PLAIN', 'LOGIN', 'XOAUTH2']);
  });
  it('knows a server without SMTPUTF8 and with SIZE 0 (no limit)', () => {
    const caps = parseEhlo('250-host says hi SMTPUTF8 in the greeting line\n250-SIZE 0\n250 AUTH=LOGIN');
    assert.equal(caps.smtputf8, false, 'the greeting line is not an extension');
    assert.equal(caps.maxSize, null);
    assert.deepEqual(caps.authMechanisms, ['LOGIN']);
  });
  it('handles a HELO-only server', () => {
    assert.deepEqual(parseEhlo('250 mail.example.test'), { smtputf8: false, eightBitMime: false, maxSize: null, authMechanisms: [], extensions: [] });
  });
});

describe('parseQueueId', () => {
  it('finds the queue id in common final replies', () => {
    assert.equal(parseQueueId('250 2.0.0 Ok: queued as 4Xyz9ABC'), '4Xyz9ABC');
    assert.equal(parseQueueId('250 OK: queued as 1QH1Zk-0001Xy-2b'), '1QH1Zk-0001Xy-2b');
    assert.equal(parseQueueId('250 2.0.0 OK  1716200000 d9443c01a7336-1f2f gsmtp'), null);
  });
});

describe('normalizeFingerprint', () => {
  const colon = 'AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89';
  it('accepts colon form in any case and plain hex', () => {
    assert.equal(normalizeFingerprint(colon.toLowerCase()), colon);
    assert.equal(normalizeFingerprint(colon.replace(/:/g, '').toLowerCase()), colon);
    assert.equal(normalizeFingerprint(`sha256:${colon}`), colon);
  });
  it('rejects anything that is not 32 bytes of hex', () => {
    assert.equal(normalizeFingerprint('AB:CD'), null);
    assert.equal(normalizeFingerprint(colon.replace('AB', 'ZZ')), null);
  });
});

describe('toWireEnvelope / utf8AddressHeaders', () => {
  it('sends ASCII local parts with A-label domains (UTS #46) and keeps UTF-8 local parts with NFC domains', () => {
    const w = toWireEnvelope({ from: 'bounce@ｆｕｌｌｗｉｄｔｈ.example', to: ['info@Bücher.example', 'jörg@xn--bcher-kva.example', 'a@example.test'] });
    assert.deepEqual(w, {
      from: 'bounce@fullwidth.example',
      to: ['info@xn--bcher-kva.example', 'jörg@bücher.example', 'a@example.test'],
      utf8Addresses: ['jörg@bücher.example'],
    });
  });
  it('allows the null sender and refuses broken addresses before any connection', () => {
    assert.equal(toWireEnvelope({ from: '', to: ['a@example.test'] }).from, '');
    assert.throws(() => toWireEnvelope({ from: 'a@example.test', to: [] }), /no recipients/);
    assert.throws(() => toWireEnvelope({ from: 'a@example.test', to: ['x@example.test>\r\nRCPT TO:<y@example.test'] }), /Invalid envelope address/);
    assert.throws(() => toWireEnvelope({ from: 'a@example.test', to: ['x@-.example'] }), /not a valid domain/);
  });
  it('finds raw UTF-8 in address headers only', () => {
    const raw = Buffer.from(
      'From: a@example.test\r\nTo: =?UTF-8?Q?J=C3=B6rg?=\r\n <jörg@bücher.example>\r\nSubject: Grüße raw\r\nX-Note: ü\r\n\r\nBody ü\r\n',
      'utf8',
    );
    assert.deepEqual(utf8AddressHeaders(raw), ['To']);
    assert.deepEqual(utf8AddressHeaders(Buffer.from('From: a@example.test\r\nTo: b@example.test\r\n\r\nBödy')), []);
  });
});
