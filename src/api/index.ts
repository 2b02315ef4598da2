import type { FastifyInstance } from 'fastify';
import type { App } from '../app.ts';
import { installAuth } from './auth.ts';
import { installErrorHandling } from './errors.ts';
import { createRateLimiter } from './rate-limit.ts';
import { authRoutes } from './routes/auth.ts';
import { cabinetRoutes } from './routes/cabinets.ts';
import { connectRoutes } from './routes/connect.ts';
import { documentRoutes, RFC822 } from './routes/documents.ts';
import { healthRoutes } from './routes/health.ts';
import { orgRoutes } from './routes/orgs.ts';
import { outboxRoutes } from './routes/outbox.ts';
import { passwordResetRoutes } from './routes/password-reset.ts';
import { problemRoutes } from './routes/problems.ts';
import { subscriptionRoutes } from './routes/subscriptions.ts';
import { tokenRoutes } from './routes/tokens.ts';
import { userRoutes } from './routes/users.ts';
import { createServer, OPENAPI_PATH, packageVersion } from './server.ts';

export interface ApiOptions {
  /** Largest message accepted by POST /api/documents, in bytes (default 50 MiB). */
  uploadLimit?: number;
  /** Largest JSON body, in bytes (default 1 MiB). */
  bodyLimit?: number;
  /** Trust X-Forwarded-For/-Proto from a reverse proxy (default false). */
  trustProxy?: boolean;
  /** Login attempts per client IP and e-mail address (default 10 per 5 minutes). */
  loginRateLimit?: { max: number; windowMs: number };
}

export const DEFAULT_UPLOAD_LIMIT = 50 * 1024 * 1024;

/**
 * The HTTP API over the app's capabilities: one fastify instance, ready but not listening
 * (`serve` calls listen). Routes live in routes/, one file per capability.
 */
export async function buildApi(app: App, options: ApiOptions = {}): Promise<FastifyInstance> {
  const version = packageVersion();
  const uploadLimit = options.uploadLimit ?? DEFAULT_UPLOAD_LIMIT;
  const api = await createServer({ log: app.log, version, bodyLimit: options.bodyLimit ?? 1024 * 1024, trustProxy: options.trustProxy ?? false });

  installErrorHandling(api);
  installAuth(api, app.orgs);

  // Uploads are raw RFC 5322 bytes; the route's bodyLimit (uploadLimit) applies, elsewhere the default.
  api.addContentTypeParser(RFC822, { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  api.get(OPENAPI_PATH, { config: { auth: 'none' }, schema: { hide: true } }, async () => api.swagger());

  healthRoutes(api, app, version);
  authRoutes(api, app, createRateLimiter(options.loginRateLimit ?? { max: 10, windowMs: 5 * 60 * 1000 }));
  orgRoutes(api, app);
  userRoutes(api, app);
  tokenRoutes(api, app);
  cabinetRoutes(api, app);
  documentRoutes(api, app, uploadLimit);
  outboxRoutes(api, app);
  connectRoutes(api, app);
  passwordResetRoutes(api, app);
  subscriptionRoutes(api, app);
  problemRoutes(api, app);

  await api.ready();
  return api;
}

export { registeredRoutes, SESSION_COOKIE, type AuthLevel, type RouteRecord } from './auth.ts';
export { toHttpError } from './errors.ts';
