import { z } from 'zod';

/**
 * The shapes the API returns, as zod schemas. Responses are encoded through these schemas, and
 * `z.object` drops every key it does not name: a storage row that carries `password_hash` or
 * `token_hash` cannot reach a client even if a handler passed one by mistake (design §2.5).
 *
 * Schemas with an `id` here become named components in `/api/openapi.json`.
 */
export const apiSchemas = z.registry<{ id?: string | undefined; [key: string]: unknown }>();

export function named<T extends z.ZodType>(id: string, schema: T, description?: string): T {
  apiSchemas.add(schema, description === undefined ? { id } : { id, description });
  return schema;
}

/** Bytes on the wire (an upload body or a download): shown in OpenAPI as a binary string. */
export function binary<T extends z.ZodType>(schema: T, description: string): T {
  apiSchemas.add(schema, { type: 'string', format: 'binary', description });
  return schema;
}

export const ErrorBody = named(
  'Error',
  z.object({
    code: z.string().describe('Stable error code, e.g. VALIDATION_FAILED, AUTH_REQUIRED, NOT_FOUND'),
    message: z.string().describe('What is wrong and how to fix it'),
    details: z.record(z.string(), z.unknown()).optional(),
  }),
  'Every error answer has this shape.',
);

export const RoleSchema = z.enum(['admin', 'user']);
export const LanguageSchema = z.enum(['en', 'de']);

export const UserSchema = named(
  'User',
  z.object({
    id: z.string(),
    orgId: z.string(),
    email: z.string(),
    name: z.string(),
    role: RoleSchema,
    language: z.string(),
    createdAt: z.string(),
  }),
);

export const OrgSchema = named('Organisation', z.object({ id: z.string(), name: z.string(), createdAt: z.string() }));

export const TokenSchema = named(
  'ApiToken',
  z.object({ id: z.string(), name: z.string(), createdAt: z.string(), lastUsedAt: z.string().nullable() }),
  'A personal API token; the secret itself is shown only once, when it is created.',
);

export const NewTokenSchema = named(
  'NewApiToken',
  z.object({
    id: z.string(),
    name: z.string(),
    createdAt: z.string(),
    token: z.string().describe('The secret (mrt_...). Shown only now: store it, it cannot be retrieved again.'),
  }),
);

export const CabinetSchema = named(
  'Cabinet',
  z.object({ id: z.string(), name: z.string(), createdAt: z.string(), documentCount: z.number().int().optional() }),
);

export const AddressSchema = named('Address', z.object({ name: z.string(), address: z.string() }));

export const AttachmentSchema = named(
  'Attachment',
  z.object({
    index: z.number().int().describe('Number of the attachment, from 0; use it in /attachments/{index}'),
    filename: z.string(),
    contentType: z.string(),
    size: z.number().int(),
    sha256: z.string(),
    partPath: z.string(),
  }),
);

const documentFields = {
  id: z.string(),
  cabinetId: z.string(),
  messageId: z.string().nullable(),
  sha256: z.string().describe('SHA-256 of the original message bytes'),
  size: z.number().int(),
  subject: z.string(),
  from: AddressSchema.nullable(),
  to: z.array(AddressSchema),
  cc: z.array(AddressSchema),
  date: z.string().nullable(),
  inReplyTo: z.string().nullable(),
  references: z.array(z.string()),
  attachmentCount: z.number().int(),
  attachmentNames: z.array(z.string()),
  source: z.string(),
  archivedAt: z.string(),
  contentDiffers: z.boolean().describe('Another document in the cabinet has the same Message-ID but different bytes'),
  warnings: z.array(z.string()),
  preview: z.string(),
};

export const DocumentSchema = named(
  'Document',
  z.object({ ...documentFields, attachments: z.array(AttachmentSchema).optional() }),
);

export const SearchHitSchema = named(
  'SearchHit',
  z.object({ ...documentFields, rank: z.number().describe('Relevance; only comparable within one result list') }),
);

export const VerifyResultSchema = named(
  'VerifyResult',
  z.object({ id: z.string(), ok: z.boolean(), problems: z.array(z.string()) }),
);

/** Path parameter `:id` of every entity: all ids are UUIDs. */
export const IdParams = z.object({ id: z.uuid() });

