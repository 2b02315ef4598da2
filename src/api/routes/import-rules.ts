import { z } from 'zod';
import type { App } from '../../app.ts';
import { principalOf } from '../auth.ts';
import {
  errorResponses,
  FieldMappingSchema,
  IdParams,
  ImportRuleSchema,
  LedgerEntrySchema,
  MailboxActionSchema,
  RuleFiltersSchema,
  SyncRunSchema,
  SyncSummarySchema,
} from '../schemas.ts';
import type { Api } from '../server.ts';

const Flag = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

/** The body of POST /api/import-rules: RuleInput of connect/, which checks regexes and move loops too. */
const NewRule = z
  .object({
    name: z.string().trim().min(1).max(100),
    accountId: z.uuid().describe('A mail account of your organisation'),
    cabinetId: z.uuid().describe('The file cabinet to archive into'),
    folders: z.array(z.string().min(1).max(1000)).min(1).max(100).describe('Folder paths to read, e.g. ["INBOX"]'),
    includeSubfolders: z.boolean().optional(),
    filters: RuleFiltersSchema.optional(),
    mapping: FieldMappingSchema.optional(),
    action: MailboxActionSchema.optional().describe('Default: none'),
    intervalSeconds: z.number().int().min(30).max(7 * 24 * 3600).optional().describe('How often it runs; default 300'),
    useIdle: z.boolean().optional().describe('Also run at once when IMAP IDLE reports new mail; default true'),
    enabled: z.boolean().optional().describe('Default true'),
  })
  .strict();

const LedgerQuery = z.object({
  failed: Flag.optional().describe('Only failures'),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  offset: z.coerce.number().int().min(0).max(10_000_000).default(0),
});

const LedgerResult = z.object({
  rule: z.string(),
  limit: z.number().int(),
  offset: z.number().int(),
  counts: z.object({ archived: z.number().int(), duplicate: z.number().int(), failed: z.number().int() }).describe('All entries of the rule per status'),
  entries: z.array(LedgerEntrySchema),
});

const ResetBody = z
  .object({ failedOnly: z.boolean().optional().describe('Only forget failures (they are retried from scratch); else everything, and the next run rescans') })
  .strict()
  .nullish()
  .describe('Optional: without a body, everything is forgotten');

/**
 * Import rules: administrators create, switch and remove them; every user of the organisation
 * reads them, runs one now and reads what it did. The connect service is name-based here; ids
 * are resolved within the caller's organisation first, so an id of another one is unknown.
 */
