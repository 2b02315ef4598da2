import path from 'node:path';
import type { Config } from './config/index.ts';
import { resolveSecretKey, SecretBox } from './crypto/index.ts';
import type { Logger } from './log/index.ts';
import { FsBlobStore, openStore, type Store } from './store/index.ts';
import { createOrgsService, type OrgsService } from './orgs/index.ts';
import { createArchive, type Archive } from './archive/index.ts';
import { createConnect, type Connect } from './connect/index.ts';
import { createOutbox, type Outbox } from './outbox/index.ts';
import { createPasswordReset, type PasswordReset } from './orgs/index.ts';
import { createNotifier, createProblems, createSubscriptions, type Notifier, type Problems, type Subscriptions } from './notifications/index.ts';

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
  readonly outbox: Outbox;
  readonly passwordReset: PasswordReset;
  readonly notifications: { readonly subscriptions: Subscriptions; readonly notifier: Notifier };
  readonly problems: Problems;
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
  const outbox = createOutbox({ store, secrets, log, services: connect.services, config, archive });
  const notifications = {
    subscriptions: createSubscriptions({ store, archive }),
    notifier: createNotifier({ store, outbox, archive, config, log }),
  };
  return {
    config,
    log,
    store,
    blobs,
    secrets,
    orgs: createOrgsService(store),
    archive,
    connect,
    outbox,
    passwordReset: createPasswordReset({ store, outbox, log, publicUrl: () => config.publicUrl }),
    notifications,
    problems: createProblems(store),
    close: async () => {
      try {
        await notifications.notifier.stop();
        await outbox.close(); // stops the worker, waits for sends in flight, closes SMTP pools
      } finally {
        await blobs.close();
        await store.close();
      }
    },
  };
}
