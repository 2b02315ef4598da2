/** Human-readable notes about tolerated damage; deduplicated and capped so hostile input cannot flood them. */
export class Warnings {
  static readonly LIMIT = 50;
  readonly #seen = new Set<string>();
  readonly #prefix: string;
  #dropped = 0;

  /** `prefix` says which attached message the notes are about ('' for the outer message). */
  constructor(prefix = '') {
    this.#prefix = prefix;
  }

  add(note: string): void {
    this.addVerbatim(this.#prefix + note);
  }

  /** For notes that already say where they belong (from a nested message). */
  addVerbatim(message: string): void {
    if (this.#seen.has(message)) return;
    if (this.#seen.size >= Warnings.LIMIT) {
      this.#dropped++;
      return;
    }
    this.#seen.add(message);
  }

  list(): string[] {
    const out = [...this.#seen];
    if (this.#dropped > 0) out.push(`${this.#dropped} further warnings omitted`);
    return out;
  }
}

/** Quotes a value from the message for a warning, shortened and without control characters. */
export function quote(value: string, max = 80): string {
  const clean = value.replace(/[\x00-\x1f\x7f]/g, ' ');
  return JSON.stringify(clean.length > max ? `${clean.slice(0, max)}...` : clean);
}
