/**
 * "A document you follow was archived": one mail per document, or a daily digest of several,
 * grouped by cabinet. Document fields come from archived mail (anyone can write a subject):
 * they are escaped in the HTML part and kept as they are in the text part.
 */
import { absoluteUrl, escapeHtml, oneLine, plain, shorten } from './escape.ts';
import { formatDate, languageOf, plural, type Language } from './i18n.ts';
import { buttonHtml, factsHtml, factsText, htmlDocument, linkHtml } from './layout.ts';
import type { RenderedMail } from './types.ts';

export interface ArchivedDocumentInfo {
  id: string;
  subject: string;
  from: { name: string; address: string } | null;
  /** The message's Date header. */
  date: string | null;
  archivedAt: string;
  preview: string;
  attachmentCount: number;
  cabinetName: string;
}

export interface DocumentArchivedInput {
  language: string;
  recipientName: string;
  publicUrl: string;
  document: ArchivedDocumentInfo;
  /** The subscription's search filter, if it has one. */
  query?: string | null;
}

export interface DocumentDigestInput {
  language: string;
  recipientName: string;
  publicUrl: string;
  /** Oldest first. */
  documents: ArchivedDocumentInfo[];
  /** Documents listed one by one; the rest are counted (default 200). */
  maxListed?: number;
}

/** Where a document is opened (the web console's document page). */
export function documentUrl(publicUrl: string, id: string): string {
  return absoluteUrl(publicUrl, `/documents/${encodeURIComponent(id)}`);
}

export function subscriptionsUrl(publicUrl: string): string {
  return absoluteUrl(publicUrl, '/subscriptions');
}

interface Words {
  noSubject: string;
  hello: (n: string) => string;
  newIn: (cabinet: string, query: string | null) => string;
  subject: (cabinet: string, subject: string) => string;
  labels: { subject: string; from: string; date: string; archived: string; attachments: string };
  open: string;
  why: (cabinet: string) => string;
  whyDigest: string;
  manage: string;
  digestSubject: (n: number) => string;
  digestIntro: (n: number) => string;
  more: (n: number) => string;
}

const WORDS: Record<Language, Words> = {
  en: {
    noSubject: '(no subject)',
    hello: (n) => `Hello ${n},`,
    newIn: (c, q) => `a new document was archived in the file cabinet "${c}"${q ? ` that matches "${q}"` : ''}:`,
    subject: (c, s) => `New in "${c}": ${s}`,
    labels: { subject: 'Subject', from: 'From', date: 'Date', archived: 'Archived', attachments: 'Attachments' },
    open: 'Open the document',
    why: (c) => `You receive this message because you follow the file cabinet "${c}".`,
    whyDigest: 'You receive this daily digest because you follow these file cabinets.',
    manage: 'Manage your subscriptions',
    digestSubject: (n) => `Daily digest: ${n} new ${plural(n, 'document', 'documents')}`,
    digestIntro: (n) => `${n} new ${plural(n, 'document was', 'documents were')} archived in the file cabinets you follow:`,
    more: (n) => `… and ${n} more`,
  },
  de: {
    noSubject: '(kein Betreff)',
    hello: (n) => `Hallo ${n},`,
    newIn: (c, q) => `im Ablageschrank „${c}“ wurde ein neues Dokument archiviert${q ? `, das zu „${q}“ passt` : ''}:`,
    subject: (c, s) => `Neu in „${c}“: ${s}`,
    labels: { subject: 'Betreff', from: 'Von', date: 'Datum', archived: 'Archiviert', attachments: 'Anhänge' },
    open: 'Dokument öffnen',
    why: (c) => `Sie erhalten diese Nachricht, weil Sie dem Ablageschrank „${c}“ folgen.`,
    whyDigest: 'Sie erhalten diese tägliche Übersicht, weil Sie diesen Ablageschränken folgen.',
    manage: 'Abonnements verwalten',
    digestSubject: (n) => `Tägliche Übersicht: ${n} ${plural(n, 'neues Dokument', 'neue Dokumente')}`,
    digestIntro: (n) => `In den Ablageschränken, denen Sie folgen, ${plural(n, 'wurde 1 neues Dokument', `wurden ${n} neue Dokumente`)} archiviert:`,
    more: (n) => `… und ${n} weitere`,
  },
};

function fromText(d: ArchivedDocumentInfo): string {
  if (!d.from) return '';
  const name = oneLine(d.from.name);
  return name && d.from.address ? `${name} <${d.from.address}>` : name || d.from.address;
}

function subjectOf(d: ArchivedDocumentInfo, w: Words): string {
  return oneLine(d.subject) || w.noSubject;
}

