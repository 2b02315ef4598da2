import { compile } from 'html-to-text';

/** Search text, not a rendering: no wrapping, no link targets, no image placeholders. */
const convert = compile({
  wordwrap: false,
  selectors: [
    { selector: 'a', options: { ignoreHref: true } },
    { selector: 'img', format: 'skip' },
    { selector: 'h1', options: { uppercase: false } },
    { selector: 'h2', options: { uppercase: false } },
    { selector: 'h3', options: { uppercase: false } },
    { selector: 'h4', options: { uppercase: false } },
    { selector: 'h5', options: { uppercase: false } },
    { selector: 'h6', options: { uppercase: false } },
    // The default table format glues adjacent cells into one word ("<td>A</td><td>b</td>" -> "Ab").
    { selector: 'table', format: 'dataTable', options: { uppercaseHeaderCells: false } },
  ],
  limits: { maxDepth: 500, maxInputLength: 8 * 1024 * 1024 },
});

/**
 * htmlparser2 keeps open elements in an array it searches from the front, so parsing is
 * quadratic in nesting depth (mailparser measured 9 s for 200k nested <b>), and html-to-text
 * recurses per level. Markup nested deeper than this is hostile, not mail.
 */
const MAX_NESTING = 400;
const VOID_ELEMENTS = new Set(['area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'link', 'meta', 'param', 'source', 'track', 'wbr']);
/** Elements an HTML parser closes implicitly when a sibling opens; they do not nest. */
const IMPLIED_END = new Set(['p', 'li', 'dt', 'dd', 'option', 'optgroup', 'tr', 'td', 'th', 'thead', 'tbody', 'tfoot', 'rt', 'rp']);

function nestsTooDeep(html: string): boolean {
  let depth = 0;
  // [^<>]* keeps the scan linear on "<a<a<a..." with no closing ">".
  for (const match of html.matchAll(/<(\/?)([a-zA-Z][a-zA-Z0-9:-]*)[^<>]*?(\/?)>/g)) {
    const name = (match[2] ?? '').toLowerCase();
    if (VOID_ELEMENTS.has(name) || IMPLIED_END.has(name) || match[3] === '/') continue;
    if (match[1] === '/') {
      if (depth > 0) depth--;
    } else if (++depth > MAX_NESTING) {
      return true;
    }
  }
  return false;
}

const ENTITIES: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };

function dropBlocks(html: string, tag: string): string {
  const lower = html.toLowerCase();
  let out = '';
  let pos = 0;
  for (;;) {
    const start = lower.indexOf(`<${tag}`, pos);
    if (start < 0) break;
    const end = lower.indexOf(`</${tag}`, start);
    out += html.slice(pos, start);
    if (end < 0) return out;
    const close = lower.indexOf('>', end);
    pos = close < 0 ? html.length : close + 1;
  }
  return out + html.slice(pos);
}

/** Linear-time fallback for markup html-to-text must not see. */
function stripTags(html: string): string {
  return dropBlocks(dropBlocks(html, 'script'), 'style')
    .replace(/<[^<>]*>/g, ' ')
    .replace(/&(#x[0-9a-f]{1,6}|#\d{1,7}|[a-z]{2,6});/gi, (entity, body: string) => {
      const lower = body.toLowerCase();
      if (lower.startsWith('#')) {
        const code = lower.startsWith('#x') ? parseInt(lower.slice(2), 16) : parseInt(lower.slice(1), 10);
        return code > 0 && code <= 0x10ffff && (code < 0xd800 || code > 0xdfff) ? String.fromCodePoint(code) : entity;
      }
      return ENTITIES[lower] ?? entity;
    })
    // Collapse runs first, so that no pattern here backtracks over a long whitespace run.
    .replace(/[^\S\n]+/g, ' ')
    .replace(/ ?\n ?/g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

export interface HtmlTextResult {
  text: string;
  /** Set when the markup was too hostile for html-to-text and tags were stripped instead. */
  degraded: boolean;
}

export function htmlToSearchText(html: string): HtmlTextResult {
  if (nestsTooDeep(html)) return { text: stripTags(html), degraded: true };
  try {
    return { text: convert(html), degraded: false };
  } catch {
    return { text: stripTags(html), degraded: true };
  }
}
