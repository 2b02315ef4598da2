/**
 * Small real-world-shaped messages for the API tests: UTF-8 headers (RFC 2047), an 8-bit
 * UTF-8 body, and an attachment whose name needs RFC 2231 (non-ASCII).
 */
import { randomBytes } from 'node:crypto';

export const ATTACHMENT_NAME = 'Rechnung März €.pdf';

export interface TestMessage {
  raw: Buffer;
  attachment: Buffer;
  /** A word only this message contains. */
  word: string;
  subject: string;
}

function encodedWord(text: string): string {
  return `=?UTF-8?B?${Buffer.from(text, 'utf8').toString('base64')}?=`;
}

function rfc2231(text: string): string {
  return `UTF-8''${encodeURIComponent(text).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)}`;
}

export function invoiceMessage(opts: { word: string; messageId?: string; subject?: string; bodyExtra?: string }): TestMessage {
  const attachment = Buffer.concat([Buffer.from('%PDF-1.4\n'), randomBytes(300)]);
  const subject = opts.subject ?? 'Rechnung für März – Grüße';
  const b64 = attachment.toString('base64').replace(/.{76}/g, '$&\r\n');
  const lines = [
    `From: ${encodedWord('Jörg Müller')} <joerg@example.de>`,
    'To: Anna Schmidt <anna@example.com>',
    `Subject: ${encodedWord(subject)}`,
    'Date: Tue, 05 Mar 2024 10:00:00 +0100',
    `Message-ID: <${opts.messageId ?? `${randomBytes(8).toString('hex')}@example.de`}>`,
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="frontier"',
    '',
    '--frontier',
    'Content-Type: text/plain; charset=UTF-8',
    'Content-Transfer-Encoding: 8bit',
    '',
    `Grüße aus München! Die Rechnung liegt bei. Stichwort ${opts.word}.`,
    opts.bodyExtra ?? '',
    '--frontier',
    `Content-Type: application/pdf; name*=${rfc2231(ATTACHMENT_NAME)}`,
    `Content-Disposition: attachment; filename*=${rfc2231(ATTACHMENT_NAME)}`,
    'Content-Transfer-Encoding: base64',
    '',
    b64,
    '--frontier--',
    '',
  ];
  return { raw: Buffer.from(lines.join('\r\n'), 'utf8'), attachment, word: opts.word, subject };
}
