/** The languages mail is written in, and how dates and counts read in each. */
export type Language = 'en' | 'de';

export const LANGUAGES: readonly Language[] = ['en', 'de'];

/** A user's language setting → the language of their mail ('de', else English). */
export function languageOf(value: string | null | undefined): Language {
  return (value ?? '').trim().toLowerCase().startsWith('de') ? 'de' : 'en';
}

const DATE_FORMATS: Record<Language, Intl.DateTimeFormat> = {
  en: new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' }),
  de: new Intl.DateTimeFormat('de-DE', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' }),
};

/** `2 Mar 2026, 09:15 UTC` / `02.03.2026, 09:15 UTC`; '' for a missing or unreadable date. */
export function formatDate(iso: string | null | undefined, language: Language): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return `${DATE_FORMATS[language].format(d)} UTC`;
}

/** Picks the singular or plural form. */
export function plural(n: number, one: string, many: string): string {
  return n === 1 ? one : many;
}
