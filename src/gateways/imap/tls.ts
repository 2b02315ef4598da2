import net from 'node:net';
import tls from 'node:tls';
import type { ImapTransport, ImapTransportConnectOptions, ImapTransportOptions, ImapTransportSocket } from 'imapflow';
import { AppError } from '../../errors/index.ts';
import type { ConnectionSettings } from '../ports.ts';

/**
 * TLS for the IMAP connection: implicit TLS (RFC 8314, port 993) and STARTTLS (RFC 3501
 * §6.2.1), each with one of three policies: 'verify' (CA chain + host name), 'fingerprint'
 * (accept exactly one certificate, by the SHA-256 of its DER) and 'insecure' (explicit opt-out).
 *
 * Why a transport: Node calls `checkServerIdentity` only after the chain verified, so a pinned
 * self-signed certificate can never be accepted through it, and `rejectUnauthorized: false`
 * alone would let imapflow read the greeting and send LOGIN before anyone looked at the
 * certificate. imapflow's documented `transport` option hands us the socket instead: we open it
 * with Node's own verification recorded but not enforced, decide in the `secureConnect`
 * callback, and only then call imapflow's onConnect/onSecure. A refused certificate destroys the
 * socket before imapflow has read a byte, so credentials are never sent to an unverified peer.
 */

export type TlsPolicy = ConnectionSettings['tls'];

/** What the handshake showed, for testImapConnection() and error messages. */
export interface TlsObservation {
  /** SHA-256 of the peer certificate's DER, "AB:CD:..." (Node's fingerprint256 form). */
  fingerprint256: string | null;
}

/** "AB:CD:…" or "abcd…" (any case, ':' or spaces or '-' between bytes) to 64 lowercase hex digits. */
export function normalizeFingerprint(value: string): string | null {
  const hex = value.replace(/[\s:-]/g, '').toLowerCase();
  return /^[0-9a-f]{64}$/.test(hex) ? hex : null;
}

/** 64 hex digits to "AB:CD:…", the form Node, OpenSSL and browsers show. */
export function formatFingerprint(hex: string): string {
  return (hex.toUpperCase().match(/../g) ?? []).join(':');
}

/** Rejects an unusable pin up front, before any connection is attempted. */
export function checkTlsPolicy(policy: TlsPolicy): void {
  if (policy.mode === 'fingerprint' && normalizeFingerprint(policy.sha256) === null) {
    throw new AppError(
      'VALIDATION_FAILED',
      'The pinned TLS certificate fingerprint is not a SHA-256 fingerprint: give 64 hex digits, e.g. "AB:CD:…" as shown by `openssl x509 -noout -fingerprint -sha256`.',
    );
  }
}

/** The verdict on a finished handshake: null to proceed, or the error to fail with. */
export function judgeCertificate(
  policy: TlsPolicy,
  target: { host: string; port: number },
  peer: { authorized: boolean; authorizationError: string | null; fingerprint256: string | null },
): AppError | null {
  const where = `${target.host}:${target.port}`;
  const actual = peer.fingerprint256 ? normalizeFingerprint(peer.fingerprint256) : null;
  const shown = actual ? formatFingerprint(actual) : '(no certificate)';
  switch (policy.mode) {
    case 'insecure':
      return null;
    case 'fingerprint': {
      const expected = normalizeFingerprint(policy.sha256);
      if (expected !== null && actual === expected) return null;
      return new AppError(
        'MAIL_TLS_FINGERPRINT_MISMATCH',
        `The TLS certificate of ${where} does not match the pinned fingerprint: expected SHA-256 ${
          expected ? formatFingerprint(expected) : policy.sha256
        }, got ${shown}. If the server's certificate was renewed, confirm the new fingerprint with its administrator and pin that one.`,
        { details: { host: target.host, port: target.port, expected: expected ?? policy.sha256, actual: actual ?? null, transient: false } },
      );
    }
    case 'verify':
      if (peer.authorized) return null;
      return new AppError(
        'MAIL_TLS_FAILED',
        `The TLS certificate of ${where} is not trusted (${peer.authorizationError ?? 'unknown reason'}); its SHA-256 fingerprint is ${shown}. ` +
          `If you trust this server, pin the certificate: set TLS verification to "fingerprint" with ${shown} (or install a certificate from a trusted CA on the server).`,
        { details: { host: target.host, port: target.port, reason: peer.authorizationError, fingerprint256: actual, transient: false } },
      );
  }
}

function tlsOptions(options: ImapTransportOptions): tls.ConnectionOptions {
  return {
    ...(options.tls ?? {}),
    host: options.host,
    port: options.port,
    ...(options.servername ? { servername: options.servername } : {}),
    // Node still verifies and records the result in socket.authorized/authorizationError;
    // judgeCertificate() enforces it (or the pin) before imapflow gets the socket.
    rejectUnauthorized: false,
  };
}

/** An imapflow transport over node:net/node:tls that applies `policy` to every handshake. */
export function createVerifyingTransport(target: { host: string; port: number }, policy: TlsPolicy, seen: TlsObservation): ImapTransport {
  const onHandshake = (socket: tls.TLSSocket, proceed: () => void): void => {
    const cert = socket.getPeerCertificate();
    const fingerprint256 = cert && typeof cert.fingerprint256 === 'string' ? cert.fingerprint256.toUpperCase() : null;
    seen.fingerprint256 = fingerprint256;
    const verdict = judgeCertificate(policy, target, {
      authorized: socket.authorized,
      authorizationError: socket.authorizationError ? String(socket.authorizationError) : null,
      fingerprint256,
    });
    if (verdict) {
      // imapflow listens for 'error' on the socket it got from us and rejects connect() with it.
      socket.destroy(verdict);
      return;
    }
    proceed();
  };
  return {
    connect(options: ImapTransportConnectOptions, onConnect: () => void): ImapTransportSocket {
      if (!options.secure) return net.connect({ host: options.host, port: options.port }, onConnect);
      const socket: tls.TLSSocket = tls.connect(tlsOptions(options), () => onHandshake(socket, onConnect));
      return socket;
    },
    upgrade(plain: ImapTransportSocket, options: ImapTransportOptions, onSecure: () => void): ImapTransportSocket {
      const socket: tls.TLSSocket = tls.connect({ ...tlsOptions(options), socket: plain }, () => onHandshake(socket, onSecure));
      return socket;
    },
  };
}
