import { createHash } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';

/** The default attachment sink: the SHA-256 and size of the decoded bytes, nothing kept. */
export async function hashContent(content: Readable): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of content) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), size };
}

export interface Drained {
  /** The first bytes of the content, up to the `keep` limit. */
  kept: Buffer;
  total: number;
  truncated: boolean;
}

/**
 * Consumes a part's content to its end, copying every chunk to `outputs` (the sink's stream, a
 * nested parse) with backpressure, and keeping only the first `keep` bytes for text extraction,
 * so that an attachment is never held in memory whole. Resolves when the content ends, fails or
 * `signal` aborts (the parser died mid-part); the outputs are ended in every case so that
 * whoever reads them finishes too. An output that is destroyed (a failing sink) is dropped
 * rather than waited for.
 */
export function drain(source: Readable, outputs: readonly Writable[], keep: number, signal: AbortSignal): Promise<Drained> {
  return new Promise((resolve) => {
    const kept: Buffer[] = [];
    let keptBytes = 0;
    let total = 0;
    let finished = false;
    const waiting = new Set<Writable>();

    const release = (output: Writable): void => {
      if (!waiting.delete(output)) return;
      if (waiting.size === 0 && !finished) source.resume();
    };
    const onData = (chunk: Buffer): void => {
      total += chunk.length;
      if (keptBytes < keep) {
        const piece = chunk.length > keep - keptBytes ? chunk.subarray(0, keep - keptBytes) : chunk;
        kept.push(piece);
        keptBytes += piece.length;
      }
      for (const output of outputs) {
        if (output.destroyed || output.writableEnded) continue;
        if (!output.write(chunk)) {
          waiting.add(output);
          output.once('drain', () => release(output));
        }
      }
      if (waiting.size > 0) source.pause();
    };
    const closeListeners = outputs.map((output) => {
      const listener = (): void => release(output);
      output.on('close', listener);
      return listener;
    });
    const finish = (): void => {
      if (finished) return;
      finished = true;
      source.off('data', onData);
      source.off('end', finish);
      source.off('error', finish);
      source.off('close', finish);
      signal.removeEventListener('abort', finish);
      outputs.forEach((output, i) => {
        const listener = closeListeners[i];
        if (listener) output.off('close', listener);
        if (!output.destroyed && !output.writableEnded) output.end();
      });
      resolve({ kept: kept.length === 1 && kept[0] ? kept[0] : Buffer.concat(kept), total, truncated: total > keptBytes });
    };

    if (signal.aborted) {
      finish();
      return;
    }
    signal.addEventListener('abort', finish, { once: true });
    source.on('data', onData);
    source.once('end', finish);
    source.once('error', finish);
    source.once('close', finish);
  });
}
