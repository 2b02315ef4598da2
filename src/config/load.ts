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
    ...overrides,
  };
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${envName(String(i.path[0]))}: ${i.message}`);
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
};

function envName(key: string): string {
  return ENV_NAMES[key] ?? key;
}
