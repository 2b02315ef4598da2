/**
 * Importing mail from files: readers for .eml files, directories, mbox files and Maildirs
 * (auto-detected by openSource), and the importer that archives what they read in batches.
 */
export { openSource, readSource, type ImportSource, type SourceTotals } from './source.ts';
export { readMbox, looksLikeMbox, type MboxOptions } from './mbox.ts';
export { readMaildir, isMaildir, maildirFolders, countMaildir } from './maildir.ts';
export { readDirectory, walkDirectory, countDirectory, type WalkItem } from './directory.ts';
export { readMessageFile } from './files.ts';
export {
  importMessages,
  emptySummary,
  addToSummary,
  type ImportOptions,
  type ImportProgress,
  type ImportResult,
  type ImportSummary,
  type IngestPort,
} from './importer.ts';
export {
  isSourceFailure,
  DEFAULT_IN_MEMORY_LIMIT,
  type SourceEntry,
  type SourceMessage,
  type SourceFailure,
  type SourceKind,
  type ReaderOptions,
} from './types.ts';
