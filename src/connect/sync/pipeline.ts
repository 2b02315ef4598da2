import type { IngestItem } from '../../archive/index.ts';

/**
 * Batches in flight. The sync loop hands over a full batch and goes on fetching and staging the
 * next one while this batch is archived (parse in the worker thread, blob writes, the commit),
 * recorded in the ledger and acted on in the mailbox; fetching no longer waits for all of that.
 *
 * Two batches at most (`depth`): while the older one commits, the newer one is parsed, and the
 * loop fetches a third. With one, fetching waited for each commit, 2.4 s of a 5.9 s sync
 * (docs/benchmarks.md, "Sixth round"). Memory stays about three batches plus the gateway's
 * read-ahead, and temp files about three batches' spooled messages (spool.ts, BATCH_SPOOLED
 * each). Batches finish in order: a batch's ingest, ledger rows and mailbox action start only
 * after the batch before has finished. Within a batch the order of decision 0005 is the
 * caller's (`work`): documents and ledger committed before the mailbox action.
 *
 * Whoever leaves the pass must first `settle()` (or, already failing, `drain()`): nothing of a
 * pass may still run once it has returned or thrown, e.g. while the source is reconnected.
 */
export class BatchInFlight {
  /** Completions of the batches handed over and not yet settled, oldest first. */
  #running: Array<Promise<void>> = [];

  constructor(
    /** archive.prefetch: starts a batch's blob writes and parse; returns how to give it up. */
    private readonly prefetch: (items: IngestItem[]) => () => Promise<void>,
    /** Told of a failure that cannot be thrown because another error is already on its way. */
    private readonly onDropped: (err: unknown) => void,
    /** How many batches may be in flight at once. */
    private readonly depth = 2,
  ) {}

  /**
   * Starts staging `items` at once, then runs `work` (which must ingest this very `items` array)
   * in the background once the batch before has finished. Returns once at most `depth`
   * batches, this one included, are in flight. If a batch before fails, this one is given up
   * (its staged temp files and spooled messages removed) and that failure is thrown, here or
   * by settle().
   */
  async hand(items: IngestItem[], work: () => Promise<void>): Promise<void> {
    const cancel = this.prefetch(items);
    const before = this.#running[this.#running.length - 1];
    const running = (async () => {
      try {
        await before;
      } catch (err) {
        await cancel().catch(this.onDropped);
        throw err;
      }
      await work();
    })();
    // Its failure is thrown by hand() or settle(); until then it must not count as unhandled.
    running.catch(() => undefined);
    this.#running.push(running);
    while (this.#running.length > this.depth) {
      try {
        await this.#running.shift();
      } catch (err) {
        // The batches after the failed one fail with its very error once they are given up:
        // wait for that, so that none runs when this throws and drain() does not report the
        // same failure again as another one.
        const after = this.#running;
        this.#running = [];
        await Promise.allSettled(after);
        throw err;
      }
    }
  }

  /** Waits for the batches in flight, if any; throws the first failure. */
  async settle(): Promise<void> {
    const running = this.#running;
    this.#running = [];
    // All of them, so that none still runs when this throws; a failed batch fails those after
    // it with its own error, so the first failure is the one to throw.
    const failed = (await Promise.allSettled(running)).find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** settle() for a pass that is already failing: the batches' own failures are only reported. */
  async drain(): Promise<void> {
    await this.settle().catch(this.onDropped);
  }
}
