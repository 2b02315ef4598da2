export { createConnect, type Connect, type ConnectDeps, type LedgerEntry, type ProbeResult, type SyncRunView } from './service.ts';
export type { ServiceInput, ServiceView } from './services.ts';
export { mayUseAccount, accountView } from './accounts.ts';
export type { AccountInput, AccountView, AccountUser } from './accounts.ts';
export type { RuleInput, Rule } from './rules.ts';
export type { SyncSummary, SyncProgress, OpenSource } from './sync/engine.ts';
export type { BrowsedMessage } from './mailbox.ts';
export type { RuleFilters, TextMatch, FieldMapping } from './types.ts';
