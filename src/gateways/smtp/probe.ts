import type { ConnectionSettings } from '../ports.ts';
import { createSmtpSender } from './sender.ts';

/** Connects, negotiates TLS, logs in and reports what the server offers; sends nothing. */
export async function probeSmtp(settings: ConnectionSettings): Promise<{ ok: true; capabilities: string[]; tlsFingerprint256: string | null }> {
  const sender = createSmtpSender(settings, { pool: false });
  try {
    const caps = await sender.verify();
    const capabilities = [caps.smtputf8 ? 'SMTPUTF8' : null, caps.maxSize !== null ? `SIZE ${caps.maxSize}` : null].filter((c): c is string => c !== null);
    return { ok: true, capabilities, tlsFingerprint256: null };
  } finally {
    await sender.close();
  }
}
