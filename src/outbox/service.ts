import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { AppError } from '../errors/index.ts';
import type { Address, ComposeAttachment } from '../mime/index.ts';
import type { OutboxEventRow, OutboxRow, OutboxStatus, OutboxSummaryRow } from '../store/index.ts';
import { createComponents, parseComponent, requireSmtp, serviceSender } from './components.ts';
import { RETRY_WINDOW_MS } from './retry.ts';
import { createSenderPool } from './senders.ts';
import {
  OUTBOX_STATUSES,
  type AddressInput,
  type DeliveryOutcome,
  type EnqueueInput,
  type OutboxDeps,
  type OutboxEventView,
  type OutboxMessageDetail,
  type OutboxMessageView,
  type OutboxOptions,
  type QueuedMessage,
  type ResolvedSender,
  type SendAttachment,
  type SendRequest,
} from './types.ts';
import { createWorker, type OutboxWorker } from './worker.ts';

// The SMTP gateway and the MIME composer (nodemailer) load on first use, not with the app: CLI
// commands that never send do not pay for them.
const smtpGateway = () => import('../gateways/smtp/index.ts');
const mime = () => import('../mime/index.ts');

/** Largest composed message the outbox takes (it is stored in the outbox row). */
export const MAX_MESSAGE_BYTES = 50 * 1024 * 1024;

const iso = (ms: number): string => new Date(ms).toISOString();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `a@example.com`, `Name <a@example.com>` or `{name, address}` → `{name?, address}`. */
export function toAddress(input: AddressInput): Address {
  if (typeof input !== 'string') return input;
  const m = /^\s*(.*?)\s*<([^<>\s]+)>\s*$/s.exec(input);
  if (!m) return { address: input.trim() };
  const name = m[1]!.replace(/^"(.*)"$/s, '$1').replace(/\\(.)/g, '$1').trim();
  return name === '' ? { address: m[2]! } : { name, address: m[2]! };
}

function toAddresses(list: AddressInput[] | undefined): Address[] | undefined {
  return list === undefined ? undefined : list.map(toAddress);
}

