import { z } from 'zod';

/**
 * The shapes the API returns, as zod schemas. Responses are encoded through these schemas, and
 * `z.object` drops every key it does not name: a storage row that carries `password_hash` or
 * `token_hash` cannot reach a client even if a handler passed one by mistake (design §2.5).
 *
 * Schemas with an `id` here become named components in `/api/openapi.json`.
 */
export const apiSchemas = z.registry<{ id?: string | undefined; [key: string]: unknown }>();

function named<T extends z.ZodType>(id: string, schema: T, description?: string): T {
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
