/**
 * An alert to an organisation's administrators: what broke and how to fix it (used by the
 * health capability's daily alerts and for problems such as an unavailable password reset).
 */
import { absoluteUrl, escapeHtml, oneLine, plain } from './escape.ts';
import { formatDate, languageOf, plural, type Language } from './i18n.ts';
import { buttonHtml, factsHtml, factsText, htmlDocument, paragraphs } from './layout.ts';
import type { RenderedMail } from './types.ts';

export interface AdminAlertInput {
  language: string;
  recipientName: string;
  orgName: string;
  publicUrl: string;
  problem: {
    /** e.g. password_reset_unavailable, smtp_auth_failed */
    kind: string;
    /** What is wrong (written by the code that found it, in English). */
    message: string;
    /** How to fix it. */
    fix: string;
    firstSeenAt: string;
    lastSeenAt: string;
    count: number;
  };
}

/** Short titles for the kinds we know; others show their kind. */
const TITLES: Record<string, Record<Language, string>> = {
  password_reset_unavailable: { en: 'password reset is unavailable', de: 'Passwort-Zurücksetzen ist nicht verfügbar' },
  notifications_unavailable: { en: 'notification mail cannot be sent', de: 'Benachrichtigungen können nicht versendet werden' },
};

const WORDS: Record<Language, { subject: (t: string) => string; hello: (n: string) => string; intro: (o: string) => string; fix: string; first: string; last: string; times: string; count: (n: number) => string; all: string }> = {
  en: {
    subject: (t) => `[Mailroom] Action needed: ${t}`,
    hello: (n) => `Hello ${n},`,
    intro: (o) => `Mailroom found a problem in the organisation "${o}" that needs an administrator:`,
    fix: 'How to fix it',
    first: 'First seen',
    last: 'Last seen',
    times: 'Occurrences',
    count: (n) => `${n} ${plural(n, 'time', 'times')}`,
    all: 'Show all problems',
  },
  de: {
    subject: (t) => `[Mailroom] Handlungsbedarf: ${t}`,
    hello: (n) => `Hallo ${n},`,
    intro: (o) => `Mailroom hat in der Organisation „${o}“ ein Problem gefunden, um das sich eine Administratorin oder ein Administrator kümmern muss:`,
    fix: 'So beheben Sie es',
    first: 'Zuerst gesehen',
    last: 'Zuletzt gesehen',
    times: 'Vorkommen',
    count: (n) => `${n}-mal`,
    all: 'Alle Probleme anzeigen',
  },
};

export function problemTitle(kind: string, language: Language): string {
  return TITLES[kind]?.[language] ?? kind.replace(/_/g, ' ');
}

export function renderAdminAlert(input: AdminAlertInput): RenderedMail {
  const language = languageOf(input.language);
  const w = WORDS[language];
  const p = input.problem;
  const subject = w.subject(problemTitle(p.kind, language));
  const link = absoluteUrl(input.publicUrl, '/admin/problems');
  const facts: Array<[string, string]> = [
    [w.first, formatDate(p.firstSeenAt, language)],
    [w.last, formatDate(p.lastSeenAt, language)],
    [w.times, w.count(p.count)],
  ];
  const name = oneLine(input.recipientName);
  const org = oneLine(input.orgName);
  const text = plain(
    [w.hello(name), '', w.intro(org), '', p.message, '', `${w.fix}:`, p.fix, '', factsText(facts), '', `${w.all}: ${link}`, '(mailroom problems list)', ''].join('\n'),
  );
  const body = [
    `<p>${escapeHtml(w.hello(name))}</p>`,
    `<p>${escapeHtml(w.intro(org))}</p>`,
    `<div style="border-left:4px solid #c5221f;padding:4px 12px;margin:12px 0">${paragraphs(p.message)}</div>`,
    `<h3 style="font-size:16px;margin:16px 0 4px">${escapeHtml(w.fix)}</h3>`,
    paragraphs(p.fix),
    factsHtml(facts),
    buttonHtml(link, w.all),
  ].join('\n');
  return { subject, text, html: htmlDocument({ language, title: subject, body, footer: 'Mailroom' }) };
}
