export { createArchive, type Archive, type CabinetView, type IngestOutcome, type SearchInput, type VerifyResult } from './service.ts';
export type { IngestItem, IngestResult } from './ingest.ts';
export { discardSpooled, type SpooledRaw } from './spool.ts';
export type { DocumentView, AttachmentView } from './views.ts';
export type { ParsedMessage, ParsedAttachment, Address } from './parse/index.ts';
export type { IndexedMessage } from './prepare.ts';
export { indexTerms, queryTerms } from './search/terms.ts';
