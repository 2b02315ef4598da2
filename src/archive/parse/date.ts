/**
 * Date header parsing. RFC 5322 section 3.3 plus the obsolete forms of section 4.3 and what
 * mailers actually write (asctime from old Unix mailers, ISO 8601 from scripts, named zones).
 * Date.parse is not used on its own: V8 accepts almost any string ("1" is 2001-01-01).
 */

const MONTHS: ReadonlyMap<string, number> = new Map([
  ['jan', 0], ['feb', 1], ['mar', 2], ['apr', 3], ['may', 4], ['jun', 5],
  ['jul', 6], ['aug', 7], ['sep', 8], ['oct', 9], ['nov', 10], ['dec', 11],
]);

/** Offsets in minutes. RFC 5322 4.3 names the US zones; the rest are common in the wild. */
const ZONES: ReadonlyMap<string, number> = new Map([
  ['ut', 0], ['utc', 0], ['gmt', 0], ['z', 0], ['wet', 0],
  ['est', -300], ['edt', -240], ['cst', -360], ['cdt', -300],
  ['mst', -420], ['mdt', -360], ['pst', -480], ['pdt', -420],
  ['akst', -540], ['akdt', -480], ['hst', -600],
  ['west', 60], ['bst', 60], ['cet', 60], ['met', 60], ['mez', 60],
  ['cest', 120], ['mest', 120], ['mesz', 120], ['eet', 120], ['eest', 180], ['msk', 180],
  ['ist', 330], ['hkt', 480], ['sgt', 480], ['awst', 480], ['jst', 540], ['kst', 540],
  ['acst', 570], ['aest', 600], ['aedt', 660], ['nzst', 720], ['nzdt', 780],
]);

const RFC5322 =
  /^(?:[a-z]+\.?,?\s*)?(\d{1,2})[\s-]+([a-z]{3,})\.?[\s-]+(\d{2,4}),?\s+(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.\d+)?)?\s*(?:([+-])\s?(\d{1,2}):?(\d{2})|([a-z]{1,5})\b)?/;
/** "Mar 3 2026 10:00:00" and asctime "Tue Mar  3 10:00:00 2026". */
const MONTH_FIRST =
  /^(?:[a-z]+,?\s+)?([a-z]{3,})\.?\s+(\d{1,2}),?\s+(?:(\d{4})\s+)?(\d{1,2}):(\d{1,2})(?::(\d{1,2}))?\s*(?:([+-])(\d{2}):?(\d{2})|([a-z]{1,5})\b)?\s*(\d{4})?/;
const ISO8601 = /^(\d{4})-(\d{2})-(\d{2})(?:[t\s]+(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?\s*(?:(z)|([+-])(\d{2}):?(\d{2}))?)?/;

function month(name: string): number | undefined {
  return MONTHS.get(name.slice(0, 3));
}

function fullYear(digits: string): number {
  const year = Number(digits);
  // RFC 5322 4.3: two-digit years 00-49 are 20xx, 50-99 are 19xx; three digits add 1900.
  if (digits.length === 2) return year < 50 ? 2000 + year : 1900 + year;
  if (digits.length === 3) return 1900 + year;
  return year;
}

function offsetMinutes(sign: string | undefined, hours: string | undefined, minutes: string | undefined, zone: string | undefined): number {
  if (sign !== undefined && hours !== undefined && minutes !== undefined) {
    const h = Number(hours);
    const m = Number(minutes);
    if (h > 23 || m > 59) return 0;
    return (sign === '-' ? -1 : 1) * (h * 60 + m);
  }
  // Unknown and military zones count as UTC (RFC 5322 4.3: "should be considered equivalent to -0000").
  if (zone !== undefined) return ZONES.get(zone) ?? 0;
  return 0;
}

function build(year: number, monthIndex: number | undefined, day: number, hour: number, minute: number, second: number, offset: number): Date | null {
  if (monthIndex === undefined || monthIndex < 0 || monthIndex > 11 || year < 1000 || year > 9999 || day < 1 || day > 31 || hour > 24 || minute > 59 || second > 60) return null;
  const utc = Date.UTC(year, monthIndex, day, hour, minute, Math.min(second, 59));
  const check = new Date(Date.UTC(year, monthIndex, day));
  // 31 Feb is not a date; Date.UTC would roll it over into March.
  if (check.getUTCDate() !== day) return null;
  return new Date(utc - offset * 60_000);
}

/** Parses a Date header value; null when it cannot be read as a date. */
export function parseMailDate(value: string): Date | null {
  // A date is short; the cap keeps the regexes below cheap on hostile headers.
  const text = value
    .slice(0, 256)
    .replace(/\([^()]*\)/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .toLowerCase();
  if (text === '') return null;

  let m = RFC5322.exec(text);
  if (m) {
    return build(fullYear(m[3] ?? ''), month(m[2] ?? ''), Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6] ?? 0), offsetMinutes(m[7], m[8], m[9], m[10]));
  }
  m = ISO8601.exec(text);
  if (m) {
    const offset = m[7] === 'z' ? 0 : offsetMinutes(m[8], m[9], m[10], undefined);
    return build(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4] ?? 0), Number(m[5] ?? 0), Number(m[6] ?? 0), offset);
  }
  m = MONTH_FIRST.exec(text);
  if (m) {
    const year = m[3] ?? m[11];
    if (year === undefined) return null;
    return build(Number(year), month(m[1] ?? ''), Number(m[2]), Number(m[4]), Number(m[5]), Number(m[6] ?? 0), offsetMinutes(m[7], m[8], m[9], m[10]));
  }
  return null;
}
