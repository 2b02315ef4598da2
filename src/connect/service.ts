import type { SecretBox } from '../crypto/index.ts';
import type { Archive } from '../archive/index.ts';
import type { Logger } from '../log/index.ts';
import type { LedgerRow, Store, SyncRunRow } from '../store/index.ts';
import type { ConnectionSettings, Cursor, MailSource } from '../gateways/index.ts';
import { AppError } from '../errors/index.ts';
import { createServices } from './services.ts';
import { createAccounts } from './accounts.ts';
import { createRules, type Rule } from './rules.ts';
import { createMailbox } from './mailbox.ts';
import { createScheduler } from './scheduler.ts';
import { runRuleOnce, type OpenSource, type SyncProgress, type SyncSummary } from './sync/engine.ts';

export interface ProbeResult {
  ok: true;
  capabilities: string[];
  tlsFingerprint256: string | null;
  folders?: number;
}

export interface ConnectDeps {
  store: Store;
  secrets: SecretBox;
  archive: Archive;
  log: Logger;
  openSource: OpenSource;
  /** Connects (and logs in when the settings carry credentials) without changing anything. */
  probeImap(settings: ConnectionSettings): Promise<ProbeResult>;
  probeSmtp(settings: ConnectionSettings): Promise<ProbeResult>;
}

export interface LedgerEntry {
  folder: string;
  uidValidity: string;
  uid: string;
  status: LedgerRow['status'];
  documentId: string | null;
  attempts: number;
  reason: string | null;
  actionDone: boolean;
  subject: string;
  firstSeenAt: string;
  updatedAt: string;
}

/** One pass of a rule, as the run history shows it (design §4: watch the runs themselves). */
export interface SyncRunView {
  id: string;
  trigger: string;
  startedAt: string;
  finishedAt: string | null;
  fetched: number;
  archived: number;
  duplicates: number;
  failed: number;
  skipped: number;
  error: string | null;
}

function runView(r: SyncRunRow): SyncRunView {
  return {
    id: r.id,
    trigger: r.trigger,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    fetched: r.fetched,
    archived: r.archived,
    duplicates: r.duplicates,
    failed: r.failed,
    skipped: r.skipped,
    error: r.error,
  };
}

function ledgerEntry(r: LedgerRow): LedgerEntry {
  return {
    folder: r.folder,
    uidValidity: r.epoch,
    uid: r.msg_key,
    status: r.status,
    documentId: r.document_id,
    attempts: r.attempts,
    reason: r.reason,
    actionDone: r.action_done === 1,
    subject: r.subject,
    firstSeenAt: r.first_seen_at,
    updatedAt: r.updated_at,
  };
}

