/**
 * Subscriptions to cabinets (`notifications subscribe|list|unsubscribe`) and the problems an
 * organisation's administrators must see (`problems list`).
 */
import type { Command } from 'commander';
import type { App } from '../../app.ts';
import { AppError } from '../../errors/index.ts';
import { createProblems, createSubscriptions, type ProblemView, type Problems, type Subscriptions, type SubscriptionView } from '../../notifications/index.ts';
import type { OrgView, UserView } from '../../orgs/index.ts';
import { useApp, type Io } from '../context.ts';
import { appAndOrg, clean, jsonLine, orgGiven, shortDate, table } from '../format.ts';

/** App.notifications / App.problems when wired, else built from the app's store and archive. */
function subscriptionsOf(app: App): Subscriptions {
  const wired = (app as App & { readonly notifications?: { readonly subscriptions: Subscriptions } }).notifications;
  return wired ? wired.subscriptions : createSubscriptions({ store: app.store, archive: app.archive });
}

function problemsOf(app: App): Problems {
  return (app as App & { readonly problems?: Problems }).problems ?? createProblems(app.store);
}

/** The user by address; with an explicit --org, the user must belong to it. */
async function userFor(app: App, email: string, cmd: Command, org: OrgView): Promise<UserView> {
  const user = await app.orgs.userByEmail(email);
  if (orgGiven(cmd) && user.orgId !== org.id) {
    throw new AppError('USER_NOT_FOUND', `No user with the e-mail address ${email} in organisation ${JSON.stringify(org.name)}.`);
  }
  return user;
}

function printSubscriptions(io: Io, list: SubscriptionView[], json: boolean): void {
  if (json) {
    for (const s of list) jsonLine(io, s);
    return;
  }
  if (list.length === 0) {
    io.out('No subscriptions. Add one with: mailroom notifications subscribe --user <email> --cabinet <name> [--query <q>] [--daily]');
    return;
  }
  table(io, [
    { header: 'ID', value: (s) => s.id },
    { header: 'USER', value: (s) => s.userEmail, max: 40 },
    { header: 'CABINET', value: (s) => s.cabinetName, max: 40 },
    { header: 'MODE', value: (s) => s.mode },
    { header: 'QUERY', value: (s) => s.query ?? '', max: 40 },
    { header: 'SINCE', value: (s) => shortDate(s.createdAt) },
  ], list);
}

function printProblems(io: Io, list: ProblemView[], json: boolean, org: OrgView): void {
  if (json) {
    for (const p of list) jsonLine(io, p);
    return;
  }
  if (list.length === 0) {
    io.out(`No open problems in organisation ${JSON.stringify(org.name)}.`);
    return;
  }
  for (const [i, p] of list.entries()) {
    if (i > 0) io.out('');
    io.out(`${p.kind}${p.resolvedAt ? ` (resolved ${shortDate(p.resolvedAt)})` : ''}`);
    io.out(`  problem:  ${clean(p.message)}`);
    io.out(`  fix:      ${clean(p.fix)}`);
    io.out(`  seen:     ${p.count} time(s), first ${shortDate(p.firstSeenAt)}, last ${shortDate(p.lastSeenAt)} (UTC)`);
  }
}

export function registerNotificationCommands(program: Command, io: Io): void {
  const notifications = program.command('notifications').description('subscriptions to cabinets: mail about new documents, immediately or as a daily digest');

  notifications
    .command('subscribe')
    .description('subscribe a user to a cabinet of their organisation')
    .requiredOption('--user <email>', 'the user to notify')
    .requiredOption('--cabinet <name>', 'the cabinet to follow')
    .option('--query <q>', 'only documents matching this search query')
    .option('--daily', 'one digest a day instead of a mail per document')
    .option('--json', 'print JSON')
    .action(async (o: { user: string; cabinet: string; query?: string; daily?: boolean; json?: boolean }, cmd: Command) => {
      const { app, org } = await appAndOrg(io, cmd);
      const user = await userFor(app, o.user, cmd, org);
      const sub = await subscriptionsOf(app).create({ orgId: user.orgId, userId: user.id }, { cabinet: o.cabinet, query: o.query ?? null, mode: o.daily ? 'daily' : 'immediate' });
      if (o.json) jsonLine(io, sub);
      else io.out(`Subscribed ${sub.userEmail} to "${clean(sub.cabinetName)}" (${sub.mode}${sub.query ? `, query: ${clean(sub.query)}` : ''}); id ${sub.id}`);
    });

  notifications
    .command('list')
    .description("subscriptions of the organisation given by --org, or of one user")
    .option('--user <email>', 'only this user\'s subscriptions')
    .option('--json', 'print JSON Lines')
    .action(async (o: { user?: string; json?: boolean }, cmd: Command) => {
      const { app, org } = await appAndOrg(io, cmd);
      const subs = subscriptionsOf(app);
      if (o.user !== undefined) {
        const user = await userFor(app, o.user, cmd, org);
        printSubscriptions(io, await subs.list(user.orgId, { userId: user.id }), Boolean(o.json));
      } else {
        printSubscriptions(io, await subs.list(org.id), Boolean(o.json));
      }
    });

  notifications
    .command('unsubscribe <id>')
    .description('remove a subscription (of the organisation given by --org, when given)')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const app = await useApp(io);
      const org = orgGiven(cmd) ? (await appAndOrg(io, cmd)).org : undefined;
      await subscriptionsOf(app).remove(org?.id, id);
      io.out(`Removed subscription ${id}.`);
    });

  const problems = program.command('problems').description('problems the administrators of an organisation must fix');
  problems
    .command('list')
    .description('open problems of the organisation given by --org: what is wrong and how to fix it')
    .option('--all', 'resolved problems too')
    .option('--json', 'print JSON Lines')
    .action(async (o: { all?: boolean; json?: boolean }, cmd: Command) => {
      const { app, org } = await appAndOrg(io, cmd);
      printProblems(io, await problemsOf(app).list(org.id, { includeResolved: Boolean(o.all) }), Boolean(o.json), org);
    });
}