export function importRuleRoutes(api: Api, app: App): void {
  const ruleOf = (orgId: string, id: string) => app.connect.rules.byId(orgId, id);

  api.get(
    '/api/import-rules',
    {
      config: { auth: 'user' },
      schema: { tags: ['import rules'], summary: 'Import rules of your organisation', response: { 200: z.object({ rules: z.array(ImportRuleSchema) }), ...errorResponses(401) } },
    },
    async (request) => ({ rules: await app.connect.rules.list(principalOf(request).orgId) }),
  );

  api.post(
    '/api/import-rules',
    {
      config: { auth: 'admin' },
      schema: {
        tags: ['import rules'],
        summary: 'Create an import rule: mail account + folders -> file cabinet',
        body: NewRule,
        response: { 201: ImportRuleSchema, ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const b = request.body;
      const rule = await app.connect.rules.create(principalOf(request).orgId, {
        name: b.name,
        accountId: b.accountId,
        cabinetId: b.cabinetId,
        folders: b.folders,
        ...(b.includeSubfolders === undefined ? {} : { includeSubfolders: b.includeSubfolders }),
        ...(b.filters === undefined ? {} : { filters: b.filters }),
        ...(b.mapping === undefined ? {} : { mapping: b.mapping }),
        ...(b.action === undefined ? {} : { action: b.action }),
        ...(b.intervalSeconds === undefined ? {} : { intervalSeconds: b.intervalSeconds }),
        ...(b.useIdle === undefined ? {} : { useIdle: b.useIdle }),
        ...(b.enabled === undefined ? {} : { enabled: b.enabled }),
      });
      return reply.code(201).send(rule);
    },
  );

  api.get(
    '/api/import-rules/:id',
    {
      config: { auth: 'user' },
      schema: { tags: ['import rules'], summary: 'One import rule', params: IdParams, response: { 200: ImportRuleSchema, ...errorResponses(400, 401, 404) } },
    },
    async (request) => ruleOf(principalOf(request).orgId, request.params.id),
  );

  api.delete(
    '/api/import-rules/:id',
    {
      config: { auth: 'admin' },
      schema: {
        tags: ['import rules'],
        summary: 'Remove an import rule (the documents it archived stay)',
        params: IdParams,
        response: { 204: z.null().describe('Removed'), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      await app.connect.rules.remove(principalOf(request).orgId, request.params.id);
      return reply.code(204).send(null);
    },
  );

  for (const [verb, enabled] of [['enable', true], ['disable', false]] as const) {
    api.post(
      `/api/import-rules/:id/${verb}`,
      {
        config: { auth: 'admin' },
        schema: {
          tags: ['import rules'],
          summary: enabled ? 'Enable an import rule: it runs on its schedule again' : 'Disable an import rule: it no longer runs on its schedule',
          params: IdParams,
          response: { 200: ImportRuleSchema, ...errorResponses(400, 401, 403, 404) },
        },
      },
      async (request) => app.connect.rules.setEnabled(principalOf(request).orgId, request.params.id, enabled),
    );
  }

  api.post(
    '/api/import-rules/:id/sync',
    {
      config: { auth: 'user' },
      schema: {
        tags: ['import rules'],
        summary: 'Run the rule once, now, and answer what it did',
        description:
          'Messages that fail are counted in `failed` and listed by GET .../ledger?failed=true. A mail server that cannot be reached or refuses ' +
          'the login answers 502 with the reason.',
        params: IdParams,
        response: { 200: SyncSummarySchema, ...errorResponses(400, 401, 404, 502) },
      },
    },
    async (request) => {
      const { orgId } = principalOf(request);
      const rule = await ruleOf(orgId, request.params.id);
      return app.connect.sync(orgId, rule.name);
    },
  );

  api.get(
    '/api/import-rules/:id/ledger',
    {
      config: { auth: 'user' },
      schema: {
        tags: ['import rules'],
        summary: 'What the rule did with each message: archived, duplicate, or failed with the reason; newest first',
        params: IdParams,
        querystring: LedgerQuery,
        response: { 200: LedgerResult, ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => {
      const { orgId } = principalOf(request);
      const q = request.query;
      const rule = await ruleOf(orgId, request.params.id);
      const ledger = await app.connect.ledger(orgId, rule.name, { failedOnly: q.failed ?? false, limit: q.limit, offset: q.offset });
      return { rule: ledger.rule, limit: q.limit, offset: q.offset, counts: ledger.counts, entries: ledger.entries };
    },
  );

  api.post(
    '/api/import-rules/:id/ledger/reset',
    {
      config: { auth: 'admin' },
      schema: {
        tags: ['import rules'],
        summary: "Forget the rule's ledger entries (all, or failures only)",
        description: 'Forgetting everything makes the next run rescan the folders; nothing is archived twice.',
        params: IdParams,
        body: ResetBody,
        response: { 200: z.object({ removed: z.number().int() }), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { orgId } = principalOf(request);
      const rule = await ruleOf(orgId, request.params.id);
      return app.connect.resetLedger(orgId, rule.name, { failedOnly: request.body?.failedOnly ?? false });
    },
  );

  api.get(
    '/api/import-rules/:id/runs',
    {
      config: { auth: 'user' },
      schema: {
        tags: ['import rules'],
        summary: 'The latest runs of the rule, newest first',
        params: IdParams,
        querystring: z.object({ limit: z.coerce.number().int().min(1).max(1000).default(20) }),
        response: { 200: z.object({ runs: z.array(SyncRunSchema) }), ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => {
      const { orgId } = principalOf(request);
      const rule = await ruleOf(orgId, request.params.id);
      return { runs: await app.connect.runs(orgId, rule.name, request.query.limit) };
    },
  );
}
