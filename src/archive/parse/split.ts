import type { Readable, Transform } from 'node:stream';
import type { MessageChunk, SplitterChunk, SplitterOptions } from '@zone-eu/mailsplit';
import { Base64Decoder } from './base64.ts';
import { ChunkQueue } from './chunk-queue.ts';
import { Splitter } from './splitter.ts';

/** What mailsplit's Splitter emits: a MIME node (headers parsed), or raw bytes. */
export type SplitChunk = SplitterChunk;
/** A MIME node with its raw header lines (node.headers.getList()) and multipart structure. */
export type SplitNode = Extract<SplitterChunk, { type: 'node' }>;
/** 'body': content of the last leaf node; 'data': multipart framing (preamble, delimiters, epilogue). */
export type SplitData = MessageChunk;

export interface SplitVisitor<Leaf> {
  /**
   * Sees every chunk, in order, before it is acted on. Returns a description of the leaf part
   * that a node chunk starts, or null when the chunk starts none (a multipart, or not a node):
   * only leaves get `part` calls.
   */
  observe(chunk: SplitChunk): Leaf | null;
  /**
   * Consumes one leaf part; `content` carries its body with the Content-Transfer-Encoding
   * undone (RFC 2045 section 6) and ends with the part. The next part starts once the
   * returned promise resolves; a rejection ends the whole split with that error.
   */
  part(leaf: Leaf, content: Readable): Promise<void>;
}

export interface SplitOutcome {
  /** Why mailsplit gave up before the end (one of its limits); null when all input was split. */
  stopped: Error | null;
}

const OPTIONS: SplitterOptions = {
  // Attached messages are parsed by our own recursion (parseMessage on the part's bytes), so
  // they must reach us as one leaf each.
  ignoreEmbedded: true,
  // mailsplit charges every header line at least 64 bytes; the 1 MiB default rejects a header
  // of 16k short lines outright and then we would know nothing about the message. 16 MiB of
  // cost (about 250k lines) parses in a few hundred milliseconds.
  maxHeadSize: 16 * 1024 * 1024,
  maxChildNodes: 1000,
};

/** A mailsplit Splitter with the leaf-body fast path (splitter.ts). */
function createSplitter(): Transform {
  return new Splitter(OPTIONS);
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/** The first fatal error (input stream, consumer); its promise rejects with it, to race waits against. */
class Halt {
  error: Error | null = null;
  readonly promise: Promise<never>;
  #reject: (err: Error) => void = () => undefined;
  readonly #onFail: (err: Error) => void;

  constructor(onFail: (err: Error) => void) {
    this.#onFail = onFail;
    this.promise = new Promise<never>((_resolve, reject) => {
      this.#reject = reject;
    });
    this.promise.catch(() => undefined);
  }

  fail(err: unknown): void {
    if (this.error) return;
    this.error = asError(err);
    this.#reject(this.error);
    this.#onFail(this.error);
  }
}

interface OpenPart {
  decoder: Transform;
  settled: Promise<void>;
  /** The consumer is done; content still coming for the part is dropped. */
  finished: boolean;
}

/** Resolves once `stream` takes writes again, or can never take them (closed). */
function writable(stream: Transform): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}

/**
 * Queued chunks, and bytes, above which a stream input is paused until the parts catch up. The
 * bytes bound what a part slower than its input holds up whatever the input's chunk size (the
 * parse worker reads spooled files in 1 MiB chunks).
 */
const QUEUE_HIGH = 64;
const QUEUE_HIGH_BYTES = 4 * 1024 * 1024;

function queueFull(queue: ChunkQueue<SplitChunk>): boolean {
  return queue.length >= QUEUE_HIGH || queue.bytes >= QUEUE_HIGH_BYTES;
}

/**
 * Feeds the raw message to the splitter, holding a stream input back while the splitter or
 * the queue of its chunks is full (a Buffer is split in one go; its chunks are views of it).
 * Returns how to let go of a stream input after the split: it is kept flowing, as it may be
 * fed by an outer parse that must not stall on our backpressure.
 */
