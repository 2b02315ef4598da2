export { FsBlobStore, type BlobLocation } from './fs-blob-store.ts';
export type { ReindexProblem, ReindexProgress, ReindexResult } from './pack-reindex.ts';
export type { BlobStore, BlobBatch, BlobRef } from './types.ts';
