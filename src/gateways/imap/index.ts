/**
 * The IMAP gateway: MailSource (gateways/ports.ts) over imapflow. One module per operation,
 * like imapflow's own lib/commands/:
 *
 *   connection.ts  ImapFlow options, connect + log in       tls.ts     implicit TLS/STARTTLS, pinning
 *   errors.ts      the error translation table              session.ts one connection, one command at a time
 *   folders.ts     LIST + modified UTF-7 names (utf7.ts)    changes.ts incremental sync by UID/MODSEQ
 *   browse.ts      newest-first pages                       search.ts  UID SEARCH
 *   fetch.ts       raw message stream                       actions.ts seen/flag/keyword/move/delete
 *   idle.ts        watch a folder with IDLE                 source.ts  wires them into a MailSource
 */
import type { ConnectionSettings, MailSource } from '../ports.ts';
import { openConnection, probeConnection, type ImapLogger } from './connection.ts';
import { ImapSource } from './source.ts';

export type { ImapLogger } from './connection.ts';
export { normalizeFingerprint, formatFingerprint } from './tls.ts';

/**
 * Connects, negotiates TLS as configured and logs in; a wrong password, an untrusted
 * certificate or an unreachable host fails here with the matching AppError.
 * Concurrency: see ImapSource (calls are served one at a time; consume fetchRaw streams).
 */
export async function openImapSource(settings: ConnectionSettings, options: { logger?: ImapLogger } = {}): Promise<MailSource> {
  const connection = await openConnection(settings, 'main', options.logger);
  return new ImapSource(connection, settings, options.logger);
}

export interface ImapConnectionTest {
  ok: true;
  /** What the server offers after login (RFC 3501 §7.2.1), e.g. "IDLE", "MOVE", "QRESYNC". */
  capabilities: string[];
  /** How many folders LIST shows. */
  folders: number;
  /** SHA-256 of the server certificate, "AB:CD:…", for pinning; null without TLS. */
  tlsFingerprint256: string | null;
}

/** Connects, logs in, counts the folders and logs out; failures are AppErrors as for openImapSource. */
export async function testImapConnection(settings: ConnectionSettings, options: { logger?: ImapLogger } = {}): Promise<ImapConnectionTest> {
  if (settings.auth.type === 'none') {
    const probe = await probeConnection(settings, options.logger);
    return { ok: true, capabilities: probe.capabilities, folders: 0, tlsFingerprint256: probe.fingerprint256 };
  }
  const connection = await openConnection(settings, 'main', options.logger);
  const source = new ImapSource(connection, settings, options.logger);
  try {
    const folders = await source.listFolders();
    return {
      ok: true,
      capabilities: [...connection.client.capabilities.keys()],
      folders: folders.length,
      tlsFingerprint256: connection.tls.fingerprint256,
    };
  } finally {
    await source.close();
  }
}
