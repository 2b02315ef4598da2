import type { ExistsEvent, ImapFlow } from 'imapflow';
import { isAppError } from '../../errors/index.ts';
import type { ConnectionSettings } from '../ports.ts';
import { errorContext, openConnection, type ImapLogger } from './connection.ts';
import { translateImapError } from './errors.ts';
import { libraryPathFor } from './session.ts';

/** Reconnect back-off after a drop: 1 s, 2 s, 4 s … capped at 60 s. */
export const BACKOFF_MIN_MS = 1000;
export const BACKOFF_MAX_MS = 60_000;

export function backoffDelay(attempt: number): number {
  return Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.max(0, attempt));
}

export interface Watcher {
  stop(): Promise<void>;
}

/**
 * Watches a folder on a connection of its own: SELECT/EXAMINE it and sit in IDLE (RFC 2177),
 * which imapflow enters by itself once the connection is quiet and restarts every 60 s; an
 * untagged EXISTS with a higher count means new mail (RFC 3501 §7.3.1). Servers without IDLE
 * are polled with NOOP every 60 s instead (imapflow's missingIdleCommand), which makes them
 * send the same EXISTS.
 *
 * The first connection must succeed (a wrong folder or password is the caller's error). After
 * that every drop is reported through onError and followed by a reconnect with exponential
 * back-off; a reconnect also calls onNews once, since mail may have come while we were away.
 */
export async function startWatch(
  settings: ConnectionSettings,
  folder: string,
  onNews: () => void,
  onError: (err: Error) => void,
  logger: ImapLogger | undefined,
): Promise<Watcher> {
  const ctx = { ...errorContext(settings), folder };
  let stopped = false;
  let client: ImapFlow | null = null;
  let timer: NodeJS.Timeout | null = null;
  let attempt = 0;
  let connectedAt = 0;

  const safe = (fn: () => void): void => {
    try {
      fn();
    } catch (err) {
      logger?.error({ component: 'imap', folder, err }, 'a watch callback threw');
    }
  };

  const connectOnce = async (): Promise<ImapFlow> => {
    const { client: c } = await openConnection(settings, 'watch', logger);
    try {
      await c.mailboxOpen(libraryPathFor(c, folder), { readOnly: true });
    } catch (err) {
      c.close();
      throw translateImapError(err, { ...ctx, operation: 'open the folder to watch' });
    }
    c.on('exists', (ev: ExistsEvent) => {
      if (ev.count > ev.prevCount) safe(onNews);
    });
    c.on('close', () => {
      if (stopped || client !== c) return;
      client = null;
      // Back-off starts over only after a connection that lasted; one the server keeps
      // dropping right after login gets ever longer pauses instead of a reconnect a second.
      if (Date.now() - connectedAt > BACKOFF_MAX_MS) attempt = 0;
      safe(() => onError(translateImapError(Object.assign(new Error('closed'), { code: 'NoConnection' }), { ...ctx, operation: 'watch the folder' })));
      schedule();
    });
    return c;
  };

  const schedule = (): void => {
    if (stopped) return;
    const delay = backoffDelay(attempt);
    attempt++;
    timer = setTimeout(() => {
      timer = null;
      connectOnce().then(
        (c) => {
          if (stopped) {
            c.close();
            return;
          }
          client = c;
          connectedAt = Date.now();
          safe(onNews);
        },
        (err: unknown) => {
          safe(() => onError(isAppError(err) ? err : translateImapError(err, ctx)));
          schedule();
        },
      );
    }, delay);
  };

  client = await connectOnce();
  connectedAt = Date.now();
  return {
    async stop(): Promise<void> {
      if (stopped) return;
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
      const c = client;
      client = null;
      if (c) await c.logout().catch(() => c.close());
    },
  };
}
