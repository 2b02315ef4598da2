import { Readable } from 'node:stream';
import { z } from 'zod';
import type { App } from '../../app.ts';
import { AppError } from '../../errors/index.ts';
import type { Principal } from '../../orgs/index.ts';
import { principalOf } from '../auth.ts';
import { contentDisposition, downloadHeaders, safeContentType } from '../download.ts';
import { binary, DocumentSchema, errorResponses, IdParams, SearchHitSchema, VerifyResultSchema } from '../schemas.ts';
import type { Api } from '../server.ts';

export const RFC822 = 'message/rfc822';

/** A calendar day (whole day, UTC) or an ISO 8601 instant with an offset. */
const DateBound = z.union([z.iso.date(), z.iso.datetime({ offset: true })]);
const Flag = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

const SearchQuery = z.object({
  q: z.string().max(1000).optional().describe('Words to find in subject, people, attachment names, body and text attachments'),
  cabinet: z.uuid().optional().describe('Only this file cabinet'),
  from: z.string().max(320).optional().describe('Part of the sender address or name'),
  to: z.string().max(320).optional().describe('Part of a To or Cc address or name'),
  dateFrom: DateBound.optional().describe('Sent on or after (YYYY-MM-DD or ISO 8601 date-time)'),
  dateTo: DateBound.optional().describe('Sent on or before (a day includes the whole day)'),
  hasAttachment: Flag.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(50),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
});

const SearchResult = z.object({ total: z.number().int(), limit: z.number().int(), offset: z.number().int(), documents: z.array(SearchHitSchema) });

const UploadQuery = z.object({ cabinet: z.uuid().describe('The file cabinet to archive into') });
const RawMessage = binary(
  z.custom<Buffer>((v) => Buffer.isBuffer(v) && v.length > 0, { message: `send the raw message (RFC 5322 bytes) as the request body with Content-Type: ${RFC822}` }),
  'The message exactly as received (an .eml file)',
);
const UploadResult = z.object({
  document: DocumentSchema,
  duplicate: z.boolean().describe('The same bytes were already archived in this cabinet; document is that one'),
  contentDiffers: z.boolean().describe('Another document in the cabinet has the same Message-ID but different bytes'),
});

const AttachmentParams = z.object({ id: z.uuid(), index: z.coerce.number().int().min(0).max(100_000) });

/** A streamed download: never serialized (fastify pipes streams), typed so handlers send one. */
function download(mediaType: string, description: string) {
  return { description, content: { [mediaType]: { schema: binary(z.custom<Readable>((v) => v instanceof Readable), description) } } };
}

/** Normalised to the stored form (ISO 8601 UTC) so the string comparison in the store is right. */
function bound(value: string | undefined, end: boolean): string | undefined {
  if (value === undefined) return undefined;
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) return `${value}T${end ? '23:59:59.999' : '00:00:00.000'}Z`;
  return new Date(value).toISOString();
}

async function requireCabinet(app: App, principal: Principal, cabinetId: string | undefined): Promise<void> {
  if (cabinetId !== undefined) await app.archive.cabinetById(principal.orgId, cabinetId);
}

/** Archived documents of the caller's organisation: search, read, download, verify, upload. */
export function documentRoutes(api: Api, app: App, uploadLimit: number): void {
  api.get(
    '/api/documents',
    {
      config: { auth: 'user' },
      schema: { tags: ['documents'], summary: 'Search documents (all words must match); without q, the newest first', querystring: SearchQuery, response: { 200: SearchResult, ...errorResponses(400, 401, 404) } },
    },
    async (request) => {
      const principal = principalOf(request);
      const q = request.query;
      // A cabinet of another organisation is unknown here, exactly like one that does not exist.
      await requireCabinet(app, principal, q.cabinet);
      const page = await app.archive.search(principal.orgId, {
        q: q.q,
        cabinetId: q.cabinet,
        from: q.from,
        to: q.to,
        dateFrom: bound(q.dateFrom, false),
        dateTo: bound(q.dateTo, true),
        hasAttachment: q.hasAttachment,
        limit: q.limit,
        offset: q.offset,
      });
      return { total: page.total, limit: q.limit, offset: q.offset, documents: page.documents };
    },
  );

  api.post(
    '/api/documents',
    {
      config: { auth: 'user' },
      bodyLimit: uploadLimit,
      schema: {
        tags: ['documents'],
        summary: 'Archive one message (the raw .eml bytes) into a file cabinet',
        description: `201 when archived, 200 with duplicate=true when the same bytes are already in the cabinet. At most ${uploadLimit} bytes.`,
        consumes: [RFC822],
        querystring: UploadQuery,
        body: RawMessage,
        response: { 201: UploadResult, 200: UploadResult, ...errorResponses(400, 401, 404, 413, 415) },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      // The archive refuses a cabinet of another organisation (CABINET_NOT_FOUND, 404).
      const [outcome] = await app.archive.ingest(principal.orgId, request.query.cabinet, [{ raw: request.body, source: `api:${principal.email}` }]);
      if (!outcome) throw new AppError('INTERNAL', 'The archive returned no outcome for the upload.');
      if (!outcome.ok) throw outcome.error;
      const document = await app.archive.getDocument(principal.orgId, outcome.id);
      return reply.code(outcome.duplicate ? 200 : 201).send({ document, duplicate: outcome.duplicate, contentDiffers: outcome.contentDiffers });
    },
  );

  api.get(
    '/api/documents/:id',
    {
      config: { auth: 'user' },
      schema: { tags: ['documents'], summary: 'One document with its attachments', params: IdParams, response: { 200: DocumentSchema, ...errorResponses(400, 401, 404) } },
    },
    async (request) => app.archive.getDocument(principalOf(request).orgId, request.params.id),
  );

  api.get(
    '/api/documents/:id/raw',
    {
      config: { auth: 'user' },
      schema: {
        tags: ['documents'],
        summary: 'The original message, byte for byte, as an .eml download',
        params: IdParams,
        response: { 200: download(RFC822, 'The original RFC 5322 bytes'), ...errorResponses(400, 401, 404, 503) },
      },
    },
    async (request, reply) => {
      const { stream, size, document } = await app.archive.openRaw(principalOf(request).orgId, request.params.id);
      downloadHeaders(reply, { contentType: RFC822, size, disposition: contentDisposition(`${document.id}.eml`, 'message.eml') });
      return reply.send(stream);
    },
  );

  api.get(
    '/api/documents/:id/attachments/:index',
    {
      config: { auth: 'user' },
      schema: {
        tags: ['documents'],
        summary: 'One attachment, as a download with its decoded file name',
        params: AttachmentParams,
        response: { 200: download('application/octet-stream', 'The attachment bytes, sent with the attachment\'s own Content-Type'), ...errorResponses(400, 401, 404, 503) },
      },
    },
    async (request, reply) => {
      const { id, index } = request.params;
      const att = await app.archive.openAttachment(principalOf(request).orgId, id, index);
      downloadHeaders(reply, { contentType: safeContentType(att.contentType), size: att.size, disposition: contentDisposition(att.filename, `attachment-${index}`) });
      return reply.send(att.stream);
    },
  );

  api.get(
    '/api/documents/:id/verify',
    {
      config: { auth: 'user' },
      schema: { tags: ['documents'], summary: 'Re-read the original and its attachments and compare them with their SHA-256', params: IdParams, response: { 200: VerifyResultSchema, ...errorResponses(400, 401, 404) } },
    },
    async (request) => app.archive.verify(principalOf(request).orgId, request.params.id),
  );
}
