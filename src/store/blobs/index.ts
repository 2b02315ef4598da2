export { FsBlobStore } from './fs-blob-store.ts';
export type { BlobStore, BlobBatch, BlobRef } from './types.ts';
