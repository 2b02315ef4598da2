import type { SummaryDetail } from '../../gateways/index.ts';
import type { FieldMapping, MailValue, RuleFilters } from '../types.ts';

/** The mail values of a field mapping that come from the envelope (folder and account are the sync's own). */
const ENVELOPE_VALUES: ReadonlySet<MailValue> = new Set<MailValue>(['subject', 'from.address', 'from.name', 'to', 'date', 'messageId']);

/**
 * What a rule reads from the summaries changes() lists: the envelope for its text filters and
 * for envelope values in its field mapping, the structure for its attachment filters. The age
 * and unread filters read the received time (IMAP INTERNALDATE) and the flags, which every
 * summary has. The ledger's subject of an archived message comes from the archive's own parse.
 */
export function summaryDetailFor(filters: RuleFilters, mapping: FieldMapping): SummaryDetail {
  const envelope = Boolean(filters.from || filters.to || filters.subject) || Object.values(mapping).some((m) => 'from' in m && ENVELOPE_VALUES.has(m.from));
  const structure = Boolean(filters.hasAttachment || (filters.attachmentTypes && filters.attachmentTypes.length > 0));
  return { envelope, structure };
}
