import { readFileSync } from 'node:fs';
import path from 'node:path';
import { AppError } from '../errors/index.ts';
import { configSchema, type Config } from './schema.ts';

type Env = Record<string, string | undefined>;

/** `NAME_FILE` wins over `NAME` so secrets can come from mounted files (Docker/K8s secrets). */
function fromEnvOrFile(env: Env, name: string): string | undefined {
  const file = env[`${name}_FILE`];
  if (file) {
    try {
      return readFileSync(file, 'utf8').trim();
    } catch (err) {
      throw new AppError('CONFIG_INVALID', `${name}_FILE points to ${file}, which cannot be read; fix the path or its permissions.`, { cause: err });
    }
  }
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
}

/** Loads the configuration once; every problem is reported together. */
export function loadConfig(env: Env = process.env, overrides: Partial<Config> = {}): Config {
  const raw = {
    dataDir: path.resolve(env['MAILROOM_DATA'] || './data'),
    databaseUrl: fromEnvOrFile(env, 'MAILROOM_DATABASE_URL'),
    host: env['MAILROOM_HOST'] || '127.0.0.1',
    port: env['MAILROOM_PORT'] || '8080',
    logLevel: env['MAILROOM_LOG_LEVEL'] || 'info',
    secretKey: env['MAILROOM_SECRET_KEY'] || undefined,
    secretKeyFile: env['MAILROOM_SECRET_KEY_FILE'] || undefined,
    smtp: smtpFromEnv(env),
    outbox: {
      concurrency: env['MAILROOM_OUTBOX_CONCURRENCY'] || '8',
      leaseSeconds: env['MAILROOM_OUTBOX_LEASE_SECONDS'] || '60',
    },
    notifications: {
      digestHour: env['MAILROOM_NOTIFY_DIGEST_HOUR'] || '7',
      intervalSeconds: env['MAILROOM_NOTIFY_INTERVAL_SECONDS'] || '30',
    },
    ...overrides,
  };
  // After the overrides: the default public URL follows the host and port actually configured.
  const withUrl = { ...raw, publicUrl: raw.publicUrl ?? (env['MAILROOM_PUBLIC_URL'] || defaultPublicUrl(raw.host, raw.port)) };
  const parsed = configSchema.safeParse(withUrl);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${envName(i.path.map(String).join('.'))}: ${i.message}`);
    throw new AppError('CONFIG_INVALID', `Invalid configuration:\n  ${problems.join('\n  ')}`, { details: { problems } });
  }
  return parsed.data;
}

const ENV_NAMES: Record<string, string> = {
  dataDir: 'MAILROOM_DATA',
  databaseUrl: 'MAILROOM_DATABASE_URL',
  host: 'MAILROOM_HOST',
  port: 'MAILROOM_PORT',
  logLevel: 'MAILROOM_LOG_LEVEL',
  secretKey: 'MAILROOM_SECRET_KEY',
  secretKeyFile: 'MAILROOM_SECRET_KEY_FILE',
  'smtp.host': 'MAILROOM_SMTP_HOST',
  'smtp.port': 'MAILROOM_SMTP_PORT',
  'smtp.security': 'MAILROOM_SMTP_SECURITY',
  'smtp.user': 'MAILROOM_SMTP_USER',
  'smtp.password': 'MAILROOM_SMTP_PASSWORD',
  'smtp.from': 'MAILROOM_SMTP_FROM',
  'smtp.fromName': 'MAILROOM_SMTP_FROM_NAME',
  'smtp.tlsFingerprint': 'MAILROOM_SMTP_TLS_FINGERPRINT',
  'smtp.tlsInsecure': 'MAILROOM_SMTP_TLS_INSECURE',
  'outbox.concurrency': 'MAILROOM_OUTBOX_CONCURRENCY',
  'outbox.leaseSeconds': 'MAILROOM_OUTBOX_LEASE_SECONDS',
  publicUrl: 'MAILROOM_PUBLIC_URL',
  'notifications.digestHour': 'MAILROOM_NOTIFY_DIGEST_HOUR',
  'notifications.intervalSeconds': 'MAILROOM_NOTIFY_INTERVAL_SECONDS',
};

/** `http://HOST:PORT`, with an IPv6 host in brackets. */
function defaultPublicUrl(host: string | undefined, port: string | number | undefined): string {
  const h = host ?? '127.0.0.1';
  return `http://${h.includes(':') && !h.startsWith('[') ? `[${h}]` : h}:${port ?? 8080}`;
}

function envName(key: string): string {
  return ENV_NAMES[key] ?? ENV_NAMES[key.split('.')[0] ?? ''] ?? key;
}

/**
 * The system default SMTP from MAILROOM_SMTP_*; undefined when none of them is set. When some
 * are set but not the host, the host is reported missing rather than the rest silently ignored.
 * Port and security default to each other: 465 means implicit TLS, anything else STARTTLS.
 */
function smtpFromEnv(env: Env): Record<string, string | undefined> | undefined {
  const names = ['HOST', 'PORT', 'SECURITY', 'USER', 'PASSWORD', 'PASSWORD_FILE', 'FROM', 'FROM_NAME', 'TLS_FINGERPRINT', 'TLS_INSECURE'];
  if (!names.some((n) => (env[`MAILROOM_SMTP_${n}`] ?? '') !== '')) return undefined;
  const get = (n: string): string | undefined => env[`MAILROOM_SMTP_${n}`] || undefined;
  const security = get('SECURITY') ?? (get('PORT') === '465' ? 'tls' : 'starttls');
  return {
    host: get('HOST'),
    port: get('PORT') ?? (security === 'tls' ? '465' : security === 'none' ? '25' : '587'),
    security,
    user: get('USER'),
    password: fromEnvOrFile(env, 'MAILROOM_SMTP_PASSWORD'),
    from: get('FROM'),
    fromName: get('FROM_NAME'),
    tlsFingerprint: get('TLS_FINGERPRINT'),
    tlsInsecure: get('TLS_INSECURE') ?? 'false',
  };
}
