/**
 * ingestBatch writes raw messages to the blob store a few messages ahead of the parse (an import
 * performance change). A failed write must still abort the batch only after every write that was
 * started has finished, so abort() leaves no file behind.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { ingestBatch } from '../../src/archive/ingest.ts';
import type { BlobBatch, BlobRef, BlobStore, Store } from '../../src/store/index.ts';

function message(n: number, marker = ''): Buffer {
  return Buffer.from(`From: a@example.test\r\nSubject: m${n}${marker}\r\nMessage-ID: <m${n}@x>\r\n\r\nbody ${n}\r\n`);
}

/** A blob store whose writes take a little while and fail for content containing "FAIL". */
function slowBlobs(log: string[]): BlobStore {
  let inFlight = 0;
  const batch = (): BlobBatch => ({
    async put(content: Readable | Buffer): Promise<BlobRef> {
      const bytes = Buffer.isBuffer(content) ? content : Buffer.concat(await content.toArray());
      inFlight++;
      log.push(`put start (${inFlight} in flight)`);
      await new Promise((r) => setTimeout(r, 5));
      inFlight--;
      if (bytes.includes('FAIL')) {
        log.push('put failed');
        throw new Error('disk full');
      }
      log.push('put done');
      return { sha256: String(bytes.length).padStart(64, '0'), size: bytes.length };
    },
    read: () => Readable.from([]),
    fileOf: () => null,
    async commit() {
      log.push('commit');
    },
    async abort() {
      log.push(`abort (${inFlight} in flight)`);
    },
  });
  return {
    batch,
    put: () => Promise.reject(new Error('unused')),
    get: () => Readable.from([]),
    has: async () => false,
    verify: async () => ({ ok: true, actual: null, size: 0 }),
  };
}

test('raw writes run ahead of the parse, and a failed write aborts only after all writes settled', async () => {
  const log: string[] = [];
  const items = [1, 2, 3, 4, 5, 6].map((n) => ({ raw: message(n, n === 3 ? ' FAIL' : ''), source: `t${n}` }));
  const store = { documents: { insertMany: () => Promise.reject(new Error('not reached')) } } as unknown as Store;
  await assert.rejects(ingestBatch(store, slowBlobs(log), 'org', 'cab', items), /disk full/);
  assert.ok(log.some((l) => /\(([2-9]) in flight\)/.test(l)), `several writes overlapped: ${log.join(', ')}`);
  assert.equal(log.at(-1), 'abort (0 in flight)');
  assert.ok(!log.includes('commit'));
});
