/**
 * A large message spooled to the blob store: the sync engine consumes a message's stream at once
 * into a temp file (hashed and fdatasynced by a BlobBatch put), so that the connection is free
 * again and the message can wait in a batch like the buffered ones without being held in memory.
 *
 * Ownership: archive.spool() hands the handle to its caller, who must end it exactly one way:
 * pass it in the items of archive.ingest() (which commits it with the documents or removes it),
 * or of archive.prefetch() (whose ingest or cancel does), or call discard() itself. A handle is
 * replayable until then: ingest's one-by-one fallback reads it again.
 */
import type { Readable } from 'node:stream';
import type { BlobBatch, BlobRef, BlobStore } from '../store/index.ts';

type State = 'spooled' | 'committed' | 'discarded';

export class SpooledRaw {
  readonly sha256: string;
  readonly size: number;
  readonly #batch: BlobBatch;
  #file: string | null;
  #state: State = 'spooled';

  constructor(batch: BlobBatch, ref: BlobRef, file: string | null) {
    this.#batch = batch;
    this.sha256 = ref.sha256;
    this.size = ref.size;
    this.#file = file;
  }

  get ref(): BlobRef {
    return { sha256: this.sha256, size: this.size };
  }

  /**
   * The temp file, for a reader in another thread (the parse worker), or null once it has moved
   * (or when the store keeps no local file). It stays until commit() or discard(), which the
   * owner calls only after such readers are done.
   */
  get file(): string | null {
    return this.#state === 'spooled' ? this.#file : null;
  }

  /** The bytes: from the temp file, or from the blob store once committed. */
  read(): Readable {
    if (this.#state === 'discarded') throw new Error('SpooledRaw.read: the spooled message was discarded');
    return this.#batch.read(this.sha256);
  }

  /**
   * Moves the blob to its content address (fsyncing its directory). Committing again is a no-op,
   * so a batch that failed after its blobs were committed can be retried one message at a time.
   */
  async commit(): Promise<void> {
    if (this.#state === 'discarded') throw new Error('SpooledRaw.commit: the spooled message was discarded');
    if (this.#state === 'committed') return;
    await this.#batch.commit();
    this.#state = 'committed';
  }

  /** Removes the temp file unless the blob was committed (then a document may refer to it). */
  async discard(): Promise<void> {
    if (this.#state !== 'spooled') return;
    this.#state = 'discarded';
    await this.#batch.abort();
  }
}

/**
 * Consumes `stream` into a temp file of the blob store. On failure nothing is left: the temp
 * file is removed and the stream destroyed (a stream of the IMAP gateway holds the connection
 * until it ends or is destroyed).
 */
export async function spool(blobs: BlobStore, stream: Readable): Promise<SpooledRaw> {
  const batch = blobs.batch();
  try {
    const ref = await batch.put(stream);
    return new SpooledRaw(batch, ref, batch.fileOf(ref.sha256));
  } catch (err) {
    stream.destroy();
    await batch.abort();
    throw err;
  }
}

/** Discards the spooled messages among `raws` that are not committed; never throws. */
export async function discardSpooled(raws: Iterable<unknown>): Promise<void> {
  const spooled = [...raws].filter((r): r is SpooledRaw => r instanceof SpooledRaw);
  await Promise.allSettled(spooled.map((s) => s.discard()));
}
