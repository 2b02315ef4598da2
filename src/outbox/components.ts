/**
 * Sending components: each organisation assigns one SMTP service to `notifications` and one to
 * `workflows`, each enabled on its own. Where an organisation has none (or has disabled its
 * own), the operator's system default SMTP (MAILROOM_SMTP_*) is used; without either, sending
 * that component's mail fails with SMTP_NOT_CONFIGURED and says how to fix it.
 */
import type { Config } from '../config/index.ts';
import { AppError, isAppError } from '../errors/index.ts';
import type { ConnectionSettings } from '../gateways/index.ts';
import type { MailServiceRow, Store } from '../store/index.ts';
import { SEND_COMPONENTS, type ComponentView, type ResolvedSender, type SendComponent, type SmtpServiceDirectory } from './types.ts';

export const SYSTEM_DEFAULT = 'system default';

export type SystemSmtp = NonNullable<Config['smtp']>;

/** Connection settings of the system default SMTP, from the config. */
export function systemSettings(smtp: SystemSmtp): ConnectionSettings {
  const tls: ConnectionSettings['tls'] = smtp.tlsFingerprint
    ? { mode: 'fingerprint', sha256: smtp.tlsFingerprint }
    : smtp.tlsInsecure
      ? { mode: 'insecure' }
      : { mode: 'verify' };
  const auth: ConnectionSettings['auth'] = smtp.user ? { type: 'basic', user: smtp.user, password: smtp.password ?? '' } : { type: 'none' };
  return { host: smtp.host, port: smtp.port, security: smtp.security, tls, auth };
}

export function parseComponent(name: string): SendComponent {
  const c = SEND_COMPONENTS.find((x) => x === name);
  if (!c) throw new AppError('VALIDATION_FAILED', `Unknown component "${name}": choose ${SEND_COMPONENTS.join(' or ')}.`, { details: { field: 'component' } });
  return c;
}

export function requireSmtp(row: MailServiceRow): MailServiceRow {
  if (row.kind !== 'smtp') {
    throw new AppError('VALIDATION_FAILED', `"${row.name}" is an ${row.kind} service; mail is sent through SMTP services (mailroom services add <name> --kind smtp ...).`, {
      details: { service: row.name, kind: row.kind },
    });
  }
  if (!row.from_address) {
    throw new AppError('VALIDATION_FAILED', `The SMTP service "${row.name}" has no sender address; set one for it.`, { details: { service: row.name } });
  }
  return row;
}

export function serviceSender(row: MailServiceRow): ResolvedSender {
  requireSmtp(row);
  return {
    source: 'organisation',
    serviceId: row.id,
    serviceName: row.name,
    from: row.from_name ? { name: row.from_name, address: row.from_address! } : { address: row.from_address! },
  };
}

export function createComponents(store: Store, services: SmtpServiceDirectory, config: Config) {
  const system = config.smtp;

  function systemSender(): ResolvedSender | null {
    if (!system) return null;
    return { source: 'system', serviceId: null, serviceName: SYSTEM_DEFAULT, from: system.fromName ? { name: system.fromName, address: system.from } : { address: system.from } };
  }

  async function assigned(orgId: string, component: SendComponent): Promise<{ row: MailServiceRow | null; enabled: boolean } | null> {
    const c = await store.outbox.component(orgId, component);
    if (!c) return null;
    try {
      return { row: await services.byId(orgId, c.service_id), enabled: c.enabled === 1 };
    } catch (err) {
      if (isAppError(err) && err.kind === 'not_found') return { row: null, enabled: false };
      throw err;
    }
  }

  return {
    /** The service (or the system default) that sends this component's mail for the organisation. */
    async resolveSender(orgId: string, component: SendComponent): Promise<ResolvedSender> {
      const a = await assigned(orgId, component);
      if (a?.row && a.enabled) return serviceSender(a.row);
      const fallback = systemSender();
      if (fallback) return fallback;
      const fix = `set one with: mailroom components set ${component} <service> (an SMTP service from: mailroom services list), or ask the operator to configure a system default SMTP (MAILROOM_SMTP_HOST, MAILROOM_SMTP_FROM, ...)`;
      const why = a?.row
        ? `The organisation's SMTP service "${a.row.name}" is disabled for ${component} mail and there is no system default SMTP. Enable it with: mailroom components set ${component} "${a.row.name}"`
        : `No SMTP service sends ${component} mail for this organisation and there is no system default SMTP; ${fix}`;
      throw new AppError('SMTP_NOT_CONFIGURED', `${why}.`, { details: { component } });
    },

    async set(orgId: string, component: SendComponent, serviceName: string, enabled: boolean): Promise<ComponentView> {
      const row = requireSmtp(await services.byName(orgId, serviceName));
      await store.outbox.setComponent({ org_id: orgId, component, service_id: row.id, enabled: enabled ? 1 : 0, updated_at: new Date().toISOString() });
      return this.view(orgId, component);
    },

    async view(orgId: string, component: SendComponent): Promise<ComponentView> {
      const a = await assigned(orgId, component);
      const fallback = systemSender();
      const effective: ComponentView['effective'] =
        a?.row && a.enabled
          ? { source: 'organisation', service: a.row.name, from: a.row.from_address }
          : fallback
            ? { source: 'system', service: SYSTEM_DEFAULT, from: fallback.from.address }
            : { source: 'none', service: null, from: null };
      return { component, service: a?.row ? { id: a.row.id, name: a.row.name } : null, enabled: a?.row ? a.enabled : false, effective };
    },

    async list(orgId: string): Promise<ComponentView[]> {
      const out: ComponentView[] = [];
      for (const c of SEND_COMPONENTS) out.push(await this.view(orgId, c));
      return out;
    },
  };
}

export type Components = ReturnType<typeof createComponents>;
