import type { FetchMessageObject, FetchQueryObject, MessageAddressObject, MessageStructureObject } from 'imapflow';
import { FULL_DETAIL, type MessageRef, type MessageSummary, type SummaryDetail } from '../ports.ts';

/**
 * What a message summary is made of: one FETCH item list (RFC 3501 §6.4.5) of FLAGS,
 * INTERNALDATE and RFC822.SIZE, with ENVELOPE and BODYSTRUCTURE when asked for. Nothing of the
 * body is downloaded for it.
 */
export function summaryQuery(detail: Readonly<SummaryDetail> = FULL_DETAIL): FetchQueryObject {
  return { uid: true, flags: true, internalDate: true, size: true, envelope: detail.envelope, bodyStructure: detail.structure };
}

export const SUMMARY_QUERY: FetchQueryObject = summaryQuery(FULL_DETAIL);

function iso(value: Date | string | undefined): string | null {
  if (value === undefined) return null;
  const d = value instanceof Date ? value : new Date(value);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

function address(a: MessageAddressObject): { name: string; address: string } {
  return { name: a.name ?? '', address: a.address ?? '' };
}

/**
 * A part counts as an attachment when its disposition says so or it carries a file name
 * (Content-Disposition filename, or the older Content-Type name parameter many mailers still
 * send instead, RFC 2183 §2.3). Multipart containers themselves never count.
 */
export function hasAttachment(node: MessageStructureObject | undefined): boolean {
  if (!node) return false;
  // A message/rfc822 part has children too (the enclosed message), but is itself an
  // attachment when its disposition says so: look at the node before descending.
  if (!node.type.toLowerCase().startsWith('multipart/')) {
    if (node.disposition?.toLowerCase() === 'attachment') return true;
    if (node.dispositionParameters?.['filename'] || node.parameters?.['name']) return true;
  }
  return (node.childNodes ?? []).some(hasAttachment);
}

/** File names and MIME types of the attachment parts, for rules that filter by file type. */
export function attachmentParts(node: MessageStructureObject | undefined, out: { names: string[]; types: string[] } = { names: [], types: [] }): { names: string[]; types: string[] } {
  if (!node) return out;
  if (!node.type.toLowerCase().startsWith('multipart/')) {
    const name = node.dispositionParameters?.['filename'] ?? node.parameters?.['name'];
    if (node.disposition?.toLowerCase() === 'attachment' || name) {
      out.names.push(name ?? '');
      out.types.push(node.type.toLowerCase());
    }
  }
  for (const child of node.childNodes ?? []) attachmentParts(child, out);
  return out;
}

export function toSummary(msg: FetchMessageObject, folder: string, epoch: string, detail: Readonly<SummaryDetail> = FULL_DETAIL): MessageSummary {
  const env = msg.envelope;
  const flags = msg.flags ?? new Set<string>();
  const first = env?.from?.[0];
  const ref: MessageRef = { folder, epoch, key: String(msg.uid) };
  const parts = attachmentParts(msg.bodyStructure);
  return {
    ref,
    detail,
    size: msg.size ?? 0,
    seen: flags.has('\\Seen'),
    flagged: flags.has('\\Flagged'),
    receivedAt: iso(msg.internalDate),
    date: iso(env?.date),
    subject: env?.subject ?? '',
    from: first ? address(first) : null,
    to: (env?.to ?? []).map(address),
    messageId: env?.messageId ?? null,
    hasAttachments: hasAttachment(msg.bodyStructure),
    attachmentNames: parts.names,
    attachmentTypes: parts.types,
  };
}