function feed(input: Buffer | Readable, splitter: Transform, queue: ChunkQueue<SplitChunk>, halt: Halt): () => void {
  if (Buffer.isBuffer(input)) {
    splitter.end(input.length > 0 ? input : undefined);
    return () => undefined;
  }
  if (input.readableEnded) {
    // An 'end' that has already been emitted will not come again.
    splitter.end();
    return () => undefined;
  }
  let splitterFull = false;
  const resume = (): void => {
    if (!splitterFull && !queueFull(queue)) input.resume();
  };
  const onData = (chunk: Buffer): void => {
    if (!splitter.write(chunk)) splitterFull = true;
    if (splitterFull || queueFull(queue)) input.pause();
  };
  const onDrain = (): void => {
    splitterFull = false;
    resume();
  };
  const onEnd = (): void => {
    splitter.end();
  };
  // Left attached after the split: a late error must not become an uncaught exception.
  input.on('error', (err) => halt.fail(err));
  input.on('data', onData);
  input.once('end', onEnd);
  splitter.on('drain', onDrain);
  queue.onTake = resume;
  return () => {
    input.off('data', onData);
    input.off('end', onEnd);
    splitter.off('drain', onDrain);
    queue.onTake = () => undefined;
    input.resume();
  };
}

/**
 * Splits one raw message (RFC 5322 + MIME) with mailsplit, handing every leaf part's decoded
 * content to `visitor.part`, one part at a time and with backpressure, so that no part is
 * held in memory whole. A mailsplit limit (part count, header size) ends the split early
 * with what was read (see SplitOutcome); the promise rejects only when the input stream
 * errors or a `part` call rejects.
 */
export async function splitMessage<Leaf>(input: Buffer | Readable, visitor: SplitVisitor<Leaf>): Promise<SplitOutcome> {
  const splitter = createSplitter();
  const queue = new ChunkQueue<SplitChunk>((chunk) => (chunk.type === 'node' ? 0 : chunk.value.length));
  const halt = new Halt((err) => {
    queue.fail(err);
    splitter.destroy(err);
  });
  let open: OpenPart | null = null;

  const startPart = (node: SplitNode, leaf: Leaf): OpenPart => {
    // mailsplit's own decoder for the node's transfer encoding: libbase64 / libqp streams,
    // a PassThrough for 7bit, 8bit, binary and anything unknown (RFC 2045 section 6.4).
    // Base64 through our decoder with libbase64's output, natively for plain input (base64.ts).
    const decoder = node.encoding === 'base64' ? new Base64Decoder(() => node.getDecoder()) : node.getDecoder();
    const part: OpenPart = { decoder, settled: Promise.resolve(), finished: false };
    part.settled = visitor.part(leaf, part.decoder).then(
      () => {
        part.finished = true;
      },
      (err: unknown) => {
        part.finished = true;
        halt.fail(err);
      },
    );
    return part;
  };
  const endPart = async (): Promise<void> => {
    const part = open;
    if (part === null) return;
    open = null;
    part.decoder.end();
    await Promise.race([part.settled, halt.promise]);
  };
  const write = async (part: OpenPart, value: Buffer): Promise<void> => {
    if (part.finished || part.decoder.write(value)) return;
    await Promise.race([writable(part.decoder), part.settled, halt.promise]);
  };

  // Chunks are taken off the splitter the moment it emits them: when it fails on one of its
  // limits it drops whatever it still buffers, and how much that is would depend on how fast
  // the parts were consumed. Taken off at once, the parts before the limit are all kept.
  splitter.on('data', (chunk: SplitChunk) => queue.push(chunk));
  splitter.once('end', () => queue.end());
  const detach = feed(input, splitter, queue, halt);
  splitter.on('error', (err: Error) => {
    queue.fail(err);
    // A failed splitter takes no more input: let a stream input go now, not after the parts.
    detach();
  });
  let stopped: Error | null = null;
  try {
    for (;;) {
      let chunk: SplitChunk | null;
      try {
        chunk = await queue.next();
      } catch (err) {
        if (halt.error) throw halt.error;
        stopped = asError(err);
        break;
      }
      if (halt.error) throw halt.error;
      if (chunk === null) break;
      const leaf = visitor.observe(chunk);
      if (chunk.type === 'body') {
        // Body chunks belong to the last node; a leaf's part is open until the next chunk of
        // another kind (its closing delimiter, or the end of the message).
        if (open !== null) await write(open, chunk.value);
        continue;
      }
      await endPart();
      if (chunk.type === 'node' && leaf !== null) open = startPart(chunk, leaf);
    }
    // After a limit stop the open part keeps what was split before it.
    await endPart();
    if (halt.error) throw halt.error;
    return { stopped };
  } finally {
    detach();
    open?.decoder.destroy();
    splitter.destroy();
  }
}
