/**
 * Workflow mail from a template an administrator wrote: a subject and a plain-text body with
 * `{{variable}}` placeholders. Values are inserted as they are into the text part and escaped
 * once in the HTML part (the body is text, so the whole of it is escaped there, never twice).
 */
import { AppError } from '../../errors/index.ts';
import { oneLine, plain } from './escape.ts';
import { languageOf } from './i18n.ts';
import { htmlDocument, paragraphs } from './layout.ts';
import type { RenderedMail } from './types.ts';

export interface WorkflowMessageInput {
  language: string;
  subject: string;
  body: string;
  variables?: Record<string, string | number>;
}

const PLACEHOLDER = /\{\{\s*([A-Za-z_][\w.-]*)\s*\}\}/g;

/** The placeholders a template uses, in order of first use. */
export function placeholders(template: string): string[] {
  const out: string[] = [];
  for (const m of template.matchAll(PLACEHOLDER)) if (!out.includes(m[1]!)) out.push(m[1]!);
  return out;
}

function fill(template: string, variables: Record<string, string | number>): string {
  return template.replace(PLACEHOLDER, (_all, name: string) => String(variables[name]));
}

export function renderWorkflowMessage(input: WorkflowMessageInput): RenderedMail {
  const language = languageOf(input.language);
  const variables = input.variables ?? {};
  const missing = placeholders(`${input.subject}\n${input.body}`).filter((n) => !Object.hasOwn(variables, n));
  if (missing.length > 0) {
    throw new AppError('VALIDATION_FAILED', `The template uses ${missing.map((n) => `{{${n}}}`).join(', ')} but no value was given for ${missing.length === 1 ? 'it' : 'them'}.`, {
      details: { field: 'variables', missing },
    });
  }
  const subject = oneLine(fill(input.subject, variables));
  const text = plain(fill(input.body, variables));
  return { subject, text: text.endsWith('\n') ? text : `${text}\n`, html: htmlDocument({ language, title: subject, body: paragraphs(text) }) };
}
