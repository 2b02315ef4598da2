/**
 * Mail templates (the templates room's one door): every template renders `{subject, text, html}`
 * in the recipient's language (German or English), variables escaped in the HTML part only,
 * links absolute from MAILROOM_PUBLIC_URL. Hand-written functions, no template engine.
 */
export type { RenderedMail } from './types.ts';
export { LANGUAGES, formatDate, languageOf, type Language } from './i18n.ts';
export { absoluteUrl, escapeHtml, oneLine, shorten } from './escape.ts';
export { renderPasswordReset, resetLink, type PasswordResetMailInput } from './password-reset.ts';
export {
  documentUrl,
  renderDocumentArchived,
  renderDocumentDigest,
  subscriptionsUrl,
  type ArchivedDocumentInfo,
  type DocumentArchivedInput,
  type DocumentDigestInput,
} from './document-archived.ts';
export { placeholders, renderWorkflowMessage, type WorkflowMessageInput } from './workflow-message.ts';
export { problemTitle, renderAdminAlert, type AdminAlertInput } from './admin-alert.ts';
