/**
 * The SMTP sender against smtp-server fixtures: server rejections (5xx, 4xx), SMTPUTF8 refusal
 * before MAIL FROM, SIZE, TLS trust (verify / fingerprint / insecure), basic auth and XOAUTH2,
 * and pooling. A recording proxy shows what actually went over the wire.
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { composeMessage, type ComposedMessage } from '../../../src/mime/index.ts';
import { createSmtpSender } from '../../../src/gateways/smtp/index.ts';
import type { ConnectionSettings } from '../../../src/gateways/ports.ts';
import {
  expectAppError,
  makeSelfSignedCert,
  plainSettings,
  smtpReply,
  startRecordingProxy,
  startSmtpServer,
  type SelfSignedCert,
} from './helpers.ts';

async function simpleMessage(to = 'rcpt@example.test'): Promise<ComposedMessage> {
  return composeMessage({ from: { address: 'sender@example.test' }, to: [{ address: to }], subject: 'Grüße', text: 'Hallo Welt – ü' });
}

describe('SMTP sender: server rejections', () => {
  it('a 550 on RCPT TO is permanent (MAIL_SEND_PERMANENT) with the reply in details', async () => {
    const server = await startSmtpServer({ rcpt: () => smtpReply(550, 'No such user here') });
    const sender = createSmtpSender(plainSettings(server.port));
    try {
      const msg = await simpleMessage();
      const err = await expectAppError(sender.send(msg.envelope, msg.raw), 'MAIL_SEND_PERMANENT');
      assert.equal(err.details?.permanent, true);
      assert.match(String(err.details?.response), /^550 No such user here/);
      assert.match(err.message, /^SMTP 127\.0\.0\.1:\d+: .*550 No such user here/);
      assert.equal(server.events.messages.length, 0);
    } finally {
      await sender.close();
      await server.close();
    }
  });

  it('a 451 on RCPT TO is transient (MAIL_SEND_TRANSIENT, permanent: false)', async () => {
    const server = await startSmtpServer({ rcpt: () => smtpReply(451, 'Try again later') });
    const sender = createSmtpSender(plainSettings(server.port));
    try {
      const msg = await simpleMessage();
      const err = await expectAppError(sender.send(msg.envelope, msg.raw), 'MAIL_SEND_TRANSIENT');
      assert.equal(err.details?.permanent, false);
      assert.match(String(err.details?.response), /^451 /);
    } finally {
      await sender.close();
      await server.close();
    }
  });

  it('a 421 on MAIL FROM is transient', async () => {
    const server = await startSmtpServer({ mailFromError: smtpReply(421, 'Too busy, closing') });
    const sender = createSmtpSender(plainSettings(server.port));
    try {
      const msg = await simpleMessage();
      const err = await expectAppError(sender.send(msg.envelope, msg.raw), 'MAIL_SEND_TRANSIENT');
      assert.equal(err.details?.permanent, false);
    } finally {
      await sender.close();
      await server.close();
    }
  });

  it('some recipients rejected: sent, with accepted and rejected listed, queue id parsed', async () => {
    const server = await startSmtpServer({ rcpt: (a) => (a.address.startsWith('bad') ? smtpReply(550, 'Unknown user') : null) });
    const sender = createSmtpSender(plainSettings(server.port));
    try {
      const msg = await composeMessage({
        from: { address: 'sender@example.test' },
        to: [{ address: 'good@example.test' }, { address: 'bad@example.test' }],
        subject: 's',
        text: 't',
      });
      const result = await sender.send(msg.envelope, msg.raw);
      assert.deepEqual(result.accepted, ['good@example.test']);
      assert.deepEqual(result.rejected, ['bad@example.test']);
      assert.match(result.response, /^250 /);
      assert.equal(result.queueId, 'TESTQ1');
    } finally {
      await sender.close();
      await server.close();
    }
  });

  it('a message over the advertised SIZE is refused locally with MAIL_MESSAGE_TOO_LARGE, nothing sent', async () => {
    const server = await startSmtpServer({ size: 2000 });
    const proxy = await startRecordingProxy(server.port);
    const sender = createSmtpSender(plainSettings(proxy.port));
    try {
      const msg = await composeMessage({
        from: { address: 'sender@example.test' },
        to: [{ address: 'rcpt@example.test' }],
        subject: 'big',
        text: 'x',
        attachments: [{ filename: 'big.bin', content: Buffer.alloc(5000, 1) }],
      });
      const err = await expectAppError(sender.send(msg.envelope, msg.raw), 'MAIL_MESSAGE_TOO_LARGE');
      assert.equal(err.details?.permanent, true);
      assert.equal(server.events.mailFrom.length, 0);
      assert.doesNotMatch(proxy.clientText(), /MAIL FROM/i);
    } finally {
      await sender.close();
      await proxy.close();
      await server.close();
    }
  });
});

describe('SMTP sender: SMTPUTF8 enforcement', () => {
  it('refuses a UTF-8 local part when the server hides SMTPUTF8: MAIL_SMTPUTF8_REQUIRED and no MAIL FROM on the wire', async () => {
    const server = await startSmtpServer({ hideSMTPUTF8: true });
    const proxy = await startRecordingProxy(server.port);
    const sender = createSmtpSender(plainSettings(proxy.port), { pool: true });
    try {
      const msg = await composeMessage({ from: { address: 'sender@example.test' }, to: [{ name: 'Jörg', address: 'jörg@bücher.example' }], subject: 's', text: 't' });
      assert.equal(msg.needsSmtpUtf8, true);
      const err = await expectAppError(sender.send(msg.envelope, msg.raw), 'MAIL_SMTPUTF8_REQUIRED');
      assert.equal(err.details?.permanent, true);
      assert.match(err.message, /jörg@bücher\.example/);
      assert.match(err.message, /Nothing was sent/);
      const wire = proxy.clientText();
      assert.match(wire, /^EHLO /m, 'the session got as far as EHLO');
      assert.doesNotMatch(wire, /MAIL FROM/i);
      assert.doesNotMatch(wire, /RCPT TO/i);
      assert.equal(server.events.mailFrom.length, 0);
      assert.equal(server.events.messages.length, 0);

      // The pooled session stays usable for an ASCII message afterwards.
      const ascii = await simpleMessage();
      await sender.send(ascii.envelope, ascii.raw);
      assert.equal(server.events.messages.length, 1);
      assert.equal(proxy.connections(), 1, 'the refusal did not cost the pooled connection');
    } finally {
      await sender.close();
      await proxy.close();
      await server.close();
    }
  });

  it('also refuses raw UTF-8 in address headers when the envelope itself is ASCII', async () => {
    const server = await startSmtpServer({ hideSMTPUTF8: true });
    const sender = createSmtpSender(plainSettings(server.port));
    try {
      const msg = await composeMessage({
        from: { address: 'sender@example.test' },
        replyTo: { address: 'antwort@bücher.example' }, // ASCII local part: no UTF-8 needed
        to: [{ address: 'rcpt@example.test' }],
        subject: 's',
        text: 't',
      });
      await sender.send(msg.envelope, msg.raw); // fine: the domain became an A-label
      const eai = await composeMessage({
        from: { address: 'sender@example.test' },
        replyTo: { address: 'jörg@bücher.example' },
        to: [{ address: 'rcpt@example.test' }],
        subject: 's',
        text: 't',
      });
      const err = await expectAppError(sender.send(eai.envelope, eai.raw), 'MAIL_SMTPUTF8_REQUIRED');
      assert.match(err.message, /Reply-To/);
      assert.equal(server.events.messages.length, 1);
    } finally {
      await sender.close();
      await server.close();
    }
  });

  it('adds the SMTPUTF8 keyword to MAIL FROM when the server offers it and the message needs it (and only then)', async () => {
    const server = await startSmtpServer({ size: 10_000_000 });
    const proxy = await startRecordingProxy(server.port);
    const sender = createSmtpSender(plainSettings(proxy.port));
    try {
      const eai = await composeMessage({ from: { address: 'sender@example.test' }, to: [{ address: 'δοκιμή@παράδειγμα.δοκιμή' }], subject: 's', text: 't' });
      await sender.send(eai.envelope, eai.raw);
      const ascii = await composeMessage({ from: { address: 'sender@example.test' }, to: [{ address: 'info@bücher.example' }], subject: 's', text: 't' });
      await sender.send(ascii.envelope, ascii.raw);
      const mails = proxy.clientLines().filter((l) => /^(MAIL FROM|RCPT TO)/.test(l));
      assert.deepEqual(mails, [
        'MAIL FROM:<sender@example.test> SMTPUTF8 BODY=8BITMIME SIZE=' + eai.raw.length,
        'RCPT TO:<δοκιμή@παράδειγμα.δοκιμή>',
        'MAIL FROM:<sender@example.test> SIZE=' + ascii.raw.length,
        'RCPT TO:<info@xn--bcher-kva.example>',
      ]);
    } finally {
      await sender.close();
      await proxy.close();
      await server.close();
    }
  });
});

describe('SMTP sender: TLS', () => {
  let cert: SelfSignedCert;
  before(async () => {
    cert = await makeSelfSignedCert();
  });
  after(async () => {
    await cert.cleanup();
  });

  const auth = { type: 'basic' as const, user: 'mailer', password: 'tls-test-password' };
  function tlsSettings(port: number, tls: ConnectionSettings['tls'], security: ConnectionSettings['security'] = 'starttls'): ConnectionSettings {
    return { host: '127.0.0.1', port, security, tls, auth, timeoutMs: 10_000 };
  }

  it('STARTTLS with a self-signed certificate is refused by default, naming the fingerprint and how to pin it', async () => {
    const server = await startSmtpServer({ key: cert.key, cert: cert.cert });
    const sender = createSmtpSender(tlsSettings(server.port, { mode: 'verify' }));
    try {
      const msg = await simpleMessage();
      const err = await expectAppError(sender.send(msg.envelope, msg.raw), 'MAIL_TLS_FAILED');
      assert.equal(err.details?.permanent, true);
      assert.equal(err.details?.configuration, true);
      assert.equal(err.details?.fingerprint256, cert.fingerprint256);
      assert.ok(err.message.includes(cert.fingerprint256), err.message);
      assert.match(err.message, /self-signed/);
      assert.match(err.message, /"fingerprint"/);
      assert.equal(server.events.auth.length, 0, 'no credentials over an untrusted connection');
      assert.equal(server.events.mailFrom.length, 0);
      // verify() reports the same
      await expectAppError(sender.verify(), 'MAIL_TLS_FAILED');
    } finally {
      await sender.close();
      await server.close();
    }
  });

  it('STARTTLS with the pinned fingerprint (colon or plain hex) is accepted, then AUTH and send', async () => {
    const server = await startSmtpServer({ key: cert.key, cert: cert.cert, authenticate: (a) => (a.password === auth.password ? { ok: true, user: 'mailer' } : { ok: false }) });
    try {
      for (const sha256 of [cert.fingerprint256, cert.fingerprint256.replace(/:/g, '').toLowerCase()]) {
        const sender = createSmtpSender(tlsSettings(server.port, { mode: 'fingerprint', sha256 }));
        try {
          const caps = await sender.verify();
          assert.equal(caps.smtputf8, true);
          const msg = await simpleMessage();
          const result = await sender.send(msg.envelope, msg.raw);
          assert.equal(result.queueId, 'TESTQ1');
        } finally {
          await sender.close();
        }
      }
      assert.equal(server.events.messages.length, 2);
      assert.deepEqual(server.events.secure, [true, true], 'mail went over TLS');
      assert.equal(server.events.auth.every((a) => a.username === 'mailer'), true);
    } finally {
      await server.close();
    }
  });

  it('a wrong fingerprint is refused before AUTH: MAIL_TLS_FINGERPRINT_MISMATCH, no credentials sent', async () => {
    const server = await startSmtpServer({ key: cert.key, cert: cert.cert, authenticate: () => ({ ok: true, user: 'x' }) });
    const wrong = 'AB:'.repeat(31) + 'AB';
    const sender = createSmtpSender(tlsSettings(server.port, { mode: 'fingerprint', sha256: wrong }));
    try {
      const msg = await simpleMessage();
      const err = await expectAppError(sender.send(msg.envelope, msg.raw), 'MAIL_TLS_FINGERPRINT_MISMATCH');
      assert.equal(err.details?.permanent, true);
      assert.ok(err.message.includes(cert.fingerprint256), 'names the presented fingerprint');
      assert.ok(err.message.includes(wrong), 'names the pinned fingerprint');
      assert.equal(server.events.auth.length, 0, 'AUTH was never attempted');
      assert.equal(server.events.mailFrom.length, 0);
    } finally {
      await sender.close();
      await server.close();
    }
  });

  it('implicit TLS (security "tls") with a pin works; "insecure" is an explicit opt-out', async () => {
    const server = await startSmtpServer({ secure: true, key: cert.key, cert: cert.cert, authenticate: () => ({ ok: true, user: 'x' }) });
    try {
      const pinned = createSmtpSender(tlsSettings(server.port, { mode: 'fingerprint', sha256: cert.fingerprint256 }, 'tls'));
      const insecure = createSmtpSender(tlsSettings(server.port, { mode: 'insecure' }, 'tls'));
      const verifying = createSmtpSender(tlsSettings(server.port, { mode: 'verify' }, 'tls'));
      try {
        const msg = await simpleMessage();
        await pinned.send(msg.envelope, msg.raw);
        await insecure.send(msg.envelope, msg.raw);
        const err = await expectAppError(verifying.send(msg.envelope, msg.raw), 'MAIL_TLS_FAILED');
        assert.ok(err.message.includes(cert.fingerprint256));
      } finally {
        await Promise.all([pinned.close(), insecure.close(), verifying.close()]);
      }
      assert.equal(server.events.messages.length, 2);
    } finally {
      await server.close();
    }
  });

  it('security "starttls" never falls back to plain text when STARTTLS is not offered', async () => {
    const server = await startSmtpServer({ key: cert.key, cert: cert.cert, hideSTARTTLS: true, disabledCommands: ['STARTTLS'], authenticate: () => ({ ok: true, user: 'x' }) });
    const proxy = await startRecordingProxy(server.port);
    const sender = createSmtpSender(tlsSettings(proxy.port, { mode: 'insecure' }));
    try {
      const msg = await simpleMessage();
      const err = await expectAppError(sender.send(msg.envelope, msg.raw), 'MAIL_TLS_FAILED');
      assert.equal(err.details?.permanent, true);
      assert.equal(server.events.auth.length, 0);
      assert.doesNotMatch(proxy.clientText(), /AUTH|MAIL FROM/);
    } finally {
      await sender.close();
      await proxy.close();
      await server.close();
    }
  });
});

describe('SMTP sender: authentication', () => {
  const password = 'S3cret-Pässwort!42';

  it('basic auth: the right password sends, a wrong one gives MAIL_AUTH_FAILED without the password anywhere', async () => {
    const server = await startSmtpServer({ authenticate: (a) => (a.username === 'mailer' && a.password === password ? { ok: true, user: 'mailer' } : { ok: false }) });
    try {
      const good = createSmtpSender(plainSettings(server.port, { auth: { type: 'basic', user: 'mailer', password } }));
      const bad = createSmtpSender(plainSettings(server.port, { auth: { type: 'basic', user: 'mailer', password: `${password}-wrong` } }));
      try {
        const msg = await simpleMessage();
        await good.send(msg.envelope, msg.raw);
        assert.deepEqual(await good.verify(), { smtputf8: true, maxSize: null });
        const err = await expectAppError(bad.send(msg.envelope, msg.raw), 'MAIL_AUTH_FAILED');
        assert.equal(err.details?.permanent, true);
        assert.equal(err.details?.configuration, true);
        assert.match(String(err.details?.response), /^535 /);
        const everything = `${err.message} ${JSON.stringify(err.toJSON())} ${String(err.stack)}`;
        assert.ok(!everything.includes(password), 'no password in the error');
        assert.ok(!everything.includes(Buffer.from(password).toString('base64')));
        await expectAppError(bad.verify(), 'MAIL_AUTH_FAILED');
      } finally {
        await good.close();
        await bad.close();
      }
      assert.equal(server.events.messages.length, 1);
      assert.ok(server.events.auth.some((a) => a.password === password));
    } finally {
      await server.close();
    }
  });

  it('XOAUTH2 with an access token: accepted, and a rejected token gives MAIL_AUTH_FAILED without the token', async () => {
    const token = 'ya29.a0AfH6SMB-test-token-0123456789';
    const server = await startSmtpServer({
      authMethods: ['PLAIN', 'LOGIN', 'XOAUTH2'],
      authenticate: (a) =>
        a.method === 'XOAUTH2' && a.accessToken === token
          ? { ok: true, user: a.username ?? '' }
          : { ok: false, challenge: { status: '401', schemes: 'bearer', scope: 'https://mail.google.com/' } },
    });
    try {
      const good = createSmtpSender(plainSettings(server.port, { auth: { type: 'oauth2', user: 'mailer@example.test', accessToken: token } }));
      const bad = createSmtpSender(plainSettings(server.port, { auth: { type: 'oauth2', user: 'mailer@example.test', accessToken: 'expired-token-value' } }));
      try {
        const msg = await simpleMessage();
        await good.send(msg.envelope, msg.raw);
        const err = await expectAppError(bad.send(msg.envelope, msg.raw), 'MAIL_AUTH_FAILED');
        assert.match(err.message, /token rejected: \{"status":"401"/);
        assert.ok(!`${err.message} ${JSON.stringify(err.toJSON())}`.includes('expired-token-value'));
      } finally {
        await good.close();
        await bad.close();
      }
      assert.deepEqual(
        server.events.auth.map((a) => [a.method, a.username]),
        [['XOAUTH2', 'mailer@example.test'], ['XOAUTH2', 'mailer@example.test']],
      );
      assert.equal(server.events.messages.length, 1);
    } finally {
      await server.close();
    }
  });

  it('credentials configured but the server offers no AUTH: MAIL_AUTH_FAILED (configuration)', async () => {
    const server = await startSmtpServer({ disabledCommands: ['AUTH', 'STARTTLS'] });
    const sender = createSmtpSender(plainSettings(server.port, { auth: { type: 'basic', user: 'u', password: 'p4ssword' } }));
    try {
      const msg = await simpleMessage();
      const err = await expectAppError(sender.send(msg.envelope, msg.raw), 'MAIL_AUTH_FAILED');
      assert.match(err.message, /offers no authentication/);
      assert.equal(server.events.mailFrom.length, 0);
    } finally {
      await sender.close();
      await server.close();
    }
  });

  it('bad settings are refused when the sender is created', () => {
    assert.throws(() => createSmtpSender(plainSettings(0)), /port/);
    assert.throws(() => createSmtpSender({ ...plainSettings(25), tls: { mode: 'fingerprint', sha256: 'not-hex' } }), /fingerprint/);
  });
});

describe('SMTP sender: pooling', () => {
  it('reuses pooled connections (RSET between messages) and keeps at most maxConnections open', async () => {
    const server = await startSmtpServer();
    const proxy = await startRecordingProxy(server.port);
    const sender = createSmtpSender(plainSettings(proxy.port), { pool: true, maxConnections: 2 });
    try {
      const msg = await simpleMessage();
      await Promise.all(Array.from({ length: 6 }, () => sender.send(msg.envelope, msg.raw)));
      await sender.send(msg.envelope, msg.raw);
      assert.equal(server.events.messages.length, 7);
      assert.ok(proxy.connections() <= 2, `${proxy.connections()} connections`);
      assert.match(proxy.clientText(), /^RSET$/m);
    } finally {
      await sender.close();
      await proxy.close();
      await server.close();
    }
  });

  it('without pool, one connection per message, ended with QUIT', async () => {
    const server = await startSmtpServer();
    const proxy = await startRecordingProxy(server.port);
    const sender = createSmtpSender(plainSettings(proxy.port));
    try {
      const msg = await simpleMessage();
      await sender.send(msg.envelope, msg.raw);
      await sender.send(msg.envelope, msg.raw);
      assert.equal(proxy.connections(), 2);
      assert.equal(server.events.messages.length, 2);
    } finally {
      await sender.close();
      await proxy.close();
      await server.close();
    }
  });

  it('a closed sender refuses to send', async () => {
    const sender = createSmtpSender(plainSettings(1));
    await sender.close();
    const msg = await simpleMessage();
    const err = await expectAppError(sender.send(msg.envelope, msg.raw), 'MAIL_SEND_TRANSIENT');
    assert.equal(err.details?.permanent, false);
  });
});
