/**
 * SMTP gateway: `MailSender` on nodemailer's SMTPConnection (the room's one door).
 *
 * - SMTPUTF8 (RFC 6531) is enforced here: a message that needs it is refused with
 *   MAIL_SMTPUTF8_REQUIRED, before MAIL FROM, on a session whose EHLO lacks it.
 * - Errors are AppErrors with `details: { permanent, response, configuration }`; see classify.ts.
 */
export { createSmtpSender, parseQueueId, type SmtpSenderOptions } from './sender.ts';
export { classifySmtpError, type SmtpErrorClass } from './classify.ts';
export { createRateLimiter, systemClock, type Clock, type RateLimiter } from './rate-limit.ts';
export { parseEhlo, type SmtpLogger, type SessionCaps } from './session.ts';
export { normalizeFingerprint } from './tls.ts';
export { toWireEnvelope, utf8AddressHeaders, type WireEnvelope } from './envelope.ts';
export { probeSmtp } from './probe.ts';
