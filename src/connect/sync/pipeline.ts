import type { IngestItem } from '../../archive/index.ts';

/**
 * A batch in flight. The sync loop hands over a full batch and goes on fetching and staging the
 * next one while this batch is archived (parse in the worker thread, blob writes, the commit),
 * recorded in the ledger and acted on in the mailbox; fetching no longer waits for all of that.
 *
 * One batch at most, so memory stays about two batches (this one and the one being filled) plus
 * the gateway's read-ahead, and temp files about two batches' spooled messages (spool.ts,
 * BATCH_SPOOLED each), and batches finish in order: the next one's ingest, ledger rows and
 * mailbox action start only after this one's are done. Within a batch the order of decision
 * 0005 is the caller's (`work`): documents and ledger committed before the mailbox action.
 *
 * Whoever leaves the pass must first `settle()` (or, already failing, `drain()`): nothing of a
 * pass may still run once it has returned or thrown, e.g. while the source is reconnected.
 */
export class BatchInFlight {
  #running: Promise<void> | null = null;

  constructor(
    /** archive.prefetch: starts a batch's blob writes and parse; returns how to give it up. */
    private readonly prefetch: (items: IngestItem[]) => () => Promise<void>,
    /** Told of a failure that cannot be thrown because another error is already on its way. */
    private readonly onDropped: (err: unknown) => void,
  ) {}

  /**
   * Starts staging `items` at once, then, when the batch before has finished, runs `work` (which
   * must ingest this very `items` array) in the background. If the batch before failed, this
   * one is given up (its staged temp files and spooled messages removed) and that failure is
   * thrown here.
   */
  async hand(items: IngestItem[], work: () => Promise<void>): Promise<void> {
    const cancel = this.prefetch(items);
    try {
      await this.settle();
    } catch (err) {
      await cancel().catch(this.onDropped);
      throw err;
    }
    const running = work();
    // Its failure is thrown by settle(); until then it must not count as unhandled.
    running.catch(() => undefined);
    this.#running = running;
  }

  /** Waits for the batch in flight, if any; throws its failure. */
  async settle(): Promise<void> {
    const running = this.#running;
    this.#running = null;
    await running;
  }

  /** settle() for a pass that is already failing: the batch's own failure is only reported. */
  async drain(): Promise<void> {
    await this.settle().catch(this.onDropped);
  }
}
