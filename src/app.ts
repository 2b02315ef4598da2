import path from 'node:path';
import type { Config } from './config/index.ts';
import { resolveSecretKey, SecretBox } from './crypto/index.ts';
import type { Logger } from './log/index.ts';
import { FsBlobStore, openStore, type Store } from './store/index.ts';
import { createOrgsService, type OrgsService } from './orgs/index.ts';
import { createArchive, type Archive } from './archive/index.ts';
import { createConnect, type Connect } from './connect/index.ts';

// Protocol libraries (imapflow, nodemailer) load on first use: a CLI command such as `import`
// or `search` never pays their start-up time and memory.
const imap = () => import('./gateways/imap/index.ts');
const smtp = () => import('./gateways/smtp/index.ts');

/** Everything a running Mailroom holds, built once from the config and passed down. */
export interface App {
  readonly config: Config;
  readonly log: Logger;
  readonly store: Store;
  readonly blobs: FsBlobStore;
  readonly secrets: SecretBox;
  readonly orgs: OrgsService;
  readonly archive: Archive;
  readonly connect: Connect;
  close(): Promise<void>;
}

export async function openApp(config: Config, log: Logger): Promise<App> {
  const secrets = new SecretBox(resolveSecretKey(config));
  const store = await openStore(config);
  const blobs = new FsBlobStore(path.join(config.dataDir, 'blobs'));
  const archive = createArchive(store, blobs);
  const connect = createConnect({
    store,
    secrets,
    archive,
    log,
    openSource: async (settings) => (await imap()).openImapSource(settings, { logger: log }),
    probeImap: async (settings) => (await imap()).testImapConnection(settings),
    probeSmtp: async (settings) => (await smtp()).probeSmtp(settings),
  });
  return {
    config,
    log,
    store,
    blobs,
    secrets,
    orgs: createOrgsService(store),
    archive,
    connect,
    close: () => store.close(),
  };
}
