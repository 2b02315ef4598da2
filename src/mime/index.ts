/**
 * Message composition for outgoing mail (the room's one door). Parsing of incoming mail lives in
 * `archive/parse`.
 */
export { composeMessage, type Address, type ComposeAttachment, type ComposeInput, type ComposedMessage } from './compose.ts';
export { normalizeAddress, toAsciiDomain, type NormalizedAddress } from './address.ts';
