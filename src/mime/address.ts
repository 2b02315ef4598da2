import { domainToASCII, domainToUnicode } from 'node:url';
import { AppError } from '../errors/index.ts';

/**
 * Mail addresses for outgoing messages: validation and the one normal form used in headers and
 * in the SMTP envelope.
 *
 * - ASCII local part: the domain becomes its A-label form through `url.domainToASCII()`, which
 *   applies the UTS #46 mapping (fullwidth letters, case, ß/ς handling, NFC). Nodemailer's own
 *   punycode fallback does not map, and an A-label address needs no SMTPUTF8 (RFC 6531) at all.
 * - Non-ASCII local part: the address can only travel with SMTPUTF8, so it stays UTF-8 on both
 *   sides of the '@' (RFC 6532), local part and domain in Unicode NFC (RFC 6530 §10.1).
 */

export interface NormalizedAddress {
  /** The address as it goes into headers and the envelope. */
  address: string;
  /** True when the local part is not ASCII: only an SMTPUTF8 server can take it. */
  smtpUtf8: boolean;
}

const MAX_LOCAL_OCTETS = 64; // RFC 5321 §4.5.3.1.1
const MAX_DOMAIN_OCTETS = 253; // RFC 1035 (255 on the wire, minus length octets)
const MAX_ADDRESS_OCTETS = 254; // RFC 5321 path limit (256) minus the angle brackets

// RFC 5322 atext, extended by RFC 6531 with any non-ASCII character (UTF8-non-ascii).
const ATOM = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\u{10FFFF}]+$/u;
const LDH_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
// C0/C1 controls and DEL; no legitimate address or display name contains one.
const CONTROL = /[\u0000-\u001F\u007F-\u009F]/u;

function invalid(role: string, value: string, reason: string): AppError {
  return new AppError('VALIDATION_FAILED', `Invalid ${role} address ${JSON.stringify(value)}: ${reason}.`, {
    details: { field: role, address: value },
  });
}

export function isAscii(value: string): boolean {
  return /^[\x00-\x7F]*$/.test(value);
}

/**
 * Converts a domain to its ASCII (A-label) form with the UTS #46 mapping, or returns null when it
 * is not a valid host name (empty labels, labels over 63 octets, bad punycode, disallowed code
 * points, a trailing dot...).
 */
export function toAsciiDomain(domain: string): string | null {
  if (domain === '' || domain.startsWith('[')) return null;
  const ascii = domainToASCII(domain);
  if (ascii === '' || ascii.length > MAX_DOMAIN_OCTETS) return null;
  const labels = ascii.split('.');
  if (!labels.every((label) => LDH_LABEL.test(label))) return null;
  // A purely numeric top-level label would make it an IPv4 address, not a domain.
  if (/^[0-9]+$/.test(labels[labels.length - 1] ?? '')) return null;
  return ascii;
}

/**
 * Validates an address and brings it into its normal form (see the file comment). `role` names
 * the field in the error message ("from", "to", "cc", ...).
 */
export function normalizeAddress(value: string, role: string): NormalizedAddress {
  if (typeof value !== 'string') throw invalid(role, String(value), 'not a string');
  const input = value.trim();
  if (input === '') throw invalid(role, value, 'it is empty');
  if (CONTROL.test(input)) throw invalid(role, value, 'it contains control characters');
  if (/[\s<>()\[\]\\,;:"]/u.test(input.replace(/@[^@]*$/, ''))) {
    throw invalid(role, value, 'the local part may only contain letters, digits and !#$%&\'*+-/=?^_`{|}~ (quoted local parts are not supported)');
  }
  const at = input.lastIndexOf('@');
  if (at <= 0 || at === input.length - 1) throw invalid(role, value, 'it must have the form local-part@domain');
  const local = input.slice(0, at).normalize('NFC');
  const domain = input.slice(at + 1);

  if (!local.split('.').every((atom) => ATOM.test(atom))) {
    throw invalid(role, value, 'the local part is not a valid dot-atom (no leading, trailing or double dots)');
  }
  if (Buffer.byteLength(local, 'utf8') > MAX_LOCAL_OCTETS) {
    throw invalid(role, value, `the local part is longer than ${MAX_LOCAL_OCTETS} octets`);
  }
  const asciiDomain = toAsciiDomain(domain);
  if (asciiDomain === null) throw invalid(role, value, `${JSON.stringify(domain)} is not a valid domain name`);

  const smtpUtf8 = !isAscii(local);
  const outDomain = smtpUtf8 ? domainToUnicode(asciiDomain).normalize('NFC') : asciiDomain;
  const address = `${local}@${outDomain}`;
  const octets = Buffer.byteLength(smtpUtf8 ? address : `${local}@${asciiDomain}`, 'utf8');
  if (octets > MAX_ADDRESS_OCTETS) throw invalid(role, value, `it is longer than ${MAX_ADDRESS_OCTETS} octets`);
  return { address, smtpUtf8 };
}

/** Validates a display name: any Unicode text without control characters (no header injection). */
export function checkDisplayName(name: string | undefined, role: string): string | undefined {
  if (name === undefined) return undefined;
  if (typeof name !== 'string' || CONTROL.test(name)) {
    throw new AppError('VALIDATION_FAILED', `Invalid ${role} display name ${JSON.stringify(String(name))}: it contains control characters.`, {
      details: { field: role },
    });
  }
  const trimmed = name.trim();
  return trimmed === '' ? undefined : trimmed;
}
