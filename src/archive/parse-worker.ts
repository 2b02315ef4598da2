/**
 * The parse worker's thread (see parse-pool.ts): parses raw messages and computes their index
 * terms, one message at a time, in arrival order. Attachment bytes are kept in memory and sent
 * back with the result for the main thread to store; a message whose attachments would hold
 * more than MAX_HELD_BYTES is declined, and the main thread parses it itself, streaming.
 */
import { createHash } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { parseMessage, type AttachmentSink } from './parse/index.ts';
import type { WorkerData, WorkerReply, WorkerRequest } from './parse-pool.ts';
import { prepared } from './prepare.ts';

/** Attachment bytes one message may hold in memory here (nested messages count each level). */
const MAX_HELD_BYTES = 16 * 1024 * 1024;

class TooLarge extends Error {}

const port = parentPort;
if (port === null) throw new Error('parse-worker.ts runs as a worker thread only');

const ring = Buffer.from((workerData as WorkerData).ring);
/** One message at a time is parsed from here (a private copy: the parse never sees the shared ring). */
let scratch = Buffer.allocUnsafeSlow(64 * 1024);

function rawOf(req: WorkerRequest): Buffer {
  if ('raw' in req) return Buffer.from(req.raw.buffer, req.raw.byteOffset, req.raw.byteLength);
  if (scratch.length < req.length) scratch = Buffer.allocUnsafeSlow(Math.max(req.length, scratch.length * 2));
  ring.copy(scratch, 0, req.at, req.at + req.length);
  return scratch.subarray(0, req.length);
}

async function handle(req: WorkerRequest): Promise<void> {
  // Nothing of the parse result refers to these bytes (attachments are copied, text decoded).
  const raw = rawOf(req);
  const blobs: Uint8Array[] = [];
  let held = 0;
  const sink: AttachmentSink = async (content) => {
    const hash = createHash('sha256');
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of content) {
      const buf = chunk as Buffer;
      hash.update(buf);
      chunks.push(buf);
      size += buf.length;
      held += buf.length;
      if (held > MAX_HELD_BYTES) throw new TooLarge();
    }
    // A buffer of its own (not a slice of a shared pool), so that it can be transferred.
    const bytes = new Uint8Array(size);
    let offset = 0;
    for (const c of chunks) {
      bytes.set(c, offset);
      offset += c.length;
    }
    blobs.push(bytes);
    return { sha256: hash.digest('hex'), size };
  };
  let reply: WorkerReply;
  try {
    const p = prepared(await parseMessage(raw, sink));
    reply = { id: req.id, ok: true, parsed: p.parsed, terms: p.terms, blobs };
  } catch (err) {
    reply =
      err instanceof TooLarge
        ? { id: req.id, ok: false, tooLarge: true }
        : { id: req.id, ok: false, tooLarge: false, message: err instanceof Error ? (err.stack ?? err.message) : String(err) };
  }
  port!.postMessage(reply, reply.ok ? blobs.map((b) => b.buffer as ArrayBuffer) : []);
}

let queue = Promise.resolve();
port.on('message', (req: WorkerRequest) => {
  queue = queue.then(() => handle(req));
});
