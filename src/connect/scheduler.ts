import type { Logger } from '../log/index.ts';
import type { MailSource } from '../gateways/index.ts';
import type { Rule } from './rules.ts';
import type { SyncSummary } from './sync/engine.ts';

export interface SchedulerDeps {
  log: Logger;
  listEnabledRules(): Promise<Rule[]>;
  runRule(rule: Rule): Promise<SyncSummary>;
  openRuleSource(rule: Rule): Promise<MailSource>;
  /** How often rules are re-read (changes from the CLI or another node) and checked for being due. */
  reloadMs?: number;
}

interface Watch {
  key: string;
  stop(): Promise<void>;
}

/**
 * Runs every enabled rule on its interval, and at once when IDLE reports new mail. A rule runs
 * at most once at a time in this process; across processes the per-folder lease decides.
 */
export function createScheduler(deps: SchedulerDeps) {
  const reloadMs = deps.reloadMs ?? 10_000;
  const lastRun = new Map<string, number>();
  const running = new Map<string, Promise<void>>();
  const rerun = new Set<string>();
  const watches = new Map<string, Watch>();
  let rules: Rule[] = [];
  let timer: NodeJS.Timeout | undefined;
  let stopped = true;

  function trigger(rule: Rule, why: string): void {
    if (stopped) return;
    if (running.has(rule.id)) {
      rerun.add(rule.id); // new mail arrived while running: go again right after
      return;
    }
    lastRun.set(rule.id, Date.now());
    const p = deps
      .runRule(rule)
      .then(
        (s) => deps.log.info({ why, ...s }, 'sync finished'),
        (err: Error & { code?: string }) => deps.log.error({ rule: rule.name, why, code: err.code, err: err.message }, 'sync failed'),
      )
      .finally(() => {
        running.delete(rule.id);
        if (rerun.delete(rule.id)) trigger(rule, 'idle');
      });
    running.set(rule.id, p);
  }

  async function syncWatches(): Promise<void> {
    const wanted = new Set<string>();
    for (const rule of rules) {
      if (!rule.useIdle) continue;
      const key = `${rule.id}:${rule.updatedAt}`;
      wanted.add(key);
      if (watches.has(key)) continue;
      try {
        const source = await deps.openRuleSource(rule);
        if (!source.capabilities.idle) {
          await source.close();
          continue;
        }
        const stoppers = await Promise.all(
          rule.folders.map((folder) =>
            source.watch(
              folder,
              () => trigger(rule, 'idle'),
              (err) => deps.log.warn({ rule: rule.name, folder, err: err.message }, 'IDLE connection dropped; reconnecting'),
            ),
          ),
        );
        watches.set(key, {
          key,
          stop: async () => {
            await Promise.all(stoppers.map((s) => s.stop()));
            await source.close();
          },
        });
      } catch (err) {
        deps.log.warn({ rule: rule.name, err: (err as Error).message }, 'cannot watch with IDLE; relying on the interval');
      }
    }
    for (const [key, w] of watches) {
      if (!wanted.has(key)) {
        watches.delete(key);
        await w.stop().catch(() => undefined);
      }
    }
  }

  async function tick(): Promise<void> {
    try {
      rules = await deps.listEnabledRules();
    } catch (err) {
      deps.log.error({ err: (err as Error).message }, 'cannot read import rules');
      return;
    }
    const now = Date.now();
    for (const rule of rules) {
      const last = lastRun.get(rule.id);
      if (last === undefined || now - last >= rule.intervalSeconds * 1000) trigger(rule, 'schedule');
    }
    await syncWatches();
  }

  return {
    async start(): Promise<void> {
      stopped = false;
      await tick();
      const loop = () => {
        timer = setTimeout(() => {
          void tick().finally(() => {
            if (!stopped) loop();
          });
        }, reloadMs);
      };
      loop();
    },
    /** Runs a rule now (API/CLI "sync now" while serving). */
    trigger(rule: Rule): void {
      trigger(rule, 'manual');
    },
    async stop(): Promise<void> {
      stopped = true;
      if (timer) clearTimeout(timer);
      await Promise.all([...watches.values()].map((w) => w.stop().catch(() => undefined)));
      watches.clear();
      await Promise.allSettled([...running.values()]);
    },
  };
}

export type Scheduler = ReturnType<typeof createScheduler>;
