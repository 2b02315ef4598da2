/**
 * Connecting: authentication, unreachable hosts, timeouts, and the three TLS policies over
 * implicit TLS and STARTTLS against the Dovecot peer's self-signed certificate. Two scripted
 * servers cover what Dovecot cannot be made to do: a server without STARTTLS, and one that
 * records every byte the client sends before and after a refused certificate.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { isAppError, type AppError } from '../../../src/errors/index.ts';
import { openImapSource, testImapConnection } from '../../../src/gateways/imap/index.ts';
import type { ConnectionSettings } from '../../../src/gateways/ports.ts';
import { freePort } from '../../support/peers/apt.ts';
import { startDovecot, type DovecotPeer } from '../../support/peers/dovecot.ts';
import { eventually, plainSettings } from './helpers.ts';
import { startScriptedImap } from './scripted-imap.ts';

const USER = 'alice@example.test';
const PASSWORD = 'alice-secret';

async function failure(p: Promise<unknown>): Promise<AppError> {
  try {
    await p;
  } catch (err) {
    assert.ok(isAppError(err), `expected an AppError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a failure');
}

/** A TCP/TLS server under test control; records what clients send. */
async function scriptedServer(
  kind: 'tcp' | 'tls',
  onSocket: (socket: net.Socket, received: Buffer[]) => void,
  tlsOptions: tls.TlsOptions = {},
): Promise<{ port: number; received: Buffer[]; close(): Promise<void> }> {
  const received: Buffer[] = [];
  const sockets = new Set<net.Socket>();
  const handler = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.on('data', (d: Buffer) => received.push(d));
    onSocket(socket, received);
  };
  const server = kind === 'tls' ? tls.createServer(tlsOptions, handler) : net.createServer(handler);
  server.on('tlsClientError', () => undefined);
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('IMAP gateway: connecting', () => {
  let peer: DovecotPeer;
  let base: ConnectionSettings;

  before(async () => {
    peer = await startDovecot();
    base = plainSettings(peer, USER, PASSWORD);
  });
  after(async () => {
    await peer?.stop();
  });

  test('logs in with the right password and closes idempotently', async () => {
    const source = await openImapSource(base);
    assert.equal(source.capabilities.idle, true);
    assert.equal(source.capabilities.move, true);
    assert.equal(source.capabilities.condstore, true);
    assert.equal(source.capabilities.qresync, true);
    await source.close();
    await source.close();
  });

  test('a wrong password fails at open with MAIL_AUTH_FAILED naming host and user, never the password', async () => {
    const secret = 'Wr0ng-Pa55word!';
    const err = await failure(openImapSource({ ...base, auth: { type: 'basic', user: USER, password: secret } }));
    assert.equal(err.code, 'MAIL_AUTH_FAILED');
    assert.match(err.message, new RegExp(`${peer.host}:${peer.imapPort}`));
    assert.match(err.message, /alice@example\.test/);
    assert.match(err.message, /password/);
    assert.ok(!err.message.includes(secret));
    assert.ok(!JSON.stringify(err.toJSON()).includes(secret));
    assert.equal(err.details?.['transient'], false);
  });

  test('a refused port is MAIL_HOST_UNREACHABLE', async () => {
    const port = await freePort();
    const err = await failure(openImapSource({ ...base, port }));
    assert.equal(err.code, 'MAIL_HOST_UNREACHABLE');
    assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
    assert.equal(err.details?.['transient'], true);
  });

  test('a server that never greets is MAIL_TIMEOUT', async () => {
    const silent = await scriptedServer('tcp', () => undefined);
    try {
      const err = await failure(openImapSource({ ...base, port: silent.port, timeoutMs: 500 }));
      assert.equal(err.code, 'MAIL_TIMEOUT');
    } finally {
      await silent.close();
    }
  });

  describe('implicit TLS with the self-signed certificate', () => {
    const tlsSettings = (tlsMode: ConnectionSettings['tls']): ConnectionSettings => ({ ...base, port: peer.imapsPort, security: 'tls', tls: tlsMode });

    test('is refused by default with MAIL_TLS_FAILED naming host and fingerprint and how to pin it', async () => {
      const err = await failure(openImapSource(tlsSettings({ mode: 'verify' })));
      assert.equal(err.code, 'MAIL_TLS_FAILED');
      assert.match(err.message, new RegExp(`${peer.host}:${peer.imapsPort}`));
      assert.ok(err.message.includes(peer.certFingerprint256), err.message);
      assert.match(err.message, /pin/i);
    });

    test('is accepted with its fingerprint, in "AB:CD:…" and in "abcd…" form', async () => {
      for (const sha256 of [peer.certFingerprint256, peer.certFingerprint256Hex, peer.certFingerprint256.toLowerCase()]) {
        const source = await openImapSource(tlsSettings({ mode: 'fingerprint', sha256 }));
        assert.ok((await source.listFolders()).some((f) => f.path === 'INBOX'));
        await source.close();
      }
    });

    test('is refused with a wrong fingerprint: MAIL_TLS_FINGERPRINT_MISMATCH naming expected and actual', async () => {
      const wrong = 'ab'.repeat(32);
      const err = await failure(openImapSource(tlsSettings({ mode: 'fingerprint', sha256: wrong })));
      assert.equal(err.code, 'MAIL_TLS_FINGERPRINT_MISMATCH');
      assert.ok(err.message.includes('AB:AB:AB'), err.message);
      assert.ok(err.message.includes(peer.certFingerprint256), err.message);
    });

    test('a pin that is not a SHA-256 fingerprint is refused before connecting', async () => {
      const err = await failure(openImapSource(tlsSettings({ mode: 'fingerprint', sha256: 'abc' })));
      assert.equal(err.code, 'VALIDATION_FAILED');
    });

    test('is accepted with the explicit insecure opt-out', async () => {
      const source = await openImapSource(tlsSettings({ mode: 'insecure' }));
      await source.close();
    });

    test('testImapConnection reports capabilities, folder count and the fingerprint', async () => {
      const r = await testImapConnection(tlsSettings({ mode: 'fingerprint', sha256: peer.certFingerprint256Hex }));
      assert.equal(r.ok, true);
      assert.ok(r.capabilities.includes('IDLE'));
      assert.ok(r.folders >= 5);
      assert.equal(r.tlsFingerprint256, peer.certFingerprint256);
    });

    test('implicit TLS on the plain port fails as a TLS error', async () => {
      const err = await failure(openImapSource({ ...base, security: 'tls', tls: { mode: 'insecure' } }));
      assert.equal(err.code, 'MAIL_TLS_FAILED');
    });
  });

  describe('STARTTLS', () => {
    test('verifies the upgraded connection like implicit TLS', async () => {
      const err = await failure(openImapSource({ ...base, security: 'starttls', tls: { mode: 'verify' } }));
      assert.equal(err.code, 'MAIL_TLS_FAILED');
      const ok = await openImapSource({ ...base, security: 'starttls', tls: { mode: 'fingerprint', sha256: peer.certFingerprint256 } });
      await ok.close();
      const mismatch = await failure(openImapSource({ ...base, security: 'starttls', tls: { mode: 'fingerprint', sha256: '00'.repeat(32) } }));
      assert.equal(mismatch.code, 'MAIL_TLS_FINGERPRINT_MISMATCH');
    });

    test('a server without STARTTLS is refused, and no credentials are sent in plain text', async () => {
      const server = await startScriptedImap(() => undefined); // advertises IMAP4rev1 only
      try {
        const err = await failure(openImapSource({ ...base, port: server.port, security: 'starttls', tls: { mode: 'insecure' } }));
        assert.equal(err.code, 'MAIL_TLS_FAILED');
        assert.match(err.message, /STARTTLS/);
        const sent = server.commands.join('\n');
        assert.doesNotMatch(sent, /LOGIN|AUTHENTICATE/i);
        assert.ok(!sent.includes(PASSWORD));
      } finally {
        await server.close();
      }
    });
  });

  describe('OAuth2 (the Dovecot peer has no oauth2 passdb, so a scripted server checks the wire)', () => {
    const TOKEN = 'ya29.test-access-token-0123456789';
    const oauthSettings = (port: number): ConnectionSettings => ({
      ...base,
      port,
      auth: { type: 'oauth2', user: 'alice@example.test', accessToken: TOKEN },
    });

    test('the access token goes out as SASL OAUTHBEARER (RFC 7628)', async () => {
      const server = await startScriptedImap(() => undefined, { capabilities: 'IMAP4rev1 SASL-IR AUTH=OAUTHBEARER AUTH=XOAUTH2' });
      try {
        const source = await openImapSource(oauthSettings(server.port));
        await source.close();
        const auth = server.commands.find((c) => / AUTHENTICATE /i.test(c));
        assert.ok(auth, server.commands.join('\n'));
        const [, , mech, payload] = auth.split(' ');
        assert.equal(mech, 'OAUTHBEARER');
        const decoded = Buffer.from(payload ?? '', 'base64').toString('utf8');
        assert.match(decoded, /^n,a=alice@example\.test,/);
        assert.ok(decoded.includes(`auth=Bearer ${TOKEN}`));
      } finally {
        await server.close();
      }
    });

    test('a rejected token is MAIL_AUTH_FAILED that talks about the token and never contains it', async () => {
      const server = await startScriptedImap(
        (tag, command) => (command === 'AUTHENTICATE' ? `${tag} NO [AUTHENTICATIONFAILED] Authentication failed.\r\n` : undefined),
        { capabilities: 'IMAP4rev1 SASL-IR AUTH=XOAUTH2' },
      );
      try {
        const err = await failure(openImapSource(oauthSettings(server.port)));
        assert.equal(err.code, 'MAIL_AUTH_FAILED');
        assert.match(err.message, /access token/);
        assert.match(err.message, /alice@example\.test/);
        assert.ok(!JSON.stringify(err.toJSON()).includes(TOKEN));
        assert.ok(server.commands.some((c) => / AUTHENTICATE XOAUTH2 /i.test(c)));
      } finally {
        await server.close();
      }
    });
  });

  test('the fingerprint is checked before the client sends a single byte', async () => {
    const [key, cert] = await Promise.all([readFile(join(peer.dir, 'key.pem')), readFile(join(peer.dir, 'cert.pem'))]);
    const server = await scriptedServer(
      'tls',
      (socket) => {
        socket.write('* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] scripted TLS server ready\r\n');
      },
      { key, cert },
    );
    try {
      const err = await failure(openImapSource({ ...base, port: server.port, security: 'tls', tls: { mode: 'fingerprint', sha256: '11'.repeat(32) } }));
      assert.equal(err.code, 'MAIL_TLS_FINGERPRINT_MISMATCH');
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(Buffer.concat(server.received).length, 0, 'nothing may be sent to an unverified peer');
      // Control: with the right pin the same server does get the client's commands.
      const pinned = openImapSource({ ...base, port: server.port, security: 'tls', tls: { mode: 'fingerprint', sha256: peer.certFingerprint256 } });
      await eventually(() => Buffer.concat(server.received).length > 0, 5000, 'the pinned client to talk');
      await server.close();
      const dropped = await failure(pinned);
      assert.equal(dropped.code, 'MAIL_CONNECTION_LOST');
    } finally {
      await server.close();
    }
  });
});
