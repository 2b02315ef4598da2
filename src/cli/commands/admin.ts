/** Operator commands for organisations, users and personal API tokens. */
import { Option, type Command } from 'commander';
import type { App } from '../../app.ts';
import { AppError } from '../../errors/index.ts';
import type { Role, UserView } from '../../orgs/index.ts';
import { useApp, type Io } from '../context.ts';
import { appAndOrg, jsonLine, orgGiven, shortDate, table } from '../format.ts';

/** The password is the whole of stdin, less one trailing line break. */
async function passwordFromStdin(io: Io): Promise<string> {
  return (await io.readStdin()).replace(/\r?\n$/, '');
}

/**
 * The user named by `--user`. E-mail addresses are unique across organisations, so the address
 * alone finds the user; an explicit `--org` must then be the user's organisation.
 */
async function userNamed(io: Io, cmd: Command, email: string): Promise<{ app: App; user: UserView }> {
  const app = await useApp(io);
  const user = await app.orgs.userByEmail(email);
  if (orgGiven(cmd)) {
    const { org } = await appAndOrg(io, cmd);
    if (org.id !== user.orgId) throw new AppError('USER_NOT_FOUND', `No user with the e-mail address ${email} in organisation "${org.name}".`);
  }
  return { app, user };
}

function registerOrgs(program: Command, io: Io): void {
  const orgs = program.command('orgs').description('organisations (tenants)');

  orgs
    .command('add <name>')
    .description('create an organisation')
    .option('--json', 'print the organisation as JSON')
    .action(async (name: string, opts: { json?: boolean }) => {
      const app = await useApp(io);
      const org = await app.orgs.createOrg(name);
      if (opts.json) jsonLine(io, org);
      else io.out(`Created organisation "${org.name}" (${org.id}).`);
    });

  orgs
    .command('list')
    .description('list organisations')
    .option('--json', 'print JSON Lines')
    .action(async (opts: { json?: boolean }) => {
      const app = await useApp(io);
      const list = await app.orgs.listOrgs();
      if (opts.json) {
        for (const o of list) jsonLine(io, o);
      } else if (list.length === 0) {
        io.out('No organisations yet; create one with: mailroom orgs add <name>');
      } else {
        table(io, [
          { header: 'NAME', value: (o) => o.name },
          { header: 'ID', value: (o) => o.id },
          { header: 'CREATED', value: (o) => shortDate(o.createdAt) },
        ], list);
      }
    });
}

function registerUsers(program: Command, io: Io): void {
  const users = program.command('users').description('users of an organisation (use the global --org)');

  users
    .command('add <email>')
    .description('add a user to the organisation given by --org (default: default)')
    .addOption(new Option('--role <role>', 'role').choices(['admin', 'user']).makeOptionMandatory())
    .option('--name <name>', 'display name (default: the part of the address before @)')
    .addOption(new Option('--language <language>', 'language of mail sent to the user').choices(['en', 'de']).default('en'))
    .option('--password-stdin', 'read the password from stdin (a trailing line break is removed)')
    .option('--json', 'print the user as JSON')
    .action(async (email: string, opts: { role: Role; name?: string; language: string; passwordStdin?: boolean; json?: boolean }, cmd: Command) => {
      const password = opts.passwordStdin ? await passwordFromStdin(io) : undefined;
      const { app, org } = await appAndOrg(io, cmd);
      const user = await app.orgs.addUser({ orgId: org.id, email, name: opts.name, role: opts.role, language: opts.language, password });
      if (opts.json) {
        jsonLine(io, user);
        return;
      }
      io.out(`Added ${user.role} ${user.email} to organisation "${org.name}" (${user.id}).`);
      if (password === undefined) {
        io.out(`No password set: the user can use the API only with a token (mailroom tokens create --user ${user.email}), or set one with: mailroom users passwd ${user.email} --password-stdin`);
      }
    });

  users
    .command('list')
    .description('list the users of the organisation given by --org')
    .option('--json', 'print JSON Lines')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const { app, org } = await appAndOrg(io, cmd);
      const list = await app.orgs.listUsers(org.id);
      if (opts.json) {
        for (const u of list) jsonLine(io, u);
      } else if (list.length === 0) {
        io.out(`Organisation "${org.name}" has no users; add one with: mailroom users add <email> --role user --password-stdin`);
      } else {
        table(io, [
          { header: 'EMAIL', value: (u) => u.email },
          { header: 'NAME', value: (u) => u.name, max: 40 },
          { header: 'ROLE', value: (u) => u.role },
          { header: 'LANG', value: (u) => u.language },
          { header: 'ID', value: (u) => u.id },
        ], list);
      }
    });

  users
    .command('passwd <email>')
    .description("set a user's password, read from stdin (e.g. when the first-start password was lost)")
    .requiredOption('--password-stdin', 'read the password from stdin (a trailing line break is removed)')
    .action(async (email: string, _opts: unknown, cmd: Command) => {
      const password = await passwordFromStdin(io);
      const { app, user } = await userNamed(io, cmd, email);
      await app.orgs.setPassword(user.id, password);
      io.out(`Set the password of ${user.email}.`);
    });
}

function registerTokens(program: Command, io: Io): void {
  const tokens = program.command('tokens').description('personal API tokens (Authorization: Bearer <token>)');

  tokens
    .command('create')
    .description('create a token for a user; the token is printed once, on the last line')
    .requiredOption('--user <email>', 'the user the token acts as')
    .option('--name <name>', 'what the token is for', 'cli')
    .action(async (opts: { user: string; name: string }, cmd: Command) => {
      const { app, user } = await userNamed(io, cmd, opts.user);
      const name = opts.name.trim();
      if (name === '' || name.length > 100) throw new AppError('VALIDATION_FAILED', 'The token name must be 1-100 characters long.');
      const { token, info } = await app.orgs.createApiToken(user.id, name);
      io.out(`Created API token "${info.name}" (${info.id}) for ${user.email}.`);
      io.out('Save it now; it is not shown again:');
      io.out(token);
    });

  tokens
    .command('list')
    .description("list a user's tokens (never the secrets)")
    .requiredOption('--user <email>', 'whose tokens')
    .option('--json', 'print JSON Lines')
    .action(async (opts: { user: string; json?: boolean }, cmd: Command) => {
      const { app, user } = await userNamed(io, cmd, opts.user);
      const list = (await app.orgs.listApiTokens(user.id)).map((t) => ({ id: t.id, name: t.name, createdAt: t.created_at, lastUsedAt: t.last_used_at }));
      if (opts.json) {
        for (const t of list) jsonLine(io, t);
      } else if (list.length === 0) {
        io.out(`${user.email} has no API tokens.`);
      } else {
        table(io, [
          { header: 'ID', value: (t) => t.id },
          { header: 'NAME', value: (t) => t.name, max: 40 },
          { header: 'CREATED', value: (t) => shortDate(t.createdAt) },
          { header: 'LAST USED', value: (t) => shortDate(t.lastUsedAt) || 'never' },
        ], list);
      }
    });

  tokens
    .command('revoke <id>')
    .description('revoke a token; requests using it fail from now on')
    .requiredOption('--user <email>', 'whose token')
    .action(async (id: string, opts: { user: string }, cmd: Command) => {
      const { app, user } = await userNamed(io, cmd, opts.user);
      await app.orgs.revokeApiToken(user.id, id);
      io.out(`Revoked API token ${id} of ${user.email}.`);
    });
}

export function registerAdminCommands(program: Command, io: Io): void {
  registerOrgs(program, io);
  registerUsers(program, io);
  registerTokens(program, io);
}
