import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { decodeKey, hashPassword, hashToken, newToken, resolveSecretKey, SecretBox, verifyPassword } from '../../src/crypto/index.ts';
import { AppError } from '../../src/errors/index.ts';

function isAppError(code: string): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof AppError, `expected an AppError, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  };
}

describe('SecretBox', () => {
  const key = randomBytes(32);
  const plaintext = 'imap-pässword 🔑 S3cr3t!';

  test('round trip', () => {
    const box = new SecretBox(key);
    const sealed = box.seal(plaintext, 'mailbox:1:password');
    assert.match(sealed, /^mr1:/);
    assert.ok(!sealed.includes(plaintext));
    assert.notEqual(box.seal(plaintext, 'mailbox:1:password'), sealed, 'a fresh IV every time');
    assert.equal(new SecretBox(Buffer.from(key)).open(sealed, 'mailbox:1:password'), plaintext);
    assert.equal(box.open(box.seal('', 'empty'), 'empty'), '');
  });

  test('a different context does not decrypt', () => {
    const box = new SecretBox(key);
    const sealed = box.seal(plaintext, 'mailbox:1:password');
    assert.throws(() => box.open(sealed, 'mailbox:2:password'), isAppError('SECRET_DECRYPT_FAILED'));
  });

  test('a different key does not decrypt', () => {
    const sealed = new SecretBox(key).seal(plaintext, 'ctx');
    assert.throws(() => new SecretBox(randomBytes(32)).open(sealed, 'ctx'), isAppError('SECRET_DECRYPT_FAILED'));
  });

  test('tampered, truncated or foreign ciphertext fails without revealing the plaintext', () => {
    const box = new SecretBox(key);
    const sealed = box.seal(plaintext, 'ctx');
    const raw = Buffer.from(sealed.slice(4), 'base64');
    for (const pos of [0, 12, 28, raw.length - 1]) {
      const bad = Buffer.from(raw);
      bad[pos] = bad[pos]! ^ 0x01;
      const tampered = `mr1:${bad.toString('base64')}`;
      assert.throws(
        () => box.open(tampered, 'ctx'),
        (err: unknown) => {
          assert.ok(err instanceof AppError);
          assert.equal(err.code, 'SECRET_DECRYPT_FAILED');
          assert.ok(!err.message.includes(plaintext), 'message must not contain the plaintext');
          assert.ok(!JSON.stringify(err.toJSON()).includes(plaintext));
          return true;
        },
      );
    }
    assert.throws(() => box.open(`mr1:${raw.subarray(0, 20).toString('base64')}`, 'ctx'), isAppError('SECRET_DECRYPT_FAILED'));
    assert.throws(() => box.open(sealed.slice(4), 'ctx'), isAppError('SECRET_DECRYPT_FAILED'));
  });

  test('refuses a key that is not 32 bytes', () => {
    assert.throws(() => new SecretBox(randomBytes(31)), isAppError('SECRET_KEY_MISSING'));
  });
});

describe('secret key', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mr-crypto-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('key file is generated with mode 0600 and reused', async () => {
    const dataDir = join(dir, 'data');
    const first = resolveSecretKey({ dataDir });
    assert.equal(first.length, 32);
    const file = join(dataDir, 'secret.key');
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.deepEqual(decodeKey(await readFile(file, 'utf8'), file), first);
    const second = resolveSecretKey({ dataDir });
    assert.deepEqual(second, first);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
  });

  test('MAILROOM_SECRET_KEY wins over the key file', () => {
    const key = randomBytes(32);
    assert.deepEqual(resolveSecretKey({ secretKey: key.toString('hex'), dataDir: join(dir, 'unused') }), key);
  });

  test('decodeKey accepts hex and base64', () => {
    const key = randomBytes(32);
    assert.deepEqual(decodeKey(key.toString('hex'), 'test'), key);
    assert.deepEqual(decodeKey(key.toString('hex').toUpperCase(), 'test'), key);
    assert.deepEqual(decodeKey(key.toString('base64'), 'test'), key);
    assert.deepEqual(decodeKey(`  ${key.toString('base64')}\n`, 'test'), key);
  });

  test('decodeKey rejects 31 bytes', () => {
    const short = randomBytes(31);
    assert.throws(() => decodeKey(short.toString('hex'), 'test'), isAppError('SECRET_KEY_MISSING'));
    assert.throws(() => decodeKey(short.toString('base64'), 'test'), isAppError('SECRET_KEY_MISSING'));
    assert.throws(() => decodeKey('', 'test'), isAppError('SECRET_KEY_MISSING'));
  });
});

describe('passwords', () => {
  test('right password verifies, wrong does not', async () => {
    const stored = await hashPassword('correct horse battery staple');
    assert.match(stored, /^scrypt\$32768\$8\$1\$/);
    assert.ok(!stored.includes('correct horse'));
    assert.equal(await verifyPassword('correct horse battery staple', stored), true);
    assert.equal(await verifyPassword('correct horse battery stapl', stored), false);
    assert.equal(await verifyPassword('', stored), false);
    assert.notEqual(await hashPassword('correct horse battery staple'), stored, 'salted');
  });

  test('NFC and NFD forms of the same password verify', async () => {
    const nfc = 'Grüße-Zoë'.normalize('NFC');
    const nfd = nfc.normalize('NFD');
    assert.notEqual(nfc, nfd);
    assert.equal(await verifyPassword(nfd, await hashPassword(nfc)), true);
    assert.equal(await verifyPassword(nfc, await hashPassword(nfd)), true);
  });

  test('malformed stored hashes do not verify', async () => {
    assert.equal(await verifyPassword('x', ''), false);
    assert.equal(await verifyPassword('x', 'bcrypt$1$2$3$4$5'), false);
  });
});

describe('tokens', () => {
  test('tokens are random and stored only as SHA-256', () => {
    const a = newToken('mrt');
    const b = newToken('mrt');
    assert.match(a, /^mrt_[A-Za-z0-9_-]{43}$/);
    assert.notEqual(a, b);
    const h = hashToken(a);
    assert.match(h, /^[0-9a-f]{64}$/);
    assert.equal(hashToken(a), h);
    assert.notEqual(hashToken(b), h);
    assert.ok(!h.includes(a.slice(4)));
    assert.equal(hashToken('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});