/** Error answers a route can give, for its OpenAPI description. */
export function errorResponses<const S extends readonly number[]>(...statuses: S): { [K in S[number]]: typeof ErrorBody } {
  const out: Record<number, typeof ErrorBody> = {};
  for (const s of statuses) out[s] = ErrorBody;
  return out as { [K in S[number]]: typeof ErrorBody };
}

// ---------------------------------------------------------------- connect to mail
// Mail services, mail accounts, import rules and manual archiving (routes/connect.ts).
// A password or sealed secret (mr1:...) has no field here: only `hasPassword`.

const Security = z.enum(['tls', 'starttls', 'none']);

export const MailServiceSchema = named(
  'MailService',
  z.object({
    id: z.string(),
    name: z.string(),
    kind: z.enum(['imap', 'smtp', 'graph', 'ews']),
    host: z.string(),
    port: z.number().int(),
    security: Security,
    tls: z.object({
      mode: z.enum(['verify', 'fingerprint', 'insecure']).describe('verify: the certificate must be trusted; fingerprint: pinned; insecure: not verified'),
      fingerprint: z.string().nullable().describe('The pinned SHA-256 fingerprint (64 hex digits)'),
    }),
    authType: z.enum(['none', 'basic', 'oauth2']),
    username: z.string().nullable().describe('SMTP: the user name it authenticates with'),
    hasPassword: z.boolean().describe('A password is stored (encrypted); it is never returned'),
    fromAddress: z.string().nullable(),
    fromName: z.string().nullable(),
    rateLimitPerMinute: z.number().int().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
  }),
  'An organisation-wide mail server connection: IMAP to receive, SMTP to send.',
);

export const MailAccountSchema = named(
  'MailAccount',
  z.object({
    id: z.string(),
    name: z.string(),
    serviceId: z.string().describe('The IMAP service it is reached through'),
    username: z.string(),
    hasPassword: z.boolean().describe('A password is stored (encrypted); it is never returned'),
    ownerUserId: z.string().nullable(),
    shared: z.boolean().describe('false: a personal mailbox, visible and usable only by its owner and administrators'),
    createdAt: z.string(),
    updatedAt: z.string(),
  }),
  'A mailbox reached through a mail service, with its own credentials.',
);

export const ConnectionTestSchema = named(
  'ConnectionTest',
  z.object({
    ok: z.literal(true),
    capabilities: z.array(z.string()).describe('What the server offers, e.g. IDLE, MOVE, QRESYNC'),
    tlsFingerprint256: z.string().nullable().describe("SHA-256 of the server's certificate (AB:CD:...), for pinning; null without TLS"),
    folders: z.number().int().optional().describe('How many folders the mailbox has (account tests)'),
  }),
  'The server was reached (TLS, greeting, capabilities; accounts and SMTP also logged in). Failures are errors with status 502.',
);

export const MailFolderSchema = named(
  'MailFolder',
  z.object({
    path: z.string().describe("The server's name for it; use it as `folder`"),
    displayPath: z.string().describe('Decoded full name, "/" separated'),
    name: z.string(),
    delimiter: z.string(),
    specialUse: z.string().nullable().describe('\\Inbox, \\Sent, \\Trash, \\Junk, ...'),
    parent: z.string().nullable(),
    selectable: z.boolean(),
  }),
);

export const MailboxMessageSchema = named(
  'MailboxMessage',
  z.object({
    uid: z.number().int().describe('The IMAP UID; use it to archive the message by hand'),
    messageId: z.string().nullable(),
    from: AddressSchema.nullable(),
    to: z.array(AddressSchema),
    subject: z.string(),
    date: z.string().nullable().describe('From the Date header'),
    receivedAt: z.string().nullable(),
    size: z.number().int(),
    seen: z.boolean(),
    hasAttachments: z.boolean(),
    archived: z.boolean().describe('A document with this Message-ID is already in the archive of your organisation'),
  }),
  'A message in a mailbox folder, for browsing by hand.',
);

export const ManualArchiveResultSchema = named(
  'ManualArchiveResult',
  z.discriminatedUnion('ok', [
    z.object({
      uid: z.number().int(),
      ok: z.literal(true),
      id: z.string().describe('The document'),
      duplicate: z.boolean().describe('It was already archived in this cabinet; id is that document'),
      subject: z.string(),
    }),
    z.object({ uid: z.number().int(), ok: z.literal(false), error: z.object({ code: z.string(), message: z.string() }) }),
  ]),
  'What happened to one UID; a UID that failed does not stop the others.',
);

