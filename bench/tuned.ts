/**
 * The benchmarks measure Mailroom as bin/mailroom runs it, with its memory settings (see there
 * and docs/benchmarks.md, "Memory"). Two must be given at start-up, so a benchmark re-runs
 * itself with them; the third is set at run time.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';

const TUNED_ENV = { MALLOC_ARENA_MAX: '2' };
const TUNED_FLAGS = ['--max-semi-space-size=2'];

export const TUNED_RUNTIME = 'MALLOC_ARENA_MAX=2 node --max-semi-space-size=2, --heap-growing-percent=100 (as bin/mailroom)';

/**
 * Makes this process run under bin/mailroom's memory settings: re-runs the benchmark at
 * `entryUrl` with them (and exits with its status) unless they are already in effect.
 */
export function runTuned(entryUrl: string): void {
  if (process.env['MALLOC_ARENA_MAX'] !== TUNED_ENV.MALLOC_ARENA_MAX || !TUNED_FLAGS.every((f) => process.execArgv.includes(f))) {
    const run = spawnSync(process.execPath, [...TUNED_FLAGS, ...process.execArgv, fileURLToPath(entryUrl), ...process.argv.slice(2)], {
      stdio: 'inherit',
      env: { ...process.env, ...TUNED_ENV },
    });
    process.exit(run.status ?? 1);
  }
  v8.setFlagsFromString('--heap-growing-percent=100');
}
