/**
 * The parse worker's thread (see parse-pool.ts): parses raw messages (from the shared ring, a
 * transferred buffer or a file) and computes their index terms, one message at a time, in
 * arrival order. Attachments are only digested here (the archive keeps the original message,
 * docs/decisions/0007), so nothing but the result goes back.
 */
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { parentPort, workerData } from 'node:worker_threads';
import { parseMessage } from './parse/index.ts';
import type { WorkerData, WorkerReply, WorkerRequest } from './parse-pool.ts';
import { prepared } from './prepare.ts';

const port = parentPort;
if (port === null) throw new Error('parse-worker.ts runs as a worker thread only');

const ring = Buffer.from((workerData as WorkerData).ring);
/** One message at a time is parsed from here (a private copy: the parse never sees the shared ring). */
let scratch = Buffer.allocUnsafeSlow(64 * 1024);

function rawOf(req: WorkerRequest): Buffer | Readable {
  // Streamed from disk, so a large message is never whole in this thread's memory either. In
  // 1 MiB chunks: Node makes a latin1 string of 1,031,913 bytes or more outside V8's heap, so
  // the base64 scan's text of each chunk (base64.ts) no longer fills the young generation
  // (docs/benchmarks.md, "Sixth round").
  if ('file' in req) return createReadStream(req.file, { highWaterMark: 1024 * 1024 });
  if ('raw' in req) return Buffer.from(req.raw.buffer, req.raw.byteOffset, req.raw.byteLength);
  if (scratch.length < req.length) scratch = Buffer.allocUnsafeSlow(Math.max(req.length, scratch.length * 2));
  ring.copy(scratch, 0, req.at, req.at + req.length);
  return scratch.subarray(0, req.length);
}

async function handle(req: WorkerRequest): Promise<void> {
  // Nothing of the parse result refers to these bytes (text is decoded into strings).
  const raw = rawOf(req);
  let reply: WorkerReply;
  try {
    const p = prepared(await parseMessage(raw));
    reply = { id: req.id, ok: true, ...p };
  } catch (err) {
    reply = { id: req.id, ok: false, message: err instanceof Error ? (err.stack ?? err.message) : String(err) };
  } finally {
    // A parse that failed may not have read its file to the end: close it.
    if (!Buffer.isBuffer(raw)) raw.destroy();
  }
  port!.postMessage(reply);
}

let queue = Promise.resolve();
port.on('message', (req: WorkerRequest) => {
  queue = queue.then(() => handle(req));
});
