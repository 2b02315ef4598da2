import type { App } from '../../app.ts';
import type { Api } from '../server.ts';
import { importRuleRoutes } from './import-rules.ts';
import { mailAccountRoutes } from './mail-accounts.ts';
import { mailboxRoutes } from './mailbox.ts';
import { mailServiceRoutes } from './mail-services.ts';

/**
 * Connect to Mail over HTTP, what the CLI offers: mail services (administrators), mail accounts
 * and browsing/archiving by hand (every user; personal accounts only for their owner and the
 * administrators), and import rules (administrators change them, users read and run them).
 */
export function connectRoutes(api: Api, app: App): void {
  mailServiceRoutes(api, app);
  mailAccountRoutes(api, app);
  mailboxRoutes(api, app);
  importRuleRoutes(api, app);
}