function facts(d: ArchivedDocumentInfo, w: Words, language: Language): Array<[string, string]> {
  return [
    [w.labels.subject, subjectOf(d, w)],
    [w.labels.from, fromText(d)],
    [w.labels.date, formatDate(d.date, language)],
    [w.labels.archived, formatDate(d.archivedAt, language)],
    [w.labels.attachments, d.attachmentCount > 0 ? String(d.attachmentCount) : ''],
  ];
}

export function renderDocumentArchived(input: DocumentArchivedInput): RenderedMail {
  const language = languageOf(input.language);
  const w = WORDS[language];
  const d = input.document;
  const cabinet = oneLine(d.cabinetName);
  const query = input.query ? oneLine(input.query) : null;
  const link = documentUrl(input.publicUrl, d.id);
  const manage = subscriptionsUrl(input.publicUrl);
  const preview = shorten(oneLine(d.preview), 400);
  const name = oneLine(input.recipientName);
  const subject = shorten(w.subject(cabinet, subjectOf(d, w)), 200);

  const text = plain(
    [
      w.hello(name),
      '',
      w.newIn(cabinet, query),
      '',
      factsText(facts(d, w, language)),
      ...(preview ? ['', preview] : []),
      '',
      `${w.open}: ${link}`,
      '',
      '-- ',
      w.why(cabinet),
      `${w.manage}: ${manage}`,
      '',
    ].join('\n'),
  );
  const body = [
    `<p>${escapeHtml(w.hello(name))}</p>`,
    `<p>${escapeHtml(w.newIn(cabinet, query))}</p>`,
    factsHtml(facts(d, w, language)),
    ...(preview ? [`<p style="color:#444;font-style:italic">${escapeHtml(preview)}</p>`] : []),
    buttonHtml(link, w.open),
  ].join('\n');
  const footer = `${escapeHtml(w.why(cabinet))} ${linkHtml(manage, w.manage)}`;
  return { subject, text, html: htmlDocument({ language, title: subject, body, footer }) };
}

export function renderDocumentDigest(input: DocumentDigestInput): RenderedMail {
  const language = languageOf(input.language);
  const w = WORDS[language];
  const max = Math.max(1, input.maxListed ?? 200);
  const n = input.documents.length;
  const manage = subscriptionsUrl(input.publicUrl);
  const name = oneLine(input.recipientName);
  const subject = w.digestSubject(n);

  // Grouped by cabinet, cabinets in the order their first document was archived.
  const groups = new Map<string, ArchivedDocumentInfo[]>();
  for (const d of input.documents.slice(0, max)) {
    const key = oneLine(d.cabinetName);
    const list = groups.get(key) ?? [];
    list.push(d);
    groups.set(key, list);
  }
  const rest = n - Math.min(n, max);

  const textLines: string[] = [w.hello(name), '', w.digestIntro(n)];
  const htmlParts: string[] = [`<p>${escapeHtml(w.hello(name))}</p>`, `<p>${escapeHtml(w.digestIntro(n))}</p>`];
  for (const [cabinet, docs] of groups) {
    textLines.push('', `== ${cabinet} (${docs.length}) ==`);
    htmlParts.push(`<h3 style="margin:20px 0 8px;font-size:16px">${escapeHtml(cabinet)} <span style="color:#666;font-weight:normal">(${docs.length})</span></h3>`);
    const items: string[] = [];
    for (const d of docs) {
      const link = documentUrl(input.publicUrl, d.id);
      const meta = [fromText(d), formatDate(d.date ?? d.archivedAt, language)].filter((x) => x !== '').join(' · ');
      textLines.push('', `* ${subjectOf(d, w)}`, ...(meta ? [`  ${meta}`] : []), `  ${link}`);
      items.push(
        `<li style="margin:0 0 10px">${linkHtml(link, subjectOf(d, w))}${meta ? `<br>\n<span style="color:#666;font-size:13px">${escapeHtml(meta)}</span>` : ''}</li>`,
      );
    }
    htmlParts.push(`<ul style="padding-left:20px">\n${items.join('\n')}\n</ul>`);
  }
  if (rest > 0) {
    textLines.push('', w.more(rest));
    htmlParts.push(`<p>${escapeHtml(w.more(rest))}</p>`);
  }
  textLines.push('', '-- ', w.whyDigest, `${w.manage}: ${manage}`, '');
  const footer = `${escapeHtml(w.whyDigest)} ${linkHtml(manage, w.manage)}`;
  return { subject, text: plain(textLines.join('\n')), html: htmlDocument({ language, title: subject, body: htmlParts.join('\n'), footer }) };
}
