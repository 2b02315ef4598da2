import type { Readable } from 'node:stream';
import { AppError } from '../errors/index.ts';
import type { Archive, IngestOutcome } from '../archive/index.ts';
import type { Store } from '../store/index.ts';
import type { Folder, MailSource, MessageSummary } from '../gateways/index.ts';

export interface BrowsedMessage extends MessageSummary {
  uid: number;
  archived: boolean;
}

/** The archive keeps Message-IDs without angle brackets; an IMAP ENVELOPE carries them with. */
function bareMessageId(id: string | null): string | null {
  if (id === null) return null;
  const bare = (/<([^<>]+)>/.exec(id)?.[1] ?? id).trim();
  return bare === '' ? null : bare;
}

async function toBuffer(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Archiving by hand: browse a mailbox, pick messages, archive them into a cabinet. */
export function createMailbox(store: Store, archive: Archive) {
  return {
    async folders(source: MailSource): Promise<Folder[]> {
      return source.listFolders();
    },

    /** A page of a folder, newest first, each marked when its Message-ID is already archived. */
    async list(orgId: string, source: MailSource, folder: string, page: { offset: number; limit: number }): Promise<{ total: number; messages: BrowsedMessage[] }> {
      const { total, messages } = await source.list(folder, page);
      const ids = messages.map((m) => bareMessageId(m.messageId)).filter((m): m is string => m !== null);
      const archived = await store.documents.archivedMessageIds(orgId, ids);
      return {
        total,
        messages: messages.map((m) => {
          const id = bareMessageId(m.messageId);
          return { ...m, uid: Number(m.ref.key), archived: id !== null && archived.has(id) };
        }),
      };
    },

    /** Archives the chosen UIDs of a folder; a UID that does not exist is reported, not fatal. */
    async archive(
      orgId: string,
      source: MailSource,
      accountName: string,
      folder: string,
      uids: number[],
      cabinetId: string,
    ): Promise<Array<{ uid: number } & ({ ok: true; id: string; duplicate: boolean; subject: string } | { ok: false; error: { code: string; message: string } })>> {
      const { epoch } = await source.folderStatus(folder);
      const out: Awaited<ReturnType<typeof this.archive>> = [];
      for (const uid of uids) {
        let outcome: IngestOutcome;
        try {
          const raw = await toBuffer(await source.fetchRaw({ folder, epoch, key: String(uid) }));
          [outcome] = (await archive.ingest(orgId, cabinetId, [{ raw, source: `imap:${accountName}/${folder}#${epoch}:${uid}` }])) as [IngestOutcome];
        } catch (err) {
          const e = err instanceof AppError ? err : new AppError('INTERNAL', (err as Error).message);
          out.push({ uid, ok: false, error: { code: e.code, message: e.message } });
          continue;
        }
        out.push(outcome.ok ? { uid, ok: true, id: outcome.id, duplicate: outcome.duplicate, subject: outcome.parsed.subject } : { uid, ok: false, error: { code: outcome.error.code, message: outcome.error.message } });
      }
      return out;
    },
  };
}

export type Mailbox = ReturnType<typeof createMailbox>;
