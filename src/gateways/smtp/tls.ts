import type { ConnectionOptions, TLSSocket } from 'node:tls';
import { AppError } from '../../errors/index.ts';
import type { ConnectionSettings } from '../ports.ts';

/**
 * TLS trust for SMTP, the same three modes as the IMAP side:
 *
 * - 'verify' (default): Node verifies chain and host name (`rejectUnauthorized: true`); a refused
 *   certificate is reported with its SHA-256 fingerprint and how to pin it (see probe in session.ts).
 * - 'fingerprint': the leaf certificate's SHA-256 must equal the pinned value. Node's
 *   `checkServerIdentity` cannot carry the pin: Node skips it whenever chain verification already
 *   failed, which is exactly the self-signed case a pin exists for. So the handshake runs without
 *   chain verification and the session compares `getPeerCertificate().fingerprint256` right
 *   after the (post-STARTTLS) EHLO, before AUTH and before any message data.
 * - 'insecure': no verification at all, by explicit choice of an administrator.
 */

/** `AB:CD:…` (any case) or 64 hex digits → uppercase hex with colons, as Node's `fingerprint256`. */
export function normalizeFingerprint(value: string): string | null {
  if (typeof value !== 'string') return null;
  const hex = value.trim().replace(/^sha-?256[:=]?\s*/i, '').replace(/[:\s]/g, '');
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) return null;
  return hex.toUpperCase().match(/../g)?.join(':') ?? null;
}

export function pinnedFingerprint(settings: ConnectionSettings): string | null {
  if (settings.tls?.mode !== 'fingerprint') return null;
  const fp = normalizeFingerprint(settings.tls.sha256);
  if (fp === null) {
    throw new AppError('VALIDATION_FAILED', 'The pinned TLS fingerprint must be the SHA-256 of the certificate: 64 hex digits, optionally separated by colons.', {
      details: { permanent: true, response: null, configuration: true },
    });
  }
  return fp;
}

export function tlsOptions(settings: ConnectionSettings): ConnectionOptions {
  const mode = settings.tls?.mode ?? 'verify';
  const base: ConnectionOptions = { minVersion: 'TLSv1.2' };
  if (mode === 'verify') return { ...base, rejectUnauthorized: true };
  // 'fingerprint' is checked on the socket after the handshake (see the file comment); 'insecure' not at all.
  return { ...base, rejectUnauthorized: false, checkServerIdentity: () => undefined };
}

export function isTlsSocket(socket: unknown): socket is TLSSocket {
  return socket !== null && typeof socket === 'object' && 'getPeerCertificate' in socket && (socket as TLSSocket).encrypted === true;
}

export function peerFingerprint(socket: unknown): string | null {
  if (!isTlsSocket(socket)) return null;
  const cert = socket.getPeerCertificate();
  return typeof cert?.fingerprint256 === 'string' && cert.fingerprint256 !== '' ? cert.fingerprint256.toUpperCase() : null;
}
