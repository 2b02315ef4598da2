/** Parsers for the option values of the Connect-to-Mail commands; each error names the option. */
import { AppError } from '../errors/index.ts';
import type { MailboxAction } from '../gateways/index.ts';
import type { TextMatch } from '../connect/index.ts';
import type { Io } from './context.ts';

/** `90s`, `5m`, `2h`, `1d` or a plain number of seconds. */
export function parseDuration(label: string, text: string): number {
  const m = /^(\d+)\s*(s|m|h|d)?$/i.exec(text.trim());
  if (!m) throw new AppError('VALIDATION_FAILED', `${label} must be a duration like 90s, 5m, 2h or 1d, not "${text}".`);
  const unit = (m[2] ?? 's').toLowerCase();
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[unit as 's' | 'm' | 'h' | 'd'];
}

/** `none`, `seen`, `flag`, `keyword:NAME`, `move:FOLDER` or `delete`. */
export function parseAction(text: string): MailboxAction {
  const [kind, ...rest] = text.split(':');
  const arg = rest.join(':');
  switch (kind) {
    case 'none':
    case 'seen':
    case 'flag':
    case 'delete':
      if (arg === '') return { type: kind };
      break;
    case 'move':
      if (arg !== '') return { type: 'move', folder: arg };
      break;
    case 'keyword':
      if (arg !== '') return { type: 'keyword', keyword: arg };
      break;
  }
  throw new AppError('VALIDATION_FAILED', `--after must be none, seen, flag, keyword:NAME, move:FOLDER or delete, not "${text}".`);
}

/** A substring, or a regular expression written as /pattern/flags. */
export function parseMatch(text: string): TextMatch {
  const m = /^\/(.+)\/([a-z]*)$/s.exec(text);
  return m ? { regex: m[1]!, flags: m[2] || 'i' } : { contains: text };
}

/** A secret from `--password-env VAR` or `--password-stdin`; never from the command line itself. */
export async function readSecret(io: Io, opts: { passwordEnv?: string; passwordStdin?: boolean }, required: boolean): Promise<string | undefined> {
  if (opts.passwordEnv && opts.passwordStdin) throw new AppError('VALIDATION_FAILED', 'Use either --password-env or --password-stdin, not both.');
  if (opts.passwordEnv) {
    const v = io.env[opts.passwordEnv];
    if (!v) throw new AppError('VALIDATION_FAILED', `The environment variable ${opts.passwordEnv} (named by --password-env) is not set or empty.`);
    return v;
  }
  if (opts.passwordStdin) {
    const v = (await io.readStdin()).replace(/\r?\n$/, '');
    if (v === '') throw new AppError('VALIDATION_FAILED', 'No password on standard input (--password-stdin).');
    return v;
  }
  if (required) throw new AppError('VALIDATION_FAILED', 'A password is required: pass --password-env VAR or --password-stdin (never on the command line, where other users can see it).');
  return undefined;
}
