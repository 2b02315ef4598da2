import { existsSync, mkdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { AppError } from '../errors/index.ts';

/** Accepts 32 bytes as base64 (44 chars) or hex (64 chars). */
export function decodeKey(text: string, origin: string): Buffer {
  const trimmed = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(trimmed) ? Buffer.from(trimmed, 'hex') : Buffer.from(trimmed, 'base64');
  if (key.length !== 32) {
    throw new AppError(
      'SECRET_KEY_MISSING',
      `${origin} must hold 32 random bytes as base64 or hex; generate one with: openssl rand -base64 32`,
    );
  }
  return key;
}

/**
 * Finds the secret key: MAILROOM_SECRET_KEY, then MAILROOM_SECRET_KEY_FILE, then (embedded
 * default only) `<data>/secret.key`, generated on first start with mode 0600.
 */
export function resolveSecretKey(opts: { secretKey?: string | undefined; secretKeyFile?: string | undefined; dataDir: string }): Buffer {
  if (opts.secretKey) return decodeKey(opts.secretKey, 'MAILROOM_SECRET_KEY');
  if (opts.secretKeyFile) {
    let text: string;
    try {
      text = readFileSync(opts.secretKeyFile, 'utf8');
    } catch (err) {
      throw new AppError('SECRET_KEY_MISSING', `MAILROOM_SECRET_KEY_FILE (${opts.secretKeyFile}) cannot be read; fix the path or permissions.`, { cause: err });
    }
    return decodeKey(text, `MAILROOM_SECRET_KEY_FILE (${opts.secretKeyFile})`);
  }
  const file = path.join(opts.dataDir, 'secret.key');
  if (existsSync(file)) return decodeKey(readFileSync(file, 'utf8'), file);
  mkdirSync(opts.dataDir, { recursive: true });
  const key = randomBytes(32);
  // 'wx' so two processes starting at once cannot overwrite each other's key.
  try {
    writeFileSync(file, key.toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return decodeKey(readFileSync(file, 'utf8'), file);
    throw err;
  }
  chmodSync(file, 0o600);
  return key;
}
