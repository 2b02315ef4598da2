import { z } from 'zod';

/** Every setting Mailroom reads, with its default. Environment names are listed in the README. */
export const configSchema = z.object({
  dataDir: z.string().min(1),
  databaseUrl: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must start with postgres:// or postgresql://')
    .optional(),
  host: z.string().min(1),
  port: z.coerce.number().int().min(0).max(65535),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
  /** Raw key material as given (base64 or hex of 32 bytes); resolved by crypto/keyring. */
  secretKey: z.string().optional(),
  secretKeyFile: z.string().optional(),
});

export type Config = z.infer<typeof configSchema>;
