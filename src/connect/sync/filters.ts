import type { MessageSummary, SearchCriteria } from '../../gateways/index.ts';
import type { RuleFilters, TextMatch } from '../types.ts';

function textMatches(m: TextMatch, values: string[]): boolean {
  if ('contains' in m) {
    const needle = m.contains.normalize('NFC').toLocaleLowerCase();
    return values.some((v) => v.normalize('NFC').toLocaleLowerCase().includes(needle));
  }
  const re = new RegExp(m.regex, m.flags ?? 'i');
  return values.some((v) => re.test(v));
}

function people(list: Array<{ name: string; address: string }>): string[] {
  return list.flatMap((p) => [p.address, p.name, p.name ? `${p.name} <${p.address}>` : p.address]);
}

function attachmentMatches(types: string[], names: string[], mimeTypes: string[]): boolean {
  return types.some((t) => {
    const want = t.toLowerCase().replace(/^\./, '');
    if (want.includes('/')) return mimeTypes.some((m) => m.toLowerCase() === want);
    return names.some((n) => n.toLowerCase().endsWith(`.${want}`));
  });
}

/**
 * Whether a message passes the rule's filters, decided on the decoded envelope the server sent,
 * so non-ASCII filter text works whatever the server's SEARCH supports.
 */
export function passesFilters(f: RuleFilters, m: MessageSummary, now: Date): boolean {
  if (f.unreadOnly && m.seen) return false;
  if (f.hasAttachment && !m.hasAttachments) return false;
  if (f.maxAgeDays !== undefined) {
    const at = Date.parse(m.receivedAt ?? m.date ?? '');
    if (Number.isFinite(at) && now.getTime() - at > f.maxAgeDays * 86_400_000) return false;
  }
  if (f.from && !textMatches(f.from, m.from ? people([m.from]) : [''])) return false;
  if (f.to && !textMatches(f.to, people(m.to))) return false;
  if (f.subject && !textMatches(f.subject, [m.subject])) return false;
  if (f.attachmentTypes && f.attachmentTypes.length > 0) {
    if (!attachmentMatches(f.attachmentTypes, m.attachmentNames ?? [], m.attachmentTypes ?? [])) return false;
  }
  return true;
}

/** The part of the filters a server can search for; regexes are left to passesFilters. */
export function serverCriteria(f: RuleFilters): SearchCriteria | null {
  const c: SearchCriteria = {};
  if (f.from && 'contains' in f.from) c.from = f.from.contains;
  if (f.to && 'contains' in f.to) c.to = f.to.contains;
  if (f.subject && 'contains' in f.subject) c.subject = f.subject.contains;
  return Object.keys(c).length > 0 ? c : null;
}
