/**
 * Output and option helpers shared by the CLI commands: JSON Lines, readable tables, the
 * one-time secret box, and parsers for option values that fail with a clear error.
 */
import type { Command } from 'commander';
import type { App } from '../app.ts';
import type { Address, CabinetView } from '../archive/index.ts';
import { AppError } from '../errors/index.ts';
import { DEFAULT_ORG, type OrgView } from '../orgs/index.ts';
import { resolveOrg, useApp, type Io } from './context.ts';

/** The root command of a (sub)command, where the global options live. */
function rootOf(cmd: Command): Command {
  let c = cmd;
  while (c.parent) c = c.parent;
  return c;
}

/** The global `--org` value (default `default`). */
export function orgOption(cmd: Command): string | undefined {
  const org: unknown = cmd.optsWithGlobals()['org'];
  return typeof org === 'string' ? org : undefined;
}

/** True when the user named an organisation with `--org` rather than relying on the default. */
export function orgGiven(cmd: Command): boolean {
  const source = rootOf(cmd).getOptionValueSource('org');
  return source !== undefined && source !== 'default';
}

/** Opens the app and resolves the organisation the command works on. */
export async function appAndOrg(io: Io, cmd: Command): Promise<{ app: App; org: OrgView }> {
  const app = await useApp(io);
  const org = await resolveOrg(app, orgOption(cmd));
  return { app, org };
}

/** A cabinet by name; the error names it and the exact command (with `--org`) that creates it. */
export async function cabinetNamed(app: App, org: OrgView, name: string): Promise<CabinetView> {
  try {
    return await app.archive.cabinetByName(org.id, name);
  } catch (err) {
    if (!(err instanceof AppError) || err.code !== 'CABINET_NOT_FOUND' || org.name === DEFAULT_ORG) throw err;
    const quoted = JSON.stringify(org.name);
    throw new AppError('CABINET_NOT_FOUND', `No file cabinet named "${name}" in organisation ${quoted}; create it with: mailroom --org ${quoted} cabinets add ${JSON.stringify(name)}`);
  }
}

/** One JSON document per line (JSON Lines); `JSON.stringify` escapes control characters. */
export function jsonLine(io: Io, value: unknown): void {
  io.out(JSON.stringify(value));
}

/** Text from mail headers may carry control characters; never send them to a terminal. */
export function clean(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/gu, ' ');
}

function width(text: string): number {
  return [...text].length;
}

function truncate(text: string, max: number): string {
  const chars = [...text];
  return chars.length <= max ? text : chars.slice(0, Math.max(max - 1, 0)).join('') + '…';
}

export interface Column<T> {
  header: string;
  value: (row: T) => string;
  /** Longer values are cut with an ellipsis. */
  max?: number;
}

/**
 * A plain, aligned table; cells are cleaned of control characters. `fixed` sizes each column with
 * a `max` to that width (so tables printed page by page line up); `header: false` omits the header.
 */
export function table<T>(io: Io, columns: Column<T>[], rows: T[], options: { header?: boolean; fixed?: boolean } = {}): void {
  const cells = rows.map((r) => columns.map((c) => truncate(clean(c.value(r)), c.max ?? 200)));
  const widths = columns.map((c, i) =>
    Math.max(width(c.header), options.fixed && c.max !== undefined ? c.max : Math.max(0, ...cells.map((row) => width(row[i]!)))),
  );
  const line = (values: string[]) =>
    values
      .map((v, i) => (i === values.length - 1 ? v : v + ' '.repeat(Math.max(widths[i]! - width(v), 0))))
      .join('  ')
      .trimEnd();
  if (options.header !== false) io.out(line(columns.map((c) => c.header)));
  for (const row of cells) io.out(line(row));
}

/** `Name <address>`, or just the address, or '' for none. */
export function formatAddress(a: Address | null | undefined): string {
  if (!a) return '';
  if (a.name && a.address) return `${a.name} <${a.address}>`;
  return a.name || a.address;
}

/** A date for tables: `2024-05-01 13:45` (UTC), or '' when unknown. */
export function shortDate(iso: string | null | undefined): string {
  if (!iso) return '';
  return iso.replace('T', ' ').slice(0, 16);
}

/** Lines of a framed box, for things the operator must not miss. */
export function box(lines: string[]): string[] {
  const inner = Math.max(...lines.map(width));
  const bar = '+' + '-'.repeat(inner + 2) + '+';
  return [bar, ...lines.map((l) => `| ${l}${' '.repeat(inner - width(l))} |`), bar];
}

/** Parses a whole number within bounds, naming the option in the error. */
export function parseInteger(label: string, text: string, min: number, max: number): number {
  const n = /^\d+$/.test(text.trim()) ? Number(text.trim()) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new AppError('VALIDATION_FAILED', `${label} must be a whole number from ${min} to ${max}, not "${text}".`);
  }
  return n;
}

/**
 * Parses `YYYY-MM-DD` or an ISO 8601 timestamp (UTC unless it names an offset) into ISO 8601
 * UTC. A bare day is its first millisecond, or with `endOfDay` its last, so that "on or before
 * 2024-05-31" includes that whole day (as the API does).
 */
export function parseDate(label: string, text: string, endOfDay = false): string {
  const m = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)(Z|[+-]\d{2}:?\d{2})?)?$/i.exec(text.trim());
  const day = m?.[1];
  // Date() rolls 2024-02-30 over into March; a calendar day must survive the round trip.
  const midnight = day === undefined ? null : new Date(`${day}T00:00:00Z`);
  const realDay = midnight !== null && !Number.isNaN(midnight.getTime()) && midnight.toISOString().startsWith(day!);
  const offset = (m?.[3] ?? 'Z').toUpperCase().replace(/^([+-]\d{2})(\d{2})$/, '$1:$2');
  const time = m?.[2] ?? (endOfDay ? '23:59:59.999' : '00:00:00.000');
  const date = m && realDay ? new Date(`${day}T${time}${offset}`) : null;
  if (!date || Number.isNaN(date.getTime())) {
    throw new AppError('VALIDATION_FAILED', `${label} must be a date like 2024-05-31 or an ISO 8601 timestamp like 2024-05-31T14:00:00Z, not "${text}".`);
  }
  return date.toISOString();
}
