import type { z } from 'zod';
import { AppError } from '../errors/index.ts';

/** Parses input with a schema; every problem is named with its field, all at once. */
export function validation<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const problems = r.error.issues.map((i) => `${i.path.join('.') || what}: ${i.message}`);
  throw new AppError('VALIDATION_FAILED', `Invalid ${what}: ${problems.join('; ')}`, { details: { problems } });
}
