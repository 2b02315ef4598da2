/** Mail services (organisation-wide IMAP and SMTP connections) and mail accounts. */
import type { Command } from 'commander';
import type { Io } from '../context.ts';
import { appAndOrg, jsonLine, shortDate, table, parseInteger } from '../format.ts';
import { readSecret } from '../options.ts';
import type { ServiceView } from '../../connect/index.ts';
import { printOutcome } from './outbox.ts';

function describeService(s: ServiceView): string[] {
  const tls = s.security === 'none' ? 'no TLS' : `${s.security}, ${s.tls.mode === 'fingerprint' ? `pinned ${s.tls.fingerprint}` : s.tls.mode === 'insecure' ? 'certificate NOT verified' : 'certificate verified'}`;
  const lines = [`${s.name} (${s.kind}) ${s.host}:${s.port}, ${tls}`, `  id: ${s.id}`];
  if (s.kind === 'smtp') {
    lines.push(`  auth: ${s.authType}${s.username ? ` as ${s.username}` : ''}${s.hasPassword ? ' (password stored encrypted)' : ''}`);
    lines.push(`  sender: ${s.fromName ? `${s.fromName} <${s.fromAddress}>` : s.fromAddress}`);
    if (s.rateLimitPerMinute) lines.push(`  rate limit: ${s.rateLimitPerMinute} messages per minute`);
  }
  return lines;
}

