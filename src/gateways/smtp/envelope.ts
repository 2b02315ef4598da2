import { domainToASCII, domainToUnicode } from 'node:url';
import { AppError } from '../../errors/index.ts';
import type { Envelope } from '../ports.ts';

/**
 * The SMTP envelope as it goes on the wire, and whether it (or the message) needs SMTPUTF8.
 *
 * An address with an ASCII local part never needs SMTPUTF8: its domain is sent as an A-label
 * (`url.domainToASCII()`, UTS #46 mapping). Only a non-ASCII local part does (RFC 6531); such an
 * address keeps a Unicode NFC domain. Raw UTF-8 in the address header fields of the message
 * (RFC 6532) needs SMTPUTF8 as well, whatever the envelope says.
 */

export interface WireEnvelope {
  from: string;
  to: string[];
  /** Addresses that only an SMTPUTF8 server may receive. */
  utf8Addresses: string[];
}

const ASCII = /^[\x00-\x7F]*$/;
const FORBIDDEN = /[\x00-\x20\x7F<>]/;
const LDH_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

function invalidEnvelope(address: string, reason: string): AppError {
  return new AppError('VALIDATION_FAILED', `Invalid envelope address ${JSON.stringify(address)}: ${reason}.`, {
    details: { permanent: true, response: null, address },
  });
}

function wireAddress(address: string): { address: string; utf8: boolean } {
  if (typeof address !== 'string' || address === '' || FORBIDDEN.test(address)) {
    throw invalidEnvelope(String(address), 'empty, or contains spaces, control characters or angle brackets');
  }
  const at = address.lastIndexOf('@');
  if (at <= 0 || at === address.length - 1) throw invalidEnvelope(address, 'expected local-part@domain');
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  const ascii = domain.startsWith('[') ? domain : domainToASCII(domain);
  // domainToASCII follows the WHATWG URL host rules, which let '-x-' labels through: check LDH too.
  if (ascii === '' || (!domain.startsWith('[') && !ascii.split('.').every((label) => LDH_LABEL.test(label)))) throw invalidEnvelope(address, `${JSON.stringify(domain)} is not a valid domain name`);
  if (ASCII.test(local)) return { address: `${local}@${ascii}`, utf8: false };
  return { address: `${local.normalize('NFC')}@${domainToUnicode(ascii).normalize('NFC')}`, utf8: true };
}

export function toWireEnvelope(envelope: Envelope): WireEnvelope {
  if (envelope === null || typeof envelope !== 'object' || !Array.isArray(envelope.to)) {
    throw new AppError('VALIDATION_FAILED', 'The envelope needs a sender and a list of recipients.', {
      details: { permanent: true, response: null },
    });
  }
  if (envelope.to.length === 0) {
    throw new AppError('VALIDATION_FAILED', 'The envelope has no recipients.', { details: { permanent: true, response: null } });
  }
  const utf8Addresses: string[] = [];
  // The null reverse-path (MAIL FROM:<>) is allowed for bounces and auto-replies.
  let from = '';
  if (envelope.from !== '') {
    const w = wireAddress(envelope.from);
    from = w.address;
    if (w.utf8) utf8Addresses.push(w.address);
  }
  const to = envelope.to.map((addr) => {
    const w = wireAddress(addr);
    if (w.utf8) utf8Addresses.push(w.address);
    return w.address;
  });
  return { from, to, utf8Addresses };
}

/** Address fields whose raw UTF-8 (RFC 6532) needs an SMTPUTF8 transaction. */
const ADDRESS_FIELDS = new Set([
  'from', 'sender', 'reply-to', 'to', 'cc', 'bcc', 'resent-from', 'resent-sender', 'resent-to', 'resent-cc', 'resent-bcc',
  'return-path', 'disposition-notification-to',
]);

/** Names of the message's address header fields that carry 8-bit bytes. */
export function utf8AddressHeaders(raw: Buffer): string[] {
  let end = raw.indexOf('\r\n\r\n');
  if (end < 0) end = raw.indexOf('\n\n');
  const head = (end < 0 ? raw : raw.subarray(0, end)).toString('latin1');
  const found: string[] = [];
  let current: { name: string; eightBit: boolean } | null = null;
  const flush = (): void => {
    if (current && current.eightBit && ADDRESS_FIELDS.has(current.name.toLowerCase()) && !found.includes(current.name)) {
      found.push(current.name);
    }
  };
  for (const line of head.split(/\r?\n/)) {
    if (/^[ \t]/.test(line) && current) {
      current.eightBit ||= /[\x80-\xFF]/.test(line);
      continue;
    }
    flush();
    const colon = line.indexOf(':');
    current = colon > 0 ? { name: line.slice(0, colon).trim(), eightBit: /[\x80-\xFF]/.test(line.slice(colon + 1)) } : null;
  }
  flush();
  return found;
}
