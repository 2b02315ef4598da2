export { SecretBox } from './secret-box.ts';
export { resolveSecretKey, decodeKey } from './keyring.ts';
export { hashPassword, verifyPassword } from './passwords.ts';
export { newToken, hashToken } from './tokens.ts';