const TextMatchSchema = z.union([
  z.object({ contains: z.string().min(1).describe('Case-insensitive substring') }).strict(),
  z.object({ regex: z.string().min(1), flags: z.string().regex(/^[imsu]*$/, 'must be a combination of i, m, s and u').optional() }).strict(),
]);

/** Strict: a misspelt filter must be an error, never a filter silently left out. */
export const RuleFiltersSchema = named(
  'ImportRuleFilters',
  z
    .object({
      from: TextMatchSchema.optional(),
      to: TextMatchSchema.optional(),
      subject: TextMatchSchema.optional(),
      hasAttachment: z.boolean().optional(),
      attachmentTypes: z.array(z.string().min(1)).optional().describe('File extensions ("pdf") or MIME types ("application/pdf")'),
      maxAgeDays: z.number().int().positive().optional().describe('Only messages received within this many days'),
      unreadOnly: z.boolean().optional(),
    })
    .strict(),
);

export const FieldMappingSchema = named(
  'ImportRuleMapping',
  z.record(
    z.string().min(1).max(100),
    z.union([
      z.object({ from: z.enum(['subject', 'from.address', 'from.name', 'to', 'date', 'messageId', 'folder', 'account']) }).strict(),
      z.object({ value: z.string() }).strict(),
    ]),
  ),
  'Cabinet index field -> a value of the mail, or a fixed value.',
);

export const MailboxActionSchema = named(
  'MailboxAction',
  z.discriminatedUnion('type', [
    z.object({ type: z.literal('none') }).strict(),
    z.object({ type: z.literal('seen') }).strict(),
    z.object({ type: z.literal('flag') }).strict(),
    z.object({ type: z.literal('keyword'), keyword: z.string().min(1).max(100).describe('An IMAP keyword (atom)') }).strict(),
    z.object({ type: z.literal('move'), folder: z.string().min(1) }).strict(),
    z.object({ type: z.literal('delete') }).strict(),
  ]),
  'What is done in the mailbox with a message once it is archived.',
);

export const ImportRuleSchema = named(
  'ImportRule',
  z.object({
    id: z.string(),
    orgId: z.string(),
    name: z.string(),
    accountId: z.string(),
    cabinetId: z.string(),
    folders: z.array(z.string()),
    includeSubfolders: z.boolean(),
    filters: RuleFiltersSchema,
    mapping: FieldMappingSchema,
    action: MailboxActionSchema,
    intervalSeconds: z.number().int(),
    useIdle: z.boolean(),
    enabled: z.boolean(),
    createdAt: z.string(),
    updatedAt: z.string(),
  }),
  'Mail account + folders -> file cabinet, with filters, field mapping, schedule and mailbox action.',
);

export const SyncSummarySchema = named(
  'SyncSummary',
  z.object({
    rule: z.string(),
    fetched: z.number().int(),
    archived: z.number().int(),
    duplicates: z.number().int(),
    failed: z.number().int(),
    skipped: z.number().int().describe('Left out by the filters'),
    seconds: z.number(),
    busy: z.array(z.string()).describe('Folders another run was syncing at the time; they were left to it'),
  }),
  'One pass of an import rule.',
);

export const LedgerEntrySchema = named(
  'LedgerEntry',
  z.object({
    folder: z.string(),
    uidValidity: z.string(),
    uid: z.string(),
    status: z.enum(['archived', 'duplicate', 'failed']),
    documentId: z.string().nullable(),
    attempts: z.number().int(),
    reason: z.string().nullable().describe('Why it failed'),
    actionDone: z.boolean().describe('The mailbox action was applied'),
    subject: z.string(),
    firstSeenAt: z.string(),
    updatedAt: z.string(),
  }),
  'What an import rule did with one message.',
);

export const SyncRunSchema = named(
  'SyncRun',
  z.object({
    id: z.string(),
    trigger: z.string(),
    startedAt: z.string(),
    finishedAt: z.string().nullable(),
    fetched: z.number().int(),
    archived: z.number().int(),
    duplicates: z.number().int(),
    failed: z.number().int(),
    skipped: z.number().int(),
    error: z.string().nullable(),
  }),
  'One run of an import rule.',
);