export function registerServiceCommands(program: Command, io: Io): void {
  const services = program.command('services').description('organisation-wide mail services (IMAP to receive, SMTP to send)');

  services
    .command('add <name>')
    .description('define a mail service')
    .requiredOption('--kind <kind>', 'imap or smtp')
    .requiredOption('--host <host>', 'server host name')
    .requiredOption('--port <port>', 'server port')
    .requiredOption('--security <mode>', 'tls (implicit), starttls or none')
    .option('--tls-fingerprint <sha256>', "pin the server certificate's SHA-256 fingerprint (for self-signed certificates)")
    .option('--tls-insecure', 'do not verify the server certificate (not recommended)')
    .option('--username <user>', 'SMTP: user name to authenticate with')
    .option('--password-env <VAR>', 'SMTP: read the password from this environment variable')
    .option('--password-stdin', 'SMTP: read the password from standard input')
    .option('--from <address>', 'SMTP: sender address')
    .option('--from-name <name>', 'SMTP: sender display name')
    .option('--rate-limit <n>', 'SMTP: at most this many messages per minute (Exchange Online: 30)')
    .option('--json', 'print the service as JSON')
    .action(async (name: string, o: Record<string, string | boolean | undefined>, cmd: Command) => {
      const { app, org } = await appAndOrg(io, cmd);
      const password = await readSecret(io, { passwordEnv: o['passwordEnv'] as string | undefined, passwordStdin: Boolean(o['passwordStdin']) }, false);
      const s = await app.connect.services.create(org.id, {
        name,
        kind: o['kind'] as 'imap' | 'smtp',
        host: String(o['host']),
        port: parseInteger('--port', String(o['port']), 1, 65535),
        security: o['security'] as 'tls' | 'starttls' | 'none',
        ...(o['tlsFingerprint'] ? { tlsFingerprint: String(o['tlsFingerprint']) } : {}),
        ...(o['tlsInsecure'] ? { tlsInsecure: true } : {}),
        ...(o['username'] ? { username: String(o['username']) } : {}),
        ...(password ? { password } : {}),
        ...(o['from'] ? { fromAddress: String(o['from']) } : {}),
        ...(o['fromName'] ? { fromName: String(o['fromName']) } : {}),
        ...(o['rateLimit'] ? { rateLimitPerMinute: parseInteger('--rate-limit', String(o['rateLimit']), 1, 100000) } : {}),
      });
      if (o['json']) jsonLine(io, s);
      else for (const l of ['Created mail service:', ...describeService(s)]) io.out(l);
    });

  services
    .command('list')
    .option('--json', 'print JSON Lines')
    .action(async (o: { json?: boolean }, cmd: Command) => {
      const { app, org } = await appAndOrg(io, cmd);
      const list = await app.connect.services.list(org.id);
      if (o.json) for (const s of list) jsonLine(io, s);
      else if (list.length === 0) io.out('No mail services yet; add one with: mailroom services add <name> --kind imap|smtp ...');
      else
        table(io, [
          { header: 'NAME', value: (s) => s.name, max: 40 },
          { header: 'KIND', value: (s) => s.kind },
          { header: 'SERVER', value: (s) => `${s.host}:${s.port}` },
          { header: 'SECURITY', value: (s) => (s.security === 'none' ? 'none' : `${s.security}/${s.tls.mode}`) },
          { header: 'CREATED', value: (s) => shortDate(s.createdAt) },
        ], list);
    });

  services
    .command('show <name>')
    .option('--json', 'print JSON')
    .action(async (name: string, o: { json?: boolean }, cmd: Command) => {
      const { app, org } = await appAndOrg(io, cmd);
      const s = await app.connect.services.show(org.id, name);
      if (o.json) jsonLine(io, s);
      else for (const l of describeService(s)) io.out(l);
    });

  services
    .command('test <name>')
    .description('connect to the server (TLS, greeting, capabilities; SMTP also logs in)')
    .option('--to <address>', "SMTP: send a test message through the outbox to this address and print the server's reply")
    .option('--json', 'print JSON')
    .action(async (name: string, o: { json?: boolean; to?: string }, cmd: Command) => {
      const { app, org } = await appAndOrg(io, cmd);
      if (o.to !== undefined) return printOutcome(io, await app.outbox.sendTest(org.id, name, o.to), Boolean(o.json));
      const r = await app.connect.testService(org.id, name);
      if (o.json) jsonLine(io, r);
      else {
        io.out(`OK: ${name} answers.`);
        if (r.tlsFingerprint256) io.out(`  certificate SHA-256: ${r.tlsFingerprint256}`);
        io.out(`  capabilities: ${r.capabilities.join(' ')}`);
      }
    });

  services
    .command('remove <name>')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const { app, org } = await appAndOrg(io, cmd);
      const s = await app.connect.services.byName(org.id, name);
      await app.connect.services.remove(org.id, s.id);
      io.out(`Removed mail service "${name}".`);
    });

  const accounts = program.command('accounts').description('mailboxes reached through a mail service');

  accounts
    .command('add <name>')
    .requiredOption('--service <service>', 'the IMAP mail service')
    .requiredOption('--username <user>', 'user name or address of the mailbox')
    .option('--password-env <VAR>', 'read the password from this environment variable')
    .option('--password-stdin', 'read the password from standard input')
    .option('--owner <email>', 'the user who owns this mailbox (default: none, shared)')
    .option('--personal', 'only the owner may use it (default: shared in the organisation)')
    .option('--json', 'print the account as JSON')
    .action(async (name: string, o: { service: string; username: string; passwordEnv?: string; passwordStdin?: boolean; owner?: string; personal?: boolean; json?: boolean }, cmd: Command) => {
      const { app, org } = await appAndOrg(io, cmd);
      const password = (await readSecret(io, o, true))!;
      const service = await app.connect.services.byName(org.id, o.service);
      const owner = o.owner ? await app.orgs.userByEmail(o.owner) : null;
      const a = await app.connect.accounts.create(org.id, {
        name,
        serviceId: service.id,
        username: o.username,
        password,
        ownerUserId: owner && owner.orgId === org.id ? owner.id : null,
        shared: !o.personal,
      });
      if (o.json) jsonLine(io, a);
      else io.out(`Created mail account "${a.name}" (${a.username} on ${service.name}); check it with: mailroom accounts test "${a.name}"`);
    });

  accounts
    .command('list')
    .option('--json', 'print JSON Lines')
    .action(async (o: { json?: boolean }, cmd: Command) => {
      const { app, org } = await appAndOrg(io, cmd);
      const list = await app.connect.accounts.list(org.id);
      const services = new Map((await app.connect.services.list(org.id)).map((s) => [s.id, s.name]));
      if (o.json) for (const a of list) jsonLine(io, { ...a, service: services.get(a.serviceId) ?? null });
      else if (list.length === 0) io.out('No mail accounts yet; add one with: mailroom accounts add <name> --service S --username U --password-stdin');
      else
        table(io, [
          { header: 'NAME', value: (a) => a.name, max: 40 },
          { header: 'USER', value: (a) => a.username, max: 60 },
          { header: 'SERVICE', value: (a) => services.get(a.serviceId) ?? '?' },
          { header: 'SHARED', value: (a) => (a.shared ? 'yes' : 'no') },
        ], list);
    });

  accounts
    .command('test <name>')
    .description('log in to the mailbox and count its folders')
    .option('--json', 'print JSON')
    .action(async (name: string, o: { json?: boolean }, cmd: Command) => {
      const { app, org } = await appAndOrg(io, cmd);
      const r = await app.connect.testAccount(org.id, name);
      if (o.json) jsonLine(io, r);
      else io.out(`OK: logged in to "${name}"; ${r.folders ?? 0} folders.`);
    });

  accounts
    .command('remove <name>')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const { app, org } = await appAndOrg(io, cmd);
      const a = await app.connect.accounts.byName(org.id, name);
      await app.connect.accounts.remove(org.id, a.id);
      io.out(`Removed mail account "${name}".`);
    });
}
