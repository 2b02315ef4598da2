import { createHash, randomBytes } from 'node:crypto';

/** Bearer secrets (API tokens, session ids, reset links): random, shown once, stored as SHA-256. */
export function newToken(prefix: string): string {
  return `${prefix}_${randomBytes(32).toString('base64url')}`;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}
