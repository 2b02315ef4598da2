/** What every template renders: a subject and both parts of a multipart/alternative body. */
export interface RenderedMail {
  /** One line; the outbox's composer encodes non-ASCII (RFC 2047). */
  subject: string;
  text: string;
  html: string;
}