async function readAll(stream: Readable, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    size += b.length;
    if (size > limit) {
      stream.destroy();
      throw new AppError('VALIDATION_FAILED', `${what} is larger than a message may be (${MAX_MESSAGE_BYTES} bytes).`, { details: { field: 'attachments' } });
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}

/** A file name made from a subject: no path separators or control characters, not too long. */
export function fileNameFromSubject(subject: string): string {
  const cleaned = subject
    .replace(/[\u0000-\u001f\u007f-\u009f/\\:*?"<>|]+/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  const chars = [...cleaned];
  const base = chars.length > 100 ? chars.slice(0, 100).join('').trim() : cleaned;
  return `${base || 'message'}.eml`;
}

const CONTENT_TYPE = /^[\w!#$&^.+-]+\/[\w!#$&^.+-]+$/;
const BASE64 = /^[A-Za-z0-9+/\s]*={0,2}\s*$/;

function summaryView(r: OutboxSummaryRow): OutboxMessageView {
  const due = r.status === 'queued' || r.status === 'deferred';
  return {
    id: r.id,
    status: r.status,
    reply: r.last_reply,
    code: r.last_code,
    attempts: r.attempts,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    sentAt: r.sent_at,
    queueId: r.queue_id,
    nextAttemptAt: due ? r.next_attempt_at : null,
    giveUpAt: r.give_up_at,
    component: r.component,
    serviceId: r.service_id,
    messageId: r.message_id,
    subject: r.subject,
    from: r.envelope_from,
    to: JSON.parse(r.envelope_to_json) as string[],
    size: Number(r.size),
    createdBy: r.created_by,
  };
}

function eventView(e: OutboxEventRow): OutboxEventView {
  return { at: e.at, type: e.type, attempt: e.attempt, reply: e.reply, code: e.code, message: e.message };
}

const FINAL_OR_WAITING: ReadonlySet<OutboxStatus> = new Set(['sent', 'failed', 'cancelled', 'deferred']);

/**
 * The outbox: components, enqueue (compose once, persist before the first attempt), the worker,
 * and the views the API and CLI show. See docs/decisions/0004-outbox-delivery-guarantee.md.
 */
export function createOutbox(deps: OutboxDeps, options: OutboxOptions = {}) {
  const { store, config } = deps;
  const now = options.now ?? Date.now;
  const concurrency = Math.max(1, Math.floor(options.concurrency ?? config.outbox.concurrency));
  const components = createComponents(store, deps.services, config);
  const senders = createSenderPool({
    services: deps.services,
    config,
    log: deps.log,
    openSender: deps.openSender ?? (async (settings, opts) => (await smtpGateway()).createSmtpSender(settings, opts)),
    concurrency,
    now,
  });
  const worker: OutboxWorker = createWorker(
    { repo: store.outbox, senders, log: deps.log, classifier: async () => (await smtpGateway()).classifySmtpError },
    {
      ...(options.workerId === undefined ? {} : { id: options.workerId }),
      concurrency,
      leaseMs: options.leaseMs ?? config.outbox.leaseSeconds * 1000,
      pollMs: options.pollMs ?? 1000,
      claimBatch: Math.max(concurrency, options.claimBatch ?? concurrency * 4),
      now,
      random: options.random ?? Math.random,
    },
  );

  async function senderFor(input: { orgId: string; component: EnqueueInput['component']; serviceId?: string | undefined }): Promise<ResolvedSender> {
    if (input.serviceId !== undefined) return serviceSender(await deps.services.byId(input.orgId, input.serviceId));
    if (input.component === 'test') throw new AppError('VALIDATION_FAILED', 'A test message needs the service to send it through.');
    return components.resolveSender(input.orgId, input.component);
  }

  async function byId(orgId: string, id: string): Promise<OutboxSummaryRow> {
    const r = await store.outbox.byId(orgId, id);
    if (!r) throw new AppError('OUTBOX_MESSAGE_NOT_FOUND', `No outgoing message with id ${id} in this organisation; list them with: mailroom outbox list`);
    return r;
  }

  /**
   * Composes the message once and persists its bytes, envelope and a `queued` event in one
   * transaction, before any attempt to send it. Returns once that is durable.
   */
  async function enqueue(input: EnqueueInput): Promise<QueuedMessage> {
    const sender = await senderFor(input);
    const headers = { ...input.headers };
    // RFC 3834: machine-generated notifications ask for no auto-replies.
    if (input.component === 'notifications' && !Object.keys(headers).some((h) => h.toLowerCase() === 'auto-submitted')) headers['Auto-Submitted'] = 'auto-generated';
    const { composeMessage } = await mime();
    const composed = await composeMessage({
      from: input.from === undefined ? sender.from : toAddress(input.from),
      to: toAddresses(input.to) ?? [],
      ...(input.cc ? { cc: toAddresses(input.cc)! } : {}),
      ...(input.bcc ? { bcc: toAddresses(input.bcc)! } : {}),
      ...(input.replyTo ? { replyTo: toAddress(input.replyTo) } : {}),
      subject: input.subject,
      ...(input.text !== undefined ? { text: input.text } : {}),
      ...(input.html !== undefined ? { html: input.html } : {}),
      ...(input.attachments ? { attachments: input.attachments } : {}),
      headers,
    });
    if (composed.raw.length > MAX_MESSAGE_BYTES) {
      throw new AppError('VALIDATION_FAILED', `The message is ${composed.raw.length} bytes; the outbox takes at most ${MAX_MESSAGE_BYTES}. Attach less.`, { details: { size: composed.raw.length } });
    }
    const t = now();
    const at = iso(t);
    const id = randomUUID();
    const row: OutboxRow = {
      id,
      org_id: input.orgId,
      component: input.component,
      service_id: sender.serviceId,
      created_by: input.createdBy ?? null,
      message_id: composed.messageId,
      subject: input.subject,
      envelope_from: composed.envelope.from,
      envelope_to_json: JSON.stringify(composed.envelope.to),
      raw: composed.raw,
      size: composed.raw.length,
      needs_smtputf8: composed.needsSmtpUtf8 ? 1 : 0,
      status: 'queued',
      attempts: 0,
      next_attempt_at: at,
      give_up_at: iso(t + RETRY_WINDOW_MS),
      claimed_by: null,
      claim_expires_at: null,
      last_reply: null,
      last_code: null,
      queue_id: null,
      created_at: at,
      updated_at: at,
      sent_at: null,
    };
    const message = `queued for ${input.component} mail via ${sender.source === 'system' ? 'the system default SMTP' : `"${sender.serviceName}"`}: ${composed.envelope.to.length} recipient(s), ${composed.raw.length} bytes${composed.needsSmtpUtf8 ? ', needs SMTPUTF8' : ''}`;
    await store.outbox.insert(row, { at, type: 'queued', attempt: null, reply: null, code: null, message, worker: null });
    worker.wake();
    return { id, messageId: composed.messageId };
  }

  /** Workflow mail attachments: archived documents are read through the archive, scoped to the organisation. */
  async function resolveAttachments(orgId: string, list: SendAttachment[] | undefined): Promise<ComposeAttachment[]> {
    const out: ComposeAttachment[] = [];
    for (const [i, a] of (list ?? []).entries()) {
      if ('documentId' in a) {
        const archive = deps.archive;
        if (!archive) throw new AppError('INTERNAL', 'The outbox was built without the archive; attaching documents is not possible.');
        if (a.index === undefined) {
          const { stream, document } = await archive.openRaw(orgId, a.documentId);
          out.push({ filename: fileNameFromSubject(document.subject), contentType: 'message/rfc822', content: await readAll(stream, MAX_MESSAGE_BYTES, `Document ${a.documentId}`) });
        } else {
          const att = await archive.openAttachment(orgId, a.documentId, a.index);
          const type = (att.contentType.split(';')[0] ?? '').trim().toLowerCase();
          out.push({
            filename: att.filename.trim() === '' ? `attachment-${a.index}` : att.filename,
            contentType: CONTENT_TYPE.test(type) ? type : 'application/octet-stream',
            content: await readAll(att.stream, MAX_MESSAGE_BYTES, `Attachment ${a.index} of document ${a.documentId}`),
          });
        }
      } else {
        if (!BASE64.test(a.contentBase64)) {
          throw new AppError('VALIDATION_FAILED', `Attachment ${i + 1} ("${a.filename}"): contentBase64 is not base64.`, { details: { field: `attachments[${i}].contentBase64` } });
        }
        out.push({ filename: a.filename, ...(a.contentType ? { contentType: a.contentType } : {}), content: Buffer.from(a.contentBase64, 'base64') });
      }
    }
    return out;
  }

  async function outcome(orgId: string, id: string): Promise<DeliveryOutcome> {
    const r = await byId(orgId, id);
    return { id: r.id, status: r.status, reply: r.last_reply };
  }

  /**
   * Waits until the message is sent, failed, cancelled or deferred. Without a background worker
   * in this process (the CLI), it sends the message itself: this message only.
   */
  async function waitFor(orgId: string, id: string, opts: { timeoutMs?: number } = {}): Promise<DeliveryOutcome> {
    const deadline = now() + (opts.timeoutMs ?? 5 * 60_000);
    for (;;) {
      const o = await outcome(orgId, id);
      if (FINAL_OR_WAITING.has(o.status) || now() >= deadline) return o;
      if (worker.running) {
        worker.wake();
        await sleep(100);
      } else {
        await worker.drain({ ids: [id] });
        const after = await outcome(orgId, id);
        // Still queued or sending: another process holds it, or it is not due yet.
        if (!FINAL_OR_WAITING.has(after.status)) await sleep(200);
      }
    }
  }

  return {
    components: {
      list: (orgId: string) => components.list(orgId),
      set: async (orgId: string, component: string, serviceName: string, opts: { enabled?: boolean } = {}) =>
        components.set(orgId, parseComponent(component), serviceName, opts.enabled ?? true),
    },

    /** The service (or the system default) that sends a component's mail; SMTP_NOT_CONFIGURED otherwise. */
    resolveSender: async (orgId: string, component: string) => components.resolveSender(orgId, parseComponent(component)),

    enqueue,

    /** Workflow mail (POST /api/send, mailroom send): the org's workflows component, or a named service. */
    async send(orgId: string, request: SendRequest, by: { userId?: string | null } = {}): Promise<QueuedMessage> {
      const attachments = [...(await resolveAttachments(orgId, request.attachments)), ...(request.files ?? [])];
      let serviceId: string | undefined;
      if (request.service !== undefined) serviceId = requireSmtp(await deps.services.byName(orgId, request.service)).id;
      return enqueue({
        orgId,
        component: 'workflows',
        ...(serviceId === undefined ? {} : { serviceId }),
        ...(request.from === undefined ? {} : { from: request.from }),
        to: request.to,
        ...(request.cc ? { cc: request.cc } : {}),
        ...(request.bcc ? { bcc: request.bcc } : {}),
        subject: request.subject,
        ...(request.text !== undefined ? { text: request.text } : {}),
        ...(request.html !== undefined ? { html: request.html } : {}),
        attachments,
        createdBy: by.userId ?? null,
      });
    },

    async get(orgId: string, id: string): Promise<OutboxMessageDetail> {
      const r = await byId(orgId, id);
      return { ...summaryView(r), events: (await store.outbox.events(r.id)).map(eventView) };
    },

    async list(orgId: string, opts: { status?: string | undefined; limit?: number; offset?: number } = {}): Promise<OutboxMessageView[]> {
      const status = opts.status === undefined ? undefined : OUTBOX_STATUSES.find((s) => s === opts.status);
      if (opts.status !== undefined && status === undefined) {
        throw new AppError('VALIDATION_FAILED', `Unknown status "${opts.status}": choose one of ${OUTBOX_STATUSES.join(', ')}.`, { details: { field: 'status' } });
      }
      const rows = await store.outbox.list(orgId, { status, limit: Math.min(Math.max(opts.limit ?? 100, 1), 1000), offset: Math.max(opts.offset ?? 0, 0) });
      return rows.map(summaryView);
    },

    counts: (orgId?: string) => store.outbox.counts(orgId),

    /** Queued and deferred messages only; a message being sent or done cannot be called back. */
    async cancel(orgId: string, id: string, by: { email?: string } = {}): Promise<OutboxMessageDetail> {
      const r = await byId(orgId, id);
      if (!(await store.outbox.cancel(orgId, id, iso(now()), by.email ?? null))) {
        const current = (await store.outbox.byId(orgId, id))?.status ?? r.status;
        throw new AppError('OUTBOX_STATE_CONFLICT', `Message ${id} is ${current}; only queued or deferred messages can be cancelled.`, { details: { status: current } });
      }
      return this.get(orgId, id);
    },

    /** Queued, deferred or failed → due now (a failed message gets another 24 h of retries). */
    async retry(orgId: string, id: string, by: { email?: string } = {}): Promise<OutboxMessageDetail> {
      const r = await byId(orgId, id);
      const t = now();
      if (!(await store.outbox.retryNow(orgId, id, iso(t), iso(t + RETRY_WINDOW_MS), by.email ?? null))) {
        const current = (await store.outbox.byId(orgId, id))?.status ?? r.status;
        throw new AppError('OUTBOX_STATE_CONFLICT', `Message ${id} is ${current}; only queued, deferred or failed messages can be retried.`, { details: { status: current } });
      }
      worker.wake();
      return this.get(orgId, id);
    },

    waitFor,

    /** Sends a test message through the named SMTP service, via the outbox, and reports the server's reply. */
    async sendTest(orgId: string, serviceName: string, to: string): Promise<DeliveryOutcome> {
      const service = requireSmtp(await deps.services.byName(orgId, serviceName));
      const { id } = await enqueue({
        orgId,
        component: 'test',
        serviceId: service.id,
        to: [to],
        subject: `Mailroom test message via "${service.name}"`,
        text: `This is a test message sent by Mailroom through the SMTP service "${service.name}" (${service.host}:${service.port}) at ${iso(now())}.\n\nIf you can read it, sending through this service works.\n`,
      });
      return waitFor(orgId, id);
    },

    worker,

    /** Stops the worker (letting sends in flight finish and be recorded) and closes every SMTP connection. */
    async close(): Promise<void> {
      try {
        await worker.stop();
      } finally {
        await senders.close();
      }
    },
  };
}

export type Outbox = ReturnType<typeof createOutbox>;
