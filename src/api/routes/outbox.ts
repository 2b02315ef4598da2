import { z } from 'zod';
import type { App } from '../../app.ts';
import { AppError } from '../../errors/index.ts';
import { MAX_MESSAGE_BYTES, OUTBOX_STATUSES, type Outbox } from '../../outbox/index.ts';
import { principalOf } from '../auth.ts';
import { IdParams, errorResponses, named } from '../schemas.ts';
import type { Api } from '../server.ts';


const AddressIn = z.union([
  z.string().min(3).max(998).describe('"a@example.com" or "Name <a@example.com>"'),
  z.object({ name: z.string().max(200).optional(), address: z.string().min(3).max(320) }).strict(),
]);

const AttachmentIn = z.union([
  z
    .object({
      documentId: z.uuid().describe('An archived document of your organisation'),
      index: z.number().int().min(0).max(100_000).optional().describe('One of its attachments; without it, the original .eml is attached (message/rfc822)'),
    })
    .strict(),
  z
    .object({
      filename: z.string().min(1).max(255),
      contentType: z.string().max(200).optional().describe('Detected from the file name when missing'),
      contentBase64: z.string().describe('The file content, base64-encoded'),
    })
    .strict(),
]);

const SendBody = named(
  'SendRequest',
  z
    .object({
      to: z.array(AddressIn).min(1).max(500),
      cc: z.array(AddressIn).max(500).optional(),
      bcc: z.array(AddressIn).max(500).optional().describe('Envelope recipients only; never written into the headers'),
      subject: z.string().max(998),
      text: z.string().optional(),
      html: z.string().optional(),
      template: z.never({ message: 'templates are not supported yet; send subject and text or html' }).optional(),
      attachments: z.array(AttachmentIn).max(100).optional(),
    })
    .strict(),
  'Workflow mail, sent through the SMTP service of your organisation\'s workflows component.',
);

const Queued = named('QueuedMessage', z.object({ id: z.string().describe('The outbox id: GET /api/outbox/{id} shows how sending goes') }));

const Status = z.enum(OUTBOX_STATUSES as readonly [string, ...string[]]);

const EventSchema = named(
  'OutboxEvent',
  z.object({
    at: z.string(),
    type: z.string().describe('queued, sent, deferred, failed, cancelled, retry, reclaimed or released'),
    attempt: z.number().int().nullable(),
    reply: z.string().nullable().describe("The server's reply, when there was one"),
    code: z.string().nullable(),
    message: z.string().nullable(),
  }),
);

const MessageFields = {
  id: z.string(),
  status: Status,
  reply: z.string().nullable().describe("The server's last reply (250 ... queued as ...), or why the last attempt failed"),
  code: z.string().nullable().describe('The stable code of the last failure'),
  attempts: z.number().int(),
  createdAt: z.string(),
  updatedAt: z.string(),
  sentAt: z.string().nullable(),
  queueId: z.string().nullable().describe("The server's queue id, from its 250 reply"),
  nextAttemptAt: z.string().nullable(),
  giveUpAt: z.string(),
  component: z.string(),
  serviceId: z.string().nullable().describe('null: the system default SMTP'),
  messageId: z.string(),
  subject: z.string(),
  from: z.string(),
  to: z.array(z.string()).describe('Every envelope recipient (To, Cc and Bcc)'),
  size: z.number().int(),
  createdBy: z.string().nullable(),
};

const MessageSummary = named('OutboxMessageSummary', z.object(MessageFields));
const MessageSchema = named('OutboxMessage', z.object({ ...MessageFields, events: z.array(EventSchema) }), 'An outgoing message with its delivery log.');

const ListQuery = z.object({
  status: Status.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
});
const ListResult = z.object({
  limit: z.number().int(),
  offset: z.number().int(),
  counts: z.record(z.string(), z.number().int()).describe('Messages of your organisation per status'),
  messages: z.array(MessageSummary),
});

/** Base64 of the largest message, plus room for the JSON around it. */
const SEND_BODY_LIMIT = Math.ceil((MAX_MESSAGE_BYTES * 4) / 3) + 1024 * 1024;

/** Sending workflow mail and following it in the outbox; everything scoped to the caller's organisation. */
export function outboxRoutes(api: Api, app: App): void {
  api.post(
    '/api/send',
    {
      config: { auth: 'user' },
      bodyLimit: SEND_BODY_LIMIT,
      schema: {
        tags: ['sending'],
        summary: 'Send workflow mail (with archived documents attached) through the outbox',
        description:
          'The message is composed and stored in the outbox before the first attempt; 202 means it is queued, not yet sent. ' +
          'Follow it with GET /api/outbox/{id}. 409 SMTP_NOT_CONFIGURED when your organisation has no SMTP service for workflows and there is no system default.',
        body: SendBody,
        response: { 202: Queued, ...errorResponses(400, 401, 404, 409, 413) },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const b = request.body;
      const { id } = await app.outbox.send(
        principal.orgId,
        {
          to: b.to,
          ...(b.cc ? { cc: b.cc } : {}),
          ...(b.bcc ? { bcc: b.bcc } : {}),
          subject: b.subject,
          ...(b.text !== undefined ? { text: b.text } : {}),
          ...(b.html !== undefined ? { html: b.html } : {}),
          ...(b.attachments ? { attachments: b.attachments } : {}),
        },
        { userId: principal.userId },
      );
      return reply.code(202).send({ id });
    },
  );

  api.get(
    '/api/outbox',
    {
      config: { auth: 'admin' },
      schema: { tags: ['sending'], summary: "Your organisation's outgoing messages, newest first", querystring: ListQuery, response: { 200: ListResult, ...errorResponses(400, 401, 403) } },
    },
    async (request) => {
      const { orgId } = principalOf(request);
      const q = request.query;
      const outbox = app.outbox;
      const messages = await outbox.list(orgId, { status: q.status, limit: q.limit, offset: q.offset });
      return { limit: q.limit, offset: q.offset, counts: await outbox.counts(orgId), messages };
    },
  );

  api.get(
    '/api/outbox/:id',
    {
      config: { auth: 'user' },
      schema: { tags: ['sending'], summary: 'One outgoing message: status, server reply, attempts and its delivery log', params: IdParams, response: { 200: MessageSchema, ...errorResponses(400, 401, 404) } },
    },
    async (request) => app.outbox.get(principalOf(request).orgId, request.params.id),
  );

  api.post(
    '/api/outbox/:id/cancel',
    {
      config: { auth: 'user' },
      schema: { tags: ['sending'], summary: 'Cancel a queued or deferred message', params: IdParams, response: { 200: MessageSchema, ...errorResponses(400, 401, 404, 409) } },
    },
    async (request) => {
      const p = principalOf(request);
      return app.outbox.cancel(p.orgId, request.params.id, { email: p.email });
    },
  );

  api.post(
    '/api/outbox/:id/retry',
    {
      config: { auth: 'user' },
      schema: {
        tags: ['sending'],
        summary: 'Try a queued, deferred or failed message again now',
        description: 'A failed message gets another 24 hours of retries.',
        params: IdParams,
        response: { 200: MessageSchema, ...errorResponses(400, 401, 404, 409) },
      },
    },
    async (request) => {
      const p = principalOf(request);
      return app.outbox.retry(p.orgId, request.params.id, { email: p.email });
    },
  );
}
