import type { MessageSummary } from '../../gateways/index.ts';
import type { FieldMapping, MailValue } from '../types.ts';

function mailValue(v: MailValue, m: MessageSummary, ctx: { folder: string; account: string }): string {
  switch (v) {
    case 'subject':
      return m.subject;
    case 'from.address':
      return m.from?.address ?? '';
    case 'from.name':
      return m.from?.name ?? '';
    case 'to':
      return m.to.map((p) => p.address).join(', ');
    case 'date':
      return m.date ?? m.receivedAt ?? '';
    case 'messageId':
      // The envelope gives <id>; the archive stores Message-IDs without the brackets.
      return (m.messageId ?? '').replace(/^<(.*)>$/, '$1');
    case 'folder':
      return ctx.folder;
    case 'account':
      return ctx.account;
  }
}

/** The cabinet index fields a rule fills for one message. */
export function mapFields(mapping: FieldMapping, m: MessageSummary, ctx: { folder: string; account: string }): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [field, source] of Object.entries(mapping)) out[field] = 'value' in source ? source.value : mailValue(source.from, m, ctx);
  return out;
}
