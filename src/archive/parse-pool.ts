/**
 * Parsing and tokenizing a message is most of the CPU an import spends (docs/benchmarks.md).
 * With two cores or more, one worker thread does it (parse-worker.ts) while the main thread
 * reads the source and does the file-system and database work. One worker, not one per core:
 * the main thread's share is about as large, and each worker costs memory.
 *
 * The worker starts on first use and stops after IDLE_MS without work; it keeps the process
 * alive only while requests are outstanding. If it cannot start, parsing stays in-process.
 */
import os from 'node:os';
import v8 from 'node:v8';
import { Worker } from 'node:worker_threads';
import type { PreparedMessage } from './prepare.ts';

/**
 * A raw message: in the shared ring at `at` (see Ring), or, when it has no room, transferred;
 * or a file the worker reads itself (a spooled large message, spool.ts).
 */
export type WorkerRequest = { id: number; at: number; length: number } | { id: number; raw: Uint8Array } | { id: number; file: string };

export interface WorkerData {
  ring: SharedArrayBuffer;
}

export type WorkerReply = ({ id: number; ok: true } & PreparedMessage) | { id: number; ok: false; message: string };

const IDLE_MS = 10_000;
/** Keeps the worker's young generation small; the worker holds little between messages. */
const WORKER_YOUNG_GENERATION_MB = 8;
/**
 * No full collection in the worker below this much old generation. V8 (11.x) charges the
 * Buffers allocated since the last full collection against the old generation's limit, and the
 * worker's limit is low (a heap of ~12 MB that may grow by 100 %, bin/mailroom): every ~10 MB
 * of spooled messages and decoded attachments streaming through started a full collection,
 * 40 in a sync of 100 large messages, each marking the whole heap. V8 takes a configured
 * initial old-generation size as such a floor (docs/benchmarks.md, "Sixth round").
 */
const WORKER_OLD_GENERATION_FLOOR_MB = 48;

const entry = new URL('./parse-worker.ts', import.meta.url).href;

/**
 * The worker's bootstrap. TypeScript sources run through tsx (bin/mailroom, the npm scripts),
 * whose module hooks a worker thread does not inherit: the worker registers them itself.
 */
function bootstrap(): string {
  if (!entry.endsWith('.ts')) return `import(${JSON.stringify(entry)});`;
  const tsx = import.meta.resolve('tsx/esm/api');
  return `import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`;
}

interface Waiting {
  resolve: (value: PreparedMessage | null) => void;
  reject: (err: Error) => void;
  /** The message's region in the ring, or -1. */
  at: number;
}

/** Bytes of raw messages on their way to the worker (typically two batches: about 2 MB). */
const RING_BYTES = 4 * 1024 * 1024;

/**
 * Raw messages go to the worker through one shared buffer, allocated in turn (first in, first
 * out, as the worker answers in order), instead of a new buffer per message: a buffer per
 * message is garbage on both threads, and V8 collects such external memory only in bulk.
 */
class Ring {
  readonly buffer = new SharedArrayBuffer(RING_BYTES);
  readonly #bytes = new Uint8Array(this.buffer);
  /** Regions in use, oldest first. */
  readonly #live: Array<{ start: number; end: number; done: boolean }> = [];

  /** Copies `raw` in and returns where, or -1 when there is no room. */
  put(raw: Buffer): number {
    const len = raw.length;
    let start = -1;
    const first = this.#live[0];
    const last = this.#live[this.#live.length - 1];
    if (first === undefined || last === undefined) {
      if (len <= RING_BYTES) start = 0;
    } else if (last.start >= first.start) {
      // Not wrapped: free after the last region, and before the first.
      if (RING_BYTES - last.end >= len) start = last.end;
      else if (first.start >= len) start = 0;
    } else if (first.start - last.end >= len) {
      start = last.end;
    }
    if (start < 0) return -1;
    this.#bytes.set(raw, start);
    this.#live.push({ start, end: start + len, done: false });
    return start;
  }

  release(start: number): void {
    const region = this.#live.find((r) => r.start === start && !r.done);
    if (region) region.done = true;
    while (this.#live[0]?.done) this.#live.shift();
  }

  clear(): void {
    this.#live.length = 0;
  }
}

export class ParsePool {
  #worker: Worker | null = null;
  readonly #ring = new Ring();
  /** Set when a worker failed before its first reply: parsing then stays in-process. */
  #broken = false;
  #answered = false;
  readonly #waiting = new Map<number, Waiting>();
  #nextId = 0;
  #idle: NodeJS.Timeout | null = null;

