import { z } from 'zod';

/** A text filter: a case-insensitive substring, or a regular expression written as /.../flags. */
export const textMatchSchema = z.union([
  z.object({ contains: z.string().min(1) }),
  z.object({ regex: z.string().min(1), flags: z.string().regex(/^[imsu]*$/).optional() }),
]);
export type TextMatch = z.infer<typeof textMatchSchema>;

export const ruleFiltersSchema = z
  .object({
    from: textMatchSchema.optional(),
    to: textMatchSchema.optional(),
    subject: textMatchSchema.optional(),
    hasAttachment: z.boolean().optional(),
    /** File extensions ("pdf") or MIME types ("application/pdf"); any attachment matching one. */
    attachmentTypes: z.array(z.string().min(1)).optional(),
    /** Only messages received within this many days. */
    maxAgeDays: z.number().int().positive().optional(),
    unreadOnly: z.boolean().optional(),
  })
  .strict();
export type RuleFilters = z.infer<typeof ruleFiltersSchema>;

export const MAIL_VALUES = ['subject', 'from.address', 'from.name', 'to', 'date', 'messageId', 'folder', 'account'] as const;
export type MailValue = (typeof MAIL_VALUES)[number];

/** Cabinet index field → a mail value or a fixed value. */
export const fieldMappingSchema = z.record(
  z.string().min(1).max(100),
  z.union([z.object({ from: z.enum(MAIL_VALUES) }), z.object({ value: z.string() })]),
);
export type FieldMapping = z.infer<typeof fieldMappingSchema>;

export const mailboxActionSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('none') }),
  z.object({ type: z.literal('seen') }),
  z.object({ type: z.literal('flag') }),
  // RFC 3501 atom: no specials, no spaces; a leading backslash would name a system flag.
  z.object({ type: z.literal('keyword'), keyword: z.string().regex(/^[^\\\s(){%*"\]\x00-\x1f\x7f]{1,100}$/, 'must be an IMAP atom without spaces or ( ) { % * " ] \\') }),
  z.object({ type: z.literal('move'), folder: z.string().min(1) }),
  z.object({ type: z.literal('delete') }),
]);

export const securitySchema = z.enum(['tls', 'starttls', 'none']);
export const serviceKindSchema = z.enum(['imap', 'smtp']);
