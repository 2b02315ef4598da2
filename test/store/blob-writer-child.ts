/**
 * Child process of blob-batch.test.ts: commits batches of random blobs (mostly small, some above
 * 1 MiB) to the store at argv[2] until it is killed, printing each batch's SHA-256s as one JSON
 * line once commit() returned.
 */
import { createHash, randomBytes } from 'node:crypto';
import { FsBlobStore } from '../../src/store/index.ts';

const store = new FsBlobStore(process.argv[2]!);
for (let n = 0; ; n++) {
  const batch = store.batch();
  const shas: string[] = [];
  for (let i = 0; i < 20; i++) {
    const content = randomBytes(i === 0 && n % 5 === 0 ? 1024 * 1024 + 100 : 200 + ((n * 20 + i) % 50) * 300);
    shas.push(createHash('sha256').update(content).digest('hex'));
    await batch.put(content);
  }
  await batch.commit();
  await new Promise<void>((resolve) => process.stdout.write(`${JSON.stringify(shas)}\n`, () => resolve()));
}
