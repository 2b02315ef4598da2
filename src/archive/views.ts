import type { AttachmentRow, DocumentRow } from '../store/index.ts';
import type { Address } from './parse/index.ts';

export interface AttachmentView {
  index: number;
  filename: string;
  contentType: string;
  size: number;
  sha256: string;
  partPath: string;
}

/** A document as the API and CLI show it: index fields, never storage internals. */
export interface DocumentView {
  id: string;
  cabinetId: string;
  messageId: string | null;
  sha256: string;
  size: number;
  subject: string;
  from: Address | null;
  to: Address[];
  cc: Address[];
  date: string | null;
  inReplyTo: string | null;
  references: string[];
  attachmentCount: number;
  attachmentNames: string[];
  source: string;
  archivedAt: string;
  contentDiffers: boolean;
  warnings: string[];
  preview: string;
  /** The cabinet's own index fields, filled by an import rule's mapping. */
  fields: Record<string, string>;
  attachments?: AttachmentView[];
}

export function attachmentView(a: AttachmentRow): AttachmentView {
  return { index: a.idx, filename: a.filename, contentType: a.content_type, size: a.size, sha256: a.sha256, partPath: a.part_path };
}

export function documentView(d: DocumentRow, attachments?: AttachmentRow[]): DocumentView {
  const view: DocumentView = {
    id: d.id,
    cabinetId: d.cabinet_id,
    messageId: d.message_id,
    sha256: d.sha256,
    size: Number(d.size),
    subject: d.subject,
    from: d.from_address || d.from_name ? { name: d.from_name, address: d.from_address } : null,
    to: JSON.parse(d.to_json) as Address[],
    cc: JSON.parse(d.cc_json) as Address[],
    date: d.date,
    inReplyTo: d.in_reply_to,
    references: JSON.parse(d.references_json) as string[],
    attachmentCount: d.attachment_count,
    attachmentNames: d.attachment_names === '' ? [] : (JSON.parse(d.attachment_names) as string[]),
    source: d.source,
    archivedAt: d.archived_at,
    contentDiffers: d.content_differs === 1,
    warnings: JSON.parse(d.warnings_json) as string[],
    preview: d.preview,
    fields: JSON.parse(d.fields_json) as Record<string, string>,
  };
  if (attachments) view.attachments = attachments.map(attachmentView);
  return view;
}
