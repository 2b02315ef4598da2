/**
 * In-process CPU profile of one phase of the IMAP benchmark (the main thread only), summarised by
 * component: each sample's time goes to the component of the innermost frame whose source file
 * belongs to one (native frames such as a hash update count for the JavaScript that called them).
 */
import { writeFile } from 'node:fs/promises';
import { Session, type Profiler } from 'node:inspector/promises';

/** First match wins; tested against the frame's script URL. */
const COMPONENTS: Array<[string, RegExp]> = [
  ['IMAP client (imapflow)', /node_modules\/imapflow\//],
  ['IMAP gateway (src/gateways/imap)', /\/src\/gateways\//],
  ['sync engine (src/connect)', /\/src\/connect\//],
  ['MIME parsing (src/archive/parse, mailsplit, libmime, iconv, html-to-text)', /\/src\/archive\/parse\/|node_modules\/(@zone-eu\/mailsplit|mailparser|libmime|libqp|libbase64|iconv-lite|encoding-japanese|html-to-text|htmlparser2|domhandler|domutils|dom-serializer|entities|selderee|parseley|@selderee|nodemailer)\//],
  ['full-text terms (src/archive/search)', /\/src\/archive\/search\//],
  ['ingest (src/archive/ingest.ts, service.ts)', /\/src\/archive\//],
  ['blob store (src/store/blobs)', /\/src\/store\/blobs\//],
  ['SQL (src/store, kysely, better-sqlite3)', /\/src\/store\/|node_modules\/(kysely|better-sqlite3)\//],
  ['Node streams, fs, net (node:internal)', /^node:/],
];

export interface ProfileSummary {
  totalMs: number;
  components: Array<{ name: string; ms: number; share: number }>;
}

export class PhaseProfiler {
  private readonly session = new Session();

  async start(): Promise<void> {
    this.session.connect();
    await this.session.post('Profiler.enable');
    await this.session.post('Profiler.setSamplingInterval', { interval: 500 });
    await this.session.post('Profiler.start');
  }

  async stop(file: string | null): Promise<ProfileSummary> {
    const { profile } = await this.session.post('Profiler.stop');
    await this.session.post('Profiler.disable');
    this.session.disconnect();
    if (file) await writeFile(file, JSON.stringify(profile));
    return summarise(profile);
  }
}

function componentOf(node: Profiler.ProfileNode): string | null {
  const fn = node.callFrame.functionName;
  if (fn === '(garbage collector)') return 'garbage collection';
  if (fn === '(idle)') return 'idle (waiting for Dovecot, disk, thread pool)';
  if (fn === '(program)') return 'V8/native, unattributed';
  const url = node.callFrame.url;
  if (!url) return null;
  for (const [name, re] of COMPONENTS) if (re.test(url)) return name;
  return 'other JavaScript';
}

export function summarise(profile: Profiler.Profile): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) selfUs.set(samples[i]!, (selfUs.get(samples[i]!) ?? 0) + (deltas[i] ?? 0));
  const totals = new Map<string, number>();
  const root = profile.nodes[0];
  if (!root) return { totalMs: 0, components: [] };
  const stack: Array<[Profiler.ProfileNode, string]> = [[root, 'V8/native, unattributed']];
  while (stack.length > 0) {
    const [node, inherited] = stack.pop()!;
    const component = componentOf(node) ?? inherited;
    const us = selfUs.get(node.id) ?? 0;
    if (us > 0) totals.set(component, (totals.get(component) ?? 0) + us);
    for (const child of node.children ?? []) {
      const c = byId.get(child);
      if (c) stack.push([c, component]);
    }
  }
  const totalUs = [...totals.values()].reduce((a, b) => a + b, 0);
  return {
    totalMs: totalUs / 1000,
    components: [...totals]
      .sort((a, b) => b[1] - a[1])
      .map(([name, us]) => ({ name, ms: us / 1000, share: totalUs > 0 ? us / totalUs : 0 })),
  };
}
