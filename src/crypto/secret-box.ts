import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { AppError } from '../errors/index.ts';

/**
 * The one scheme for secrets at rest (design §2.5): AES-256-GCM with a versioned header.
 * Wire form: "mr1:" + base64(iv[12] | tag[16] | ciphertext). The context string is bound as
 * associated data so a ciphertext copied into another record or field does not decrypt.
 */
const PREFIX = 'mr1:';
const IV_BYTES = 12;
const TAG_BYTES = 16;

export class SecretBox {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== 32) throw new AppError('SECRET_KEY_MISSING', 'The secret key must be exactly 32 bytes.');
    this.#key = Buffer.from(key);
  }

  seal(plaintext: string, context: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return PREFIX + Buffer.concat([iv, cipher.getAuthTag(), ciphertext]).toString('base64');
  }

  open(sealed: string, context: string): string {
    if (!sealed.startsWith(PREFIX)) {
      throw new AppError('SECRET_DECRYPT_FAILED', 'A stored secret has an unknown format; re-enter it.');
    }
    const raw = Buffer.from(sealed.slice(PREFIX.length), 'base64');
    if (raw.length < IV_BYTES + TAG_BYTES) {
      throw new AppError('SECRET_DECRYPT_FAILED', 'A stored secret is truncated; re-enter it.');
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, raw.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch (err) {
      throw new AppError(
        'SECRET_DECRYPT_FAILED',
        'A stored secret cannot be decrypted: the secret key differs from the one it was stored with, or the value was altered. Restore the original MAILROOM_SECRET_KEY or re-enter the secret.',
        { cause: err },
      );
    }
  }
}