/** Connect to Mail: services, accounts, rules, the sync engine, its ledger, and archiving by hand. */
export function createConnect(deps: ConnectDeps) {
  const services = createServices(deps.store, deps.secrets);
  const accounts = createAccounts(deps.store, deps.secrets);
  const rules = createRules(deps.store);
  const mailbox = createMailbox(deps.store, deps.archive);

  async function settingsFor(rule: Rule) {
    const account = await accounts.byId(rule.orgId, rule.accountId);
    return { settings: await accounts.connectionSettings(account), accountName: account.name, accountId: account.id };
  }

  async function openAccount(orgId: string, accountName: string): Promise<{ source: MailSource; accountName: string }> {
    const account = await accounts.byName(orgId, accountName);
    return { source: await deps.openSource(await accounts.connectionSettings(account)), accountName: account.name };
  }

  const syncDeps = { store: deps.store, archive: deps.archive, log: deps.log, openSource: deps.openSource, settingsFor };

  const scheduler = createScheduler({
    log: deps.log,
    listEnabledRules: () => rules.listEnabled(),
    runRule: (rule) => runRuleOnce(syncDeps, rule),
    openRuleSource: async (rule) => deps.openSource((await settingsFor(rule)).settings),
  });

  return {
    services,
    accounts,
    rules,
    mailbox,
    scheduler,
    openAccount,

    async sync(orgId: string, ruleName: string, onProgress?: (p: SyncProgress) => void): Promise<SyncSummary> {
      const rule = await rules.byName(orgId, ruleName);
      return runRuleOnce(syncDeps, rule, onProgress);
    },

    async ledger(orgId: string, ruleName: string, opts: { failedOnly?: boolean; limit?: number; offset?: number } = {}) {
      const rule = await rules.byName(orgId, ruleName);
      const rows = await deps.store.sync.ledgerList(orgId, rule.id, { failedOnly: opts.failedOnly ?? false, limit: opts.limit ?? 1000, offset: opts.offset ?? 0 });
      return { rule: rule.name, counts: await deps.store.sync.ledgerCounts(orgId, rule.id), entries: rows.map(ledgerEntry) };
    },

    /** Forgets failures (retried from scratch) or everything (the next run rescans; dedup keeps it single). */
    async resetLedger(orgId: string, ruleName: string, opts: { failedOnly?: boolean } = {}): Promise<{ removed: number }> {
      const rule = await rules.byName(orgId, ruleName);
      if (opts.failedOnly) {
        // A failed message lies below its folder's stored cursor, so forgetting only its ledger
        // row would leave it unseen for good: rewind the cursor to just before the first failure
        // first (messages in the ledger cost nothing when listed again), then forget.
        const first = new Map<string, number>(); // folder + "\n" + epoch -> lowest failed UID
        for (let offset = 0; ; offset += 1000) {
          const rows = await deps.store.sync.ledgerList(orgId, rule.id, { failedOnly: true, limit: 1000, offset });
          for (const r of rows) {
            const k = `${r.folder}\n${r.epoch}`;
            const uid = Number(r.msg_key);
            if (Number.isInteger(uid) && uid < (first.get(k) ?? Infinity)) first.set(k, uid);
          }
          if (rows.length < 1000) break;
        }
        for (const [k, uid] of first) {
          const [folder = '', epoch] = k.split('\n');
          const stored = await deps.store.sync.cursorGet(rule.id, folder);
          const c = stored ? (JSON.parse(stored) as Cursor) : null;
          if (c?.kind !== 'imap' || String(c.uidValidity) !== epoch || c.lastUid < uid) continue;
          const rewound: Cursor = { kind: 'imap', uidValidity: c.uidValidity, lastUid: uid - 1 };
          await deps.store.sync.cursorSet(rule.id, folder, JSON.stringify(rewound), new Date().toISOString());
        }
      }
      return { removed: await deps.store.sync.ledgerReset(orgId, rule.id, opts.failedOnly ?? false) };
    },

    async runs(orgId: string, ruleName: string, limit = 20): Promise<SyncRunView[]> {
      const rule = await rules.byName(orgId, ruleName);
      return (await deps.store.sync.runsOfRule(orgId, rule.id, limit)).map(runView);
    },

    /** Reaches the service's server: TLS (with pinning), greeting, capabilities; SMTP also logs in. */
    async testService(orgId: string, name: string): Promise<ProbeResult> {
      const s = await services.byName(orgId, name);
      if (s.kind === 'smtp') return deps.probeSmtp(services.connectionSettings(s));
      if (s.kind !== 'imap') throw new AppError('VALIDATION_FAILED', `Testing ${s.kind} services is not supported yet.`);
      return deps.probeImap({ ...services.connectionSettings(s), auth: { type: 'none' } });
    },

    /** Logs in to the account's mailbox and counts its folders. */
    async testAccount(orgId: string, name: string): Promise<ProbeResult> {
      const account = await accounts.byName(orgId, name);
      return deps.probeImap(await accounts.connectionSettings(account));
    },
  };
}

export type Connect = ReturnType<typeof createConnect>;