  /** Parses and tokenizes `raw` in the worker. Resolves to null when the worker cannot run: the caller parses in-process. */
  prepare(raw: Buffer): Promise<PreparedMessage | null> {
    const worker = this.#start();
    if (worker === null) return Promise.resolve(null);
    const id = this.#nextId++;
    const at = this.#ring.put(raw);
    const result = this.#wait(worker, id, at);
    if (at >= 0) {
      const request: WorkerRequest = { id, at, length: raw.length };
      worker.postMessage(request);
    } else {
      // No room in the ring: a copy with its own buffer, transferred rather than cloned (a
      // clone of a view would copy the whole buffer behind it).
      const copy = new Uint8Array(raw.length);
      copy.set(raw);
      const request: WorkerRequest = { id, raw: copy };
      worker.postMessage(request, [copy.buffer]);
    }
    return result;
  }

  /**
   * prepare() for a message in a file, which the worker streams from disk: a large message is
   * neither held whole nor copied between threads. The file must stay until the promise settles.
   */
  prepareFile(file: string): Promise<PreparedMessage | null> {
    const worker = this.#start();
    if (worker === null) return Promise.resolve(null);
    const id = this.#nextId++;
    const result = this.#wait(worker, id, -1);
    const request: WorkerRequest = { id, file };
    worker.postMessage(request);
    return result;
  }

  #wait(worker: Worker, id: number, at: number): Promise<PreparedMessage | null> {
    const result = new Promise<PreparedMessage | null>((resolve, reject) => this.#waiting.set(id, { resolve, reject, at }));
    if (this.#waiting.size === 1) {
      worker.ref();
      if (this.#idle) clearTimeout(this.#idle);
      this.#idle = null;
    }
    return result;
  }

  #start(): Worker | null {
    if (this.#worker !== null || this.#broken) return this.#worker;
    let worker: Worker;
    try {
      const workerData: WorkerData = { ring: this.#ring.buffer };
      // A V8 flag is process-wide and read when an isolate is made: set for the worker's
      // isolate, and unset once it runs (the main isolate was made long before).
      v8.setFlagsFromString(`--initial-old-space-size=${WORKER_OLD_GENERATION_FLOOR_MB}`);
      worker = new Worker(bootstrap(), { eval: true, workerData, resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB } });
    } catch {
      v8.setFlagsFromString('--initial-old-space-size=0');
      this.#broken = true;
      return null;
    }
    const unsetFloor = (): void => v8.setFlagsFromString('--initial-old-space-size=0');
    worker.once('online', unsetFloor);
    worker.once('exit', unsetFloor);
    worker.unref();
    this.#answered = false;
    worker.on('message', (reply: WorkerReply) => this.#onReply(worker, reply));
    worker.on('error', (err) => this.#onExit(worker, err));
    worker.on('exit', (code) => this.#onExit(worker, new Error(`the parse worker stopped (exit code ${code})`)));
    this.#worker = worker;
    return worker;
  }

  #onReply(worker: Worker, reply: WorkerReply): void {
    this.#answered = true;
    const waiting = this.#waiting.get(reply.id);
    this.#waiting.delete(reply.id);
    if (this.#waiting.size === 0) this.#goIdle(worker);
    if (waiting === undefined) return;
    if (waiting.at >= 0) this.#ring.release(waiting.at);
    if (reply.ok) {
      waiting.resolve({ parsed: reply.parsed, preview: reply.preview, terms: reply.terms });
    } else {
      waiting.reject(new Error(`parse worker: ${reply.message}`));
    }
  }

  #goIdle(worker: Worker): void {
    worker.unref();
    this.#idle = setTimeout(() => {
      if (this.#worker !== worker || this.#waiting.size > 0) return;
      this.#worker = null;
      void worker.terminate();
    }, IDLE_MS);
    this.#idle.unref();
  }

  #onExit(worker: Worker, err: Error): void {
    if (this.#worker !== worker) return;
    this.#worker = null;
    if (!this.#answered) {
      // It never worked (e.g. the module could not load): parse in-process from now on.
      this.#broken = true;
      for (const w of this.#waiting.values()) w.resolve(null);
    } else {
      for (const w of this.#waiting.values()) w.reject(err);
    }
    this.#waiting.clear();
    this.#ring.clear();
  }
}

let shared: ParsePool | null | undefined;

/** The process's parse pool, or null on a single core (parsing in-process is as fast there). */
export function parsePool(): ParsePool | null {
  shared ??= os.availableParallelism() > 1 ? new ParsePool() : null;
  return shared;
}
