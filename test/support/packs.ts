import assert from 'node:assert/strict';

/** The records of a pack file, read by its documented format (src/store/blobs/pack-writer.ts). */
export function packRecords(pack: Buffer): Array<{ sha256: string; size: number; start: number }> {
  assert.equal(pack.subarray(0, 16).toString('latin1'), 'MAILROOM-PACK 1\n');
  const out = [];
  let at = 16;
  while (at < pack.length) {
    assert.equal(pack.subarray(at, at + 4).toString('latin1'), 'BLOB');
    const size = Number(pack.readBigUInt64BE(at + 36));
    out.push({ sha256: pack.subarray(at + 4, at + 36).toString('hex'), size, start: at + 44 });
    at += 44 + size;
  }
  assert.equal(at, pack.length, 'the last record ends where the file does');
  return out;
}
