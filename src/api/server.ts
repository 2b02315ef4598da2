import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fastify, type FastifyBaseLogger, type FastifyInstance, type RawServerDefault } from 'fastify';
import cookie from '@fastify/cookie';
import swagger from '@fastify/swagger';
import {
  createJsonSchemaTransform,
  createJsonSchemaTransformObject,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Logger } from '../log/index.ts';
import { apiSchemas } from './schemas.ts';
import type { AuthLevel } from './auth.ts';

/** The fastify instance every route module receives: zod schemas type params, body and replies. */
export type Api = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, FastifyBaseLogger, ZodTypeProvider>;

export interface ServerOptions {
  log: Logger;
  version: string;
  /** Largest JSON body, in bytes. */
  bodyLimit: number;
  /** Trust X-Forwarded-* from a reverse proxy (for the client IP and https detection). */
  trustProxy: boolean;
}

export const OPENAPI_PATH = '/api/openapi.json';

/** The version in package.json, shown by /api/health and the OpenAPI document. */
export function packageVersion(): string {
  try {
    const raw: unknown = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    return z.object({ version: z.string() }).parse(raw).version;
  } catch {
    return '0.0.0';
  }
}

const SECURITY_BY_LEVEL: Record<AuthLevel, Array<Record<string, string[]>>> = {
  none: [],
  user: [{ bearer: [] }, { session: [] }],
  admin: [{ bearer: [] }, { session: [] }],
};

function authLevelOf(route: unknown): AuthLevel | undefined {
  if (typeof route !== 'object' || route === null || !('config' in route)) return undefined;
  const config = (route as { config?: { auth?: AuthLevel } }).config;
  return config?.auth;
}

/**
 * A fastify instance with zod validation and serialization, the app's logger (pino, with the
 * redaction list of log/), cookies, and an OpenAPI 3.1 document built from the route schemas.
 */
export async function createServer(opts: ServerOptions): Promise<Api> {
  // Typed as fastify's logger interface (pino implements it) so the instance stays a plain FastifyInstance.
  const logger: FastifyBaseLogger = opts.log.child({ component: 'api' });
  const api = fastify({
    loggerInstance: logger,
    bodyLimit: opts.bodyLimit,
    trustProxy: opts.trustProxy,
  }).withTypeProvider<ZodTypeProvider>();

  api.setValidatorCompiler(validatorCompiler);
  api.setSerializerCompiler(serializerCompiler);

  await api.register(cookie);

  const transform = createJsonSchemaTransform({ schemaRegistry: apiSchemas });
  await api.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Mailroom API',
        version: opts.version,
        description:
          'The mail-services hub of a document archive. Authenticate with an API token (Authorization: Bearer mrt_...) ' +
          'or the session cookie set by POST /api/auth/login. Every answer is scoped to the caller\'s organisation. ' +
          'Errors are {code, message, details?} with a stable code.',
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'A personal API token (mrt_...), created with POST /api/tokens' },
          session: { type: 'apiKey', in: 'cookie', name: 'mailroom_session', description: 'Set by POST /api/auth/login' },
        },
      },
    },
    transform: (doc) => {
      const out = transform(doc);
      const level = authLevelOf(doc.route);
      if (level === undefined || out.schema === undefined || out.schema === null) return out;
      return { ...out, schema: { ...out.schema, security: SECURITY_BY_LEVEL[level], 'x-mailroom-auth': level } };
    },
    transformObject: createJsonSchemaTransformObject({ schemaRegistry: apiSchemas }),
  });

  return api;
}
