import { z } from 'zod';
import type { App } from '../../app.ts';
import type { MailSource } from '../../gateways/index.ts';
import type { Principal } from '../../orgs/index.ts';
import { principalOf } from '../auth.ts';
import { errorResponses, IdParams, MailboxMessageSchema, MailFolderSchema, ManualArchiveResultSchema } from '../schemas.ts';
import type { Api } from '../server.ts';
import { visibleAccount } from './mail-accounts.ts';

const MessagesQuery = z.object({
  folder: z.string().min(1).max(1000).default('INBOX').describe('The folder path (as GET .../folders lists it); default INBOX'),
  offset: z.coerce.number().int().min(0).max(10_000_000).default(0),
  limit: z.coerce.number().int().min(1).max(1000).default(50),
});

const ArchiveBody = z
  .object({
    folder: z.string().min(1).max(1000),
    uids: z.array(z.number().int().min(1).max(2 ** 32 - 1)).min(1).max(1000).describe('IMAP UIDs, as GET .../messages lists them'),
    cabinetId: z.uuid().describe('The file cabinet to archive into'),
  })
  .strict();

/** Opens the mailbox of an account the caller may use, runs `use`, and always logs out. */
async function withMailbox<T>(app: App, p: Principal, accountId: string, use: (source: MailSource, accountName: string) => Promise<T>): Promise<T> {
  const row = await visibleAccount(app, p, accountId);
  const { source, accountName } = await app.connect.openAccount(p.orgId, row.name);
  try {
    return await use(source, accountName);
  } finally {
    await source.close().catch(() => undefined);
  }
}

/** Browsing a mailbox and archiving chosen messages by hand. */
export function mailboxRoutes(api: Api, app: App): void {
  api.get(
    '/api/mail-accounts/:id/folders',
    {
      config: { auth: 'user' },
      schema: {
        tags: ['mail accounts'],
        summary: 'Folders of the mailbox',
        params: IdParams,
        response: { 200: z.object({ folders: z.array(MailFolderSchema) }), ...errorResponses(400, 401, 404, 502) },
      },
    },
    async (request) => {
      const p = principalOf(request);
      return { folders: await withMailbox(app, p, request.params.id, (source) => app.connect.mailbox.folders(source)) };
    },
  );

  api.get(
    '/api/mail-accounts/:id/messages',
    {
      config: { auth: 'user' },
      schema: {
        tags: ['mail accounts'],
        summary: 'Messages of a folder, newest first, each marked when it is already archived',
        params: IdParams,
        querystring: MessagesQuery,
        response: {
          200: z.object({ folder: z.string(), total: z.number().int(), offset: z.number().int(), limit: z.number().int(), messages: z.array(MailboxMessageSchema) }),
          ...errorResponses(400, 401, 404, 502),
        },
      },
    },
    async (request) => {
      const p = principalOf(request);
      const { folder, offset, limit } = request.query;
      const page = await withMailbox(app, p, request.params.id, (source) => app.connect.mailbox.list(p.orgId, source, folder, { offset, limit }));
      return { folder, total: page.total, offset, limit, messages: page.messages };
    },
  );

  api.post(
    '/api/mail-accounts/:id/archive',
    {
      config: { auth: 'user' },
      schema: {
        tags: ['mail accounts'],
        summary: 'Archive chosen messages (by UID) into a file cabinet',
        description: 'Answers one result per UID; a UID that does not exist or cannot be archived is reported there and does not stop the others.',
        params: IdParams,
        body: ArchiveBody,
        response: { 200: z.object({ results: z.array(ManualArchiveResultSchema) }), ...errorResponses(400, 401, 404, 502) },
      },
    },
    async (request) => {
      const p = principalOf(request);
      const { folder, uids, cabinetId } = request.body;
      // Checked before the mailbox is opened: a cabinet of another organisation is simply unknown.
      const cabinet = await app.archive.cabinetById(p.orgId, cabinetId);
      const results = await withMailbox(app, p, request.params.id, (source, accountName) =>
        app.connect.mailbox.archive(p.orgId, source, accountName, folder, uids, cabinet.id),
      );
      return { results };
    },
  );
}
