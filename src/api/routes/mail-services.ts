import { z } from 'zod';
import type { App } from '../../app.ts';
import { principalOf } from '../auth.ts';
import { ConnectionTestSchema, errorResponses, IdParams, MailServiceSchema } from '../schemas.ts';
import type { Api } from '../server.ts';

/**
 * The body of POST /api/mail-services: ServiceInput of connect/. Cross-field rules (an SMTP
 * service needs fromAddress, IMAP credentials belong to accounts, ...) are checked there and
 * answer VALIDATION_FAILED naming the field.
 */
const NewService = z
  .object({
    name: z.string().trim().min(1).max(100),
    kind: z.enum(['imap', 'smtp']),
    host: z.string().trim().min(1).max(255),
    port: z.number().int().min(1).max(65535),
    security: z.enum(['tls', 'starttls', 'none']).describe('tls: implicit TLS; starttls: upgrade after connecting; none: plain text'),
    tlsFingerprint: z
      .string()
      .regex(/^[0-9a-fA-F:\s]{64,100}$/, 'must be a SHA-256 fingerprint: 64 hex digits, colons allowed')
      .optional()
      .describe("Pin the server certificate's SHA-256 fingerprint (self-signed certificates)"),
    tlsInsecure: z.boolean().optional().describe('Do not verify the server certificate (not recommended)'),
    username: z.string().min(1).max(320).optional().describe('SMTP only: the user name to authenticate with'),
    password: z.string().min(1).max(1024).optional().describe('SMTP only: stored encrypted, never returned'),
    fromAddress: z.string().max(320).optional().describe('SMTP only: the sender address (required for SMTP)'),
    fromName: z.string().max(200).optional(),
    rateLimitPerMinute: z.number().int().positive().max(100000).optional().describe('SMTP only: at most this many messages per minute'),
  })
  .strict();

/** Organisation-wide mail services (IMAP, SMTP); administrators define them, every user's accounts use them. */
export function mailServiceRoutes(api: Api, app: App): void {
  api.get(
    '/api/mail-services',
    {
      config: { auth: 'admin' },
      schema: {
        tags: ['mail services'],
        summary: 'Mail services of your organisation',
        querystring: z.object({ kind: z.enum(['imap', 'smtp']).optional() }),
        response: { 200: z.object({ services: z.array(MailServiceSchema) }), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => ({ services: await app.connect.services.list(principalOf(request).orgId, request.query.kind) }),
  );

  api.post(
    '/api/mail-services',
    {
      config: { auth: 'admin' },
      schema: {
        tags: ['mail services'],
        summary: 'Define a mail service (IMAP to receive, SMTP to send)',
        body: NewService,
        response: { 201: MailServiceSchema, ...errorResponses(400, 401, 403, 409) },
      },
    },
    async (request, reply) => {
      const { orgId } = principalOf(request);
      const b = request.body;
      const service = await app.connect.services.create(orgId, {
        name: b.name,
        kind: b.kind,
        host: b.host,
        port: b.port,
        security: b.security,
        ...(b.tlsFingerprint === undefined ? {} : { tlsFingerprint: b.tlsFingerprint }),
        ...(b.tlsInsecure === undefined ? {} : { tlsInsecure: b.tlsInsecure }),
        ...(b.username === undefined ? {} : { username: b.username }),
        ...(b.password === undefined ? {} : { password: b.password }),
        ...(b.fromAddress === undefined ? {} : { fromAddress: b.fromAddress }),
        ...(b.fromName === undefined ? {} : { fromName: b.fromName }),
        ...(b.rateLimitPerMinute === undefined ? {} : { rateLimitPerMinute: b.rateLimitPerMinute }),
      });
      return reply.code(201).send(service);
    },
  );

  api.get(
    '/api/mail-services/:id',
    {
      config: { auth: 'admin' },
      schema: { tags: ['mail services'], summary: 'One mail service', params: IdParams, response: { 200: MailServiceSchema, ...errorResponses(400, 401, 403, 404) } },
    },
    async (request) => {
      const { orgId } = principalOf(request);
      const row = await app.connect.services.byId(orgId, request.params.id);
      return app.connect.services.show(orgId, row.name);
    },
  );

  api.delete(
    '/api/mail-services/:id',
    {
      config: { auth: 'admin' },
      schema: {
        tags: ['mail services'],
        summary: 'Remove a mail service',
        description: '409 IN_USE while mail accounts use it.',
        params: IdParams,
        response: { 204: z.null().describe('Removed'), ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      await app.connect.services.remove(principalOf(request).orgId, request.params.id);
      return reply.code(204).send(null);
    },
  );

  api.post(
    '/api/mail-services/:id/test',
    {
      config: { auth: 'admin' },
      schema: {
        tags: ['mail services'],
        summary: "Reach the service's server: TLS (with pinning), greeting, capabilities; SMTP also logs in",
        description: 'A server that cannot be reached or refuses answers 502 with the reason (MAIL_HOST_UNREACHABLE, MAIL_TLS_FAILED, MAIL_AUTH_FAILED, ...).',
        params: IdParams,
        response: { 200: ConnectionTestSchema, ...errorResponses(400, 401, 403, 404, 502) },
      },
    },
    async (request) => {
      const { orgId } = principalOf(request);
      const row = await app.connect.services.byId(orgId, request.params.id);
      return app.connect.testService(orgId, row.name);
    },
  );
}
