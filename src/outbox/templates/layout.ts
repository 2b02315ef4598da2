/**
 * The frame around every HTML body: a complete document with its language and charset, a
 * readable width, no external resources (nothing is loaded from anywhere when it is opened).
 */
import { escapeHtml } from './escape.ts';
import type { Language } from './i18n.ts';

/** `body` and `footer` are HTML built by the caller from escaped parts. */
export function htmlDocument(input: { language: Language; title: string; body: string; footer?: string }): string {
  const footer = input.footer === undefined ? '' : `\n<hr style="border:none;border-top:1px solid #ddd;margin:24px 0 12px">\n<p style="color:#666;font-size:12px">${input.footer}</p>`;
  return [
    '<!DOCTYPE html>',
    `<html lang="${input.language}">`,
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(input.title)}</title>`,
    '</head>',
    '<body style="margin:0;padding:16px;font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;font-size:15px;line-height:1.5;color:#222">',
    '<div style="max-width:640px;margin:0 auto">',
    `${input.body}${footer}`,
    '</div>',
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

/** Text in paragraphs (blank lines) and lines, escaped, as HTML. */
export function paragraphs(text: string): string {
  return text
    .replace(/\r\n?/g, '\n')
    .split(/\n{2,}/)
    .filter((p) => p.trim() !== '')
    .map((p) => `<p>${p.split('\n').map(escapeHtml).join('<br>\n')}</p>`)
    .join('\n');
}

/** A link whose text is the address itself, so it can be copied when the button is not shown. */
export function linkHtml(href: string, text?: string): string {
  return `<a href="${escapeHtml(href)}" style="color:#0b57d0">${escapeHtml(text ?? href)}</a>`;
}

/** A prominent link plus the plain address below it. */
export function buttonHtml(href: string, label: string): string {
  return (
    `<p><a href="${escapeHtml(href)}" style="display:inline-block;padding:10px 18px;background:#0b57d0;color:#fff;text-decoration:none;border-radius:4px">${escapeHtml(label)}</a></p>\n` +
    `<p style="font-size:13px;color:#555;word-break:break-all">${linkHtml(href)}</p>`
  );
}

/** Label/value rows, escaped. Empty values are left out. */
export function factsHtml(rows: Array<[string, string]>): string {
  const body = rows
    .filter(([, v]) => v !== '')
    .map(([k, v]) => `<tr><td style="padding:2px 12px 2px 0;color:#666;vertical-align:top">${escapeHtml(k)}</td><td style="padding:2px 0">${escapeHtml(v)}</td></tr>`)
    .join('\n');
  return `<table style="border-collapse:collapse">\n${body}\n</table>`;
}

/** Label/value rows for the text part, labels padded to one width. */
export function factsText(rows: Array<[string, string]>): string {
  const shown = rows.filter(([, v]) => v !== '');
  const width = Math.max(0, ...shown.map(([k]) => [...k].length)) + 1;
  return shown.map(([k, v]) => `  ${`${k}:`.padEnd(width + 1)}${v}`).join('\n');
}
