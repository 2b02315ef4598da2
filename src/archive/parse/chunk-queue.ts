/**
 * Items taken off a stream as soon as it emits them, for a consumer that handles them at its
 * own pace. A stream that fails drops what it still buffers; taken off here, everything it
 * produced before the failure is handed out first, and only then the error. The producer
 * watches `length` to hold its own input back.
 */
export class ChunkQueue<T> {
  #items: T[] = [];
  #head = 0;
  #bytes = 0;
  #ended = false;
  #error: Error | null = null;
  #wake: (() => void) | null = null;
  /** Called whenever an item is taken, so that a paused producer can resume. */
  onTake: () => void = () => undefined;

  /** `weigh` tells the bytes an item holds, for a producer that bounds them (see `bytes`). */
  constructor(private readonly weigh: (item: T) => number = () => 0) {}

  get length(): number {
    return this.#items.length - this.#head;
  }

  /** What the queued items weigh together. */
  get bytes(): number {
    return this.#bytes;
  }

  push(item: T): void {
    this.#items.push(item);
    this.#bytes += this.weigh(item);
    this.#notify();
  }

  end(): void {
    this.#ended = true;
    this.#notify();
  }

  /** The first error wins; it is thrown by next() once the items before it are taken. */
  fail(err: Error): void {
    this.#error ??= err;
    this.#notify();
  }

  /** The next item, or null after end(); throws the error given to fail() when no items are left. */
  async next(): Promise<T | null> {
    while (this.length === 0) {
      if (this.#error) throw this.#error;
      if (this.#ended) return null;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
    const item = this.#items[this.#head] as T;
    this.#head++;
    this.#bytes -= this.weigh(item);
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      // Drop the taken half in one go: shift() per item is quadratic on a long queue.
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    this.onTake();
    return item;
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }
}
