/**
 * BatchInFlight (src/connect/sync/pipeline.ts) on its own: two batches in flight while the loop
 * fetches a third, each batch's work only after the batch before has finished, and a failure
 * that gives up the batches after it and is thrown once all of them have stopped.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { IngestItem } from '../../src/archive/index.ts';
import { BatchInFlight } from '../../src/connect/sync/pipeline.ts';

/** A promise with its resolve and reject, to hold a batch's work. */
function held(): { promise: Promise<void>; resolve: () => void; reject: (err: Error) => void } {
  let resolve = (): void => undefined;
  let reject = (_err: Error): void => undefined;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Records what happened, in order, to batches named by their one item's `n`. */
function recorder(): { log: string[]; inFlight: BatchInFlight; items: (n: number) => IngestItem[] } {
  const log: string[] = [];
  const name = (items: IngestItem[]): string => String((items[0] as unknown as { n: number }).n);
  const inFlight = new BatchInFlight(
    (items) => {
      log.push(`prefetch ${name(items)}`);
      return async () => {
        log.push(`cancel ${name(items)}`);
      };
    },
    (err) => log.push(`dropped ${(err as Error).message}`),
  );
  return { log, inFlight, items: (n) => [{ n } as unknown as IngestItem] };
}

describe('BatchInFlight', { timeout: 10_000 }, () => {
  test('two batches in flight: the third hand-over waits for the first; work runs in order', async () => {
    const { log, inFlight, items } = recorder();
    const works = [held(), held(), held()];
    const work = (i: number) => async (): Promise<void> => {
      log.push(`work ${i} starts`);
      await works[i]!.promise;
      log.push(`work ${i} done`);
    };

    await inFlight.hand(items(0), work(0));
    await inFlight.hand(items(1), work(1));
    let thirdHanded = false;
    const third = inFlight.hand(items(2), work(2)).then(() => {
      thirdHanded = true;
    });
    await tick();
    assert.deepEqual(log, ['prefetch 0', 'work 0 starts', 'prefetch 1', 'prefetch 2'], 'batch 1 waits for batch 0; all three are staged at once');
    assert.equal(thirdHanded, false, 'with two batches in flight the loop waits');

    works[0]!.resolve();
    await third;
    assert.equal(thirdHanded, true);
    assert.deepEqual(log.slice(4), ['work 0 done', 'work 1 starts']);

    works[1]!.resolve();
    works[2]!.resolve();
    await inFlight.settle();
    assert.deepEqual(log.slice(6), ['work 1 done', 'work 2 starts', 'work 2 done']);
  });

  test('a failed batch gives up the batches after it; settle() throws its error once none runs', async () => {
    const { log, inFlight, items } = recorder();
    const first = held();
    await inFlight.hand(items(0), async () => {
      await first.promise;
    });
    await inFlight.hand(items(1), async () => {
      log.push('work 1 runs');
    });
    first.reject(new Error('disk full'));
    await assert.rejects(inFlight.settle(), /disk full/);
    assert.deepEqual(log, ['prefetch 0', 'prefetch 1', 'cancel 1'], 'batch 1 was cancelled, its work never ran');
    // Settled: nothing is left in flight.
    await inFlight.settle();
  });

  test('a failure surfaces at the hand-over that waits for the failed batch, once all after it are given up', async () => {
    const { log, inFlight, items } = recorder();
    await inFlight.hand(items(0), async () => {
      throw new Error('database locked');
    });
    await inFlight.hand(items(1), async () => {
      log.push('work 1 runs');
    });
    await assert.rejects(
      inFlight.hand(items(2), async () => {
        log.push('work 2 runs');
      }),
      /database locked/,
    );
    assert.deepEqual(log, ['prefetch 0', 'prefetch 1', 'prefetch 2', 'cancel 1', 'cancel 2'], 'given up before the hand-over threw');
    // Nothing is left in flight, so the failure already thrown is not reported again.
    await inFlight.drain();
    assert.deepEqual(log.slice(5), []);
  });
});
