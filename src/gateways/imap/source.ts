import type { Readable } from 'node:stream';
import type {
  Change,
  ConnectionSettings,
  Cursor,
  Folder,
  MailboxAction,
  MailSource,
  MessageRef,
  MessageSummary,
  SearchCriteria,
  SourceCapabilities,
  SummaryDetail,
} from '../ports.ts';
import { applyAction } from './actions.ts';
import { listPage, summariesOf } from './browse.ts';
import { listChanges } from './changes.ts';
import type { ImapLogger, OpenConnection } from './connection.ts';
import { fetchRawMessage } from './fetch.ts';
import { ReadAhead } from './prefetch.ts';
import { folderStatus, listFolders } from './folders.ts';
import { startWatch, type Watcher } from './idle.ts';
import { searchFolder } from './search.ts';
import { ImapSession } from './session.ts';

/**
 * MailSource over one IMAP connection (plus one more per watch()). Each method is a module of
 * its own; this class only wires them to the shared session.
 *
 * Concurrency contract (IMAP runs one command sequence per connection):
 * - Calls are served one at a time, in call order; a call waits while another is running.
 * - changes() holds the connection only while it SELECTs, SEARCHes or FETCHes a batch of
 *   summaries, never across a yield, so fetchRaw()/apply() may be called inside the loop.
 * - fetchRaw() holds the connection until its stream has ended, failed or been destroyed.
 *   Consume (or destroy) each stream before awaiting another call on the same source,
 *   otherwise that call waits forever. (A message read ahead, see prefetch.ts, comes from
 *   memory and holds nothing; a read-ahead FETCH in the background holds the connection like
 *   any other call, briefly.)
 */
export class ImapSource implements MailSource {
  readonly capabilities: SourceCapabilities;
  private readonly session: ImapSession;
  private readonly readAhead: ReadAhead;
  private readonly watchers = new Set<Watcher>();
  private closing: Promise<void> | null = null;

  constructor(
    connection: OpenConnection,
    private readonly settings: ConnectionSettings,
    private readonly logger: ImapLogger | undefined,
  ) {
    this.session = new ImapSession(connection.client, connection.ctx, logger);
    this.readAhead = new ReadAhead(this.session);
    const client = connection.client;
    const has = (cap: string): boolean => client.capabilities.has(cap);
    const enabled = (ext: string): boolean => [...client.enabled].some((e) => e.toUpperCase() === ext);
    this.capabilities = {
      idle: has('IDLE'),
      move: has('MOVE') || enabled('IMAP4REV2'),
      condstore: enabled('CONDSTORE') || enabled('QRESYNC'),
      qresync: enabled('QRESYNC'),
      // RFC 9051 servers must accept UTF-8 search text; RFC 3501 ones say so only by answering
      // (I18NLEVEL, RFC 5255, is a strong hint). search() corrects this after its first UTF-8 try.
      utf8Search: enabled('UTF8=ACCEPT') || enabled('IMAP4REV2') || [...client.capabilities.keys()].some((c) => c.startsWith('I18NLEVEL=')),
    };
  }

  listFolders(): Promise<Folder[]> {
    return listFolders(this.session);
  }

  folderStatus(folder: string): Promise<{ epoch: string; messages: number }> {
    return folderStatus(this.session, folder);
  }

  changes(folder: string, cursor: Cursor | null, detail?: Readonly<SummaryDetail>): AsyncIterable<Change> {
    return listChanges(this.session, folder, cursor, this.readAhead, detail);
  }

  list(folder: string, page: { offset: number; limit: number }): Promise<{ total: number; messages: MessageSummary[] }> {
    return listPage(this.session, folder, page);
  }

  summaries(folder: string, refs: readonly MessageRef[]): Promise<MessageSummary[]> {
    return summariesOf(this.session, folder, refs);
  }

  search(folder: string, criteria: SearchCriteria): Promise<Set<string> | null> {
    return searchFolder(this.session, folder, criteria, (supported) => {
      this.capabilities.utf8Search = supported;
    });
  }

  fetchRaw(ref: MessageRef): Promise<Readable> {
    return fetchRawMessage(this.session, ref, this.readAhead);
  }

  apply(refs: MessageRef[], action: MailboxAction): Promise<void> {
    return applyAction(this.session, refs, action);
  }

  async watch(folder: string, onNews: () => void, onError: (err: Error) => void): Promise<{ stop(): Promise<void> }> {
    const watcher = await startWatch(this.settings, folder, onNews, onError, this.logger);
    this.watchers.add(watcher);
    return {
      stop: async () => {
        this.watchers.delete(watcher);
        await watcher.stop();
      },
    };
  }

  /** LOGOUT (RFC 3501 §6.1.3) on every connection of this source; safe to call twice. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const watchers = [...this.watchers];
      this.watchers.clear();
      await Promise.all(watchers.map((w) => w.stop().catch(() => undefined)));
      const client = this.session.client;
      if (client.usable) await client.logout().catch(() => undefined);
      client.close();
    })();
    return this.closing;
  }
}
