/**
 * Message-ID, In-Reply-To and References (RFC 5322 section 3.6.4). Ids are returned without
 * angle brackets. Folding inside an id (long ids folded by broken mailers) is removed.
 */

const BRACKETED = /<([^<>]*)>/g;
/** Hostile References headers list ids by the hundred thousand; threading needs only the tail. */
export const MAX_REFERENCES = 1000;

function bracketedIds(value: string): string[] {
  const ids: string[] = [];
  for (const match of value.matchAll(BRACKETED)) {
    const id = (match[1] ?? '').replace(/\s+/g, '');
    if (id !== '') ids.push(id);
  }
  return ids;
}

function bareTokens(value: string): string[] {
  return value
    .replace(/\([^()]*\)/g, ' ')
    .split(/[\s,]+/)
    .map((token) => token.replace(/^<|>$/g, ''))
    .filter((token) => token !== '');
}

/** Message-ID: the first id; an unbracketed value is taken as is (some gateways drop the brackets). */
export function parseMessageId(value: string | null): string | null {
  if (value === null) return null;
  return bracketedIds(value)[0] ?? bareTokens(value)[0] ?? null;
}

/**
 * In-Reply-To: the first id. Old mailers wrote free text here ("Your message of Tue, ..."), so
 * unbracketed tokens count only when they look like an id.
 */
export function parseInReplyTo(value: string | null): string | null {
  if (value === null) return null;
  return bracketedIds(value)[0] ?? bareTokens(value).find((token) => token.includes('@')) ?? null;
}

/** References: all ids, in order, across repeated References headers. */
export function parseReferences(values: readonly string[]): { ids: string[]; truncated: boolean } {
  const ids: string[] = [];
  for (const value of values) {
    const found = bracketedIds(value);
    ids.push(...(found.length > 0 ? found : bareTokens(value).filter((token) => token.includes('@'))));
  }
  if (ids.length <= MAX_REFERENCES) return { ids, truncated: false };
  // Keep the root and the most recent ancestors, the ones threading algorithms use (RFC 5256).
  return { ids: [ids[0] ?? '', ...ids.slice(ids.length - MAX_REFERENCES + 1)], truncated: true };
}
