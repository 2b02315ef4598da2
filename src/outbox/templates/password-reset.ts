/** The password reset mail: a single-use link, valid for a while. */
import { absoluteUrl, escapeHtml, oneLine, plain } from './escape.ts';
import { languageOf, type Language } from './i18n.ts';
import { buttonHtml, htmlDocument } from './layout.ts';
import type { RenderedMail } from './types.ts';

export interface PasswordResetMailInput {
  /** The recipient's language setting ('de' or anything else for English). */
  language: string;
  name: string;
  email: string;
  /** MAILROOM_PUBLIC_URL: the link is `PUBLIC_URL/reset-password?token=...`. */
  publicUrl: string;
  token: string;
  validMinutes: number;
}

export function resetLink(publicUrl: string, token: string): string {
  return absoluteUrl(publicUrl, '/reset-password', { token });
}

const TEXT: Record<Language, { subject: string; hello: (n: string) => string; asked: (e: string) => string; open: (m: number) => string; button: string; once: string; ignore: string }> = {
  en: {
    subject: 'Reset your Mailroom password',
    hello: (n) => `Hello ${n},`,
    asked: (e) => `someone (hopefully you) asked to reset the password of the Mailroom account ${e}.`,
    open: (m) => `To choose a new password, open this link within ${m} minutes:`,
    button: 'Choose a new password',
    once: 'The link works only once.',
    ignore: 'If you did not ask for this, ignore this message: your password stays as it is.',
  },
  de: {
    subject: 'Ihr Mailroom-Passwort zurücksetzen',
    hello: (n) => `Hallo ${n},`,
    asked: (e) => `jemand (hoffentlich Sie) hat angefordert, das Passwort des Mailroom-Kontos ${e} zurückzusetzen.`,
    open: (m) => `Um ein neues Passwort zu wählen, öffnen Sie innerhalb von ${m} Minuten diesen Link:`,
    button: 'Neues Passwort wählen',
    once: 'Der Link funktioniert nur ein einziges Mal.',
    ignore: 'Wenn Sie das nicht angefordert haben, ignorieren Sie diese Nachricht: Ihr Passwort bleibt unverändert.',
  },
};

export function renderPasswordReset(input: PasswordResetMailInput): RenderedMail {
  const language = languageOf(input.language);
  const t = TEXT[language];
  const link = resetLink(input.publicUrl, input.token);
  const name = oneLine(input.name) || input.email;
  const text = plain(
    [t.hello(name), '', t.asked(input.email), t.open(input.validMinutes), '', link, '', `${t.once} ${t.ignore}`, '', '-- ', 'Mailroom', ''].join('\n'),
  );
  const body = [
    `<p>${escapeHtml(t.hello(name))}</p>`,
    `<p>${escapeHtml(t.asked(input.email))}<br>\n${escapeHtml(t.open(input.validMinutes))}</p>`,
    buttonHtml(link, t.button),
    `<p>${escapeHtml(t.once)} ${escapeHtml(t.ignore)}</p>`,
  ].join('\n');
  return { subject: t.subject, text, html: htmlDocument({ language, title: t.subject, body, footer: 'Mailroom' }) };
}
