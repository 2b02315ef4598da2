import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { AppError } from '../errors/index.ts';
import type { ImportRuleRow, Store } from '../store/index.ts';
import type { MailboxAction } from '../gateways/index.ts';
import { fieldMappingSchema, mailboxActionSchema, ruleFiltersSchema, type FieldMapping, type RuleFilters } from './types.ts';
import { validation } from './validation.ts';

const DEFAULT_INTERVAL = 300;

export const ruleInputSchema = z
  .object({
    name: z.string().trim().min(1).max(100),
    accountId: z.string().min(1),
    cabinetId: z.string().min(1),
    folders: z.array(z.string().min(1)).min(1),
    includeSubfolders: z.boolean().optional(),
    filters: ruleFiltersSchema.optional(),
    mapping: fieldMappingSchema.optional(),
    action: mailboxActionSchema.optional(),
    intervalSeconds: z.number().int().min(30).max(7 * 24 * 3600).optional(),
    useIdle: z.boolean().optional(),
    enabled: z.boolean().optional(),
  })
  .strict()
  .superRefine((v, ctx) => {
    for (const key of ['from', 'to', 'subject'] as const) {
      const m = v.filters?.[key];
      if (m && 'regex' in m) {
        try {
          new RegExp(m.regex, m.flags);
        } catch (err) {
          ctx.addIssue({ code: 'custom', path: ['filters', key], message: `not a valid regular expression: ${(err as Error).message}` });
        }
      }
    }
    if (v.action?.type === 'move' && v.folders.includes(v.action.folder)) {
      ctx.addIssue({ code: 'custom', path: ['action'], message: 'moving messages into a folder the rule reads from would archive them in a loop' });
    }
  });
export type RuleInput = z.input<typeof ruleInputSchema>;

export interface Rule {
  id: string;
  orgId: string;
  name: string;
  accountId: string;
  cabinetId: string;
  folders: string[];
  includeSubfolders: boolean;
  filters: RuleFilters;
  mapping: FieldMapping;
  action: MailboxAction;
  intervalSeconds: number;
  useIdle: boolean;
  enabled: boolean;
  createdAt: string;
  updatedAt: string;
}

export function ruleFromRow(r: ImportRuleRow): Rule {
  return {
    id: r.id,
    orgId: r.org_id,
    name: r.name,
    accountId: r.account_id,
    cabinetId: r.cabinet_id,
    folders: JSON.parse(r.folders_json) as string[],
    includeSubfolders: r.include_subfolders === 1,
    filters: JSON.parse(r.filters_json) as RuleFilters,
    mapping: JSON.parse(r.mapping_json) as FieldMapping,
    action: JSON.parse(r.action_json) as MailboxAction,
    intervalSeconds: r.interval_seconds,
    useIdle: r.use_idle === 1,
    enabled: r.enabled === 1,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** Import rules: account + folders → cabinet, with filters, field mapping, schedule and mailbox action. */
export function createRules(store: Store) {
  async function byName(orgId: string, name: string): Promise<Rule> {
    const r = await store.mailConfig.ruleByName(orgId, name);
    if (!r) throw new AppError('NOT_FOUND', `No import rule named "${name}"; list them with: mailroom rules list`);
    return ruleFromRow(r);
  }
  async function byId(orgId: string, id: string): Promise<Rule> {
    const r = await store.mailConfig.ruleById(orgId, id);
    if (!r) throw new AppError('NOT_FOUND', `No import rule with id ${id} in this organisation.`);
    return ruleFromRow(r);
  }

  return {
    byName,
    byId,

    async create(orgId: string, input: RuleInput): Promise<Rule> {
      const v = validation(ruleInputSchema, input, 'import rule');
      if (!(await store.mailConfig.accountById(orgId, v.accountId))) throw new AppError('NOT_FOUND', `No mail account with id ${v.accountId} in this organisation.`);
      if (!(await store.cabinets.byId(orgId, v.cabinetId))) throw new AppError('CABINET_NOT_FOUND', `No file cabinet with id ${v.cabinetId} in this organisation.`);
      if (await store.mailConfig.ruleByName(orgId, v.name)) throw new AppError('ALREADY_EXISTS', `An import rule named "${v.name}" already exists.`);
      const now = new Date().toISOString();
      const row: ImportRuleRow = {
        id: randomUUID(),
        org_id: orgId,
        name: v.name,
        account_id: v.accountId,
        cabinet_id: v.cabinetId,
        folders_json: JSON.stringify(v.folders),
        include_subfolders: v.includeSubfolders ? 1 : 0,
        filters_json: JSON.stringify(v.filters ?? {}),
        mapping_json: JSON.stringify(v.mapping ?? {}),
        action_json: JSON.stringify(v.action ?? { type: 'none' }),
        interval_seconds: v.intervalSeconds ?? DEFAULT_INTERVAL,
        use_idle: v.useIdle === false ? 0 : 1,
        enabled: v.enabled === false ? 0 : 1,
        created_at: now,
        updated_at: now,
      };
      await store.mailConfig.insertRule(row);
      return ruleFromRow(row);
    },

    async list(orgId: string): Promise<Rule[]> {
      return (await store.mailConfig.listRules(orgId)).map(ruleFromRow);
    },

    async listEnabled(): Promise<Rule[]> {
      return (await store.mailConfig.listEnabledRules()).map(ruleFromRow);
    },

    async setEnabled(orgId: string, id: string, enabled: boolean): Promise<Rule> {
      await byId(orgId, id);
      await store.mailConfig.updateRule(orgId, id, { enabled: enabled ? 1 : 0, updated_at: new Date().toISOString() });
      return byId(orgId, id);
    },

    async remove(orgId: string, id: string): Promise<void> {
      await byId(orgId, id);
      await store.mailConfig.deleteRule(orgId, id);
    },
  };
}

export type Rules = ReturnType<typeof createRules>;
