/**
 * Attachments are not stored apart from their message (docs/decisions/0007): the archive keeps
 * the original bytes, and an attachment is decoded from them again when it is asked for, by the
 * same parse that indexed it, so its part path, bytes and SHA-256 are those recorded then.
 */
import { PassThrough, type Readable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { AppError } from '../errors/index.ts';
import { hashContent, parseMessage, type AttachmentSink } from './parse/index.ts';

/** Ends the parse of the rest of a message once the wanted part is out (see extractPart). */
class Enough extends Error {}

/**
 * The decoded bytes of the attachment at `partPath` of the raw message, as a stream that fails
 * with ATTACHMENT_NOT_FOUND when the message has no such part. Parsing stops after the part.
 */
export function extractPart(raw: Readable, partPath: string): Readable {
  const out = new PassThrough();
  let found = false;
  const sink: AttachmentSink = async (content, path) => {
    if (found || path !== partPath) {
      // Another part: only read past it.
      content.resume();
      await finished(content);
      return { sha256: '', size: 0 };
    }
    found = true;
    await pipeline(content, out);
    // Nothing after the part is needed: stop reading the message (the parse then rejects).
    raw.destroy(new Enough());
    return { sha256: '', size: 0 };
  };
  // A reader that goes away before the part stops the parse too, rather than it reading on.
  out.once('close', () => raw.destroy());
  parseMessage(raw, sink).then(
    () => {
      if (!found) out.destroy(new AppError('ATTACHMENT_NOT_FOUND', `The stored message has no part ${partPath}; check it with: mailroom doc verify <id>`));
    },
    (err: unknown) => {
      // A reader that went away also ends up here; the part was out, nothing to report.
      if (!found) out.destroy(err instanceof Error ? err : new Error(String(err)));
      raw.destroy();
    },
  );
  return out;
}

/** SHA-256 and size of every attachment of the raw message, by part path (for verify). */
export async function digestParts(raw: Readable): Promise<Map<string, { sha256: string; size: number }>> {
  const digests = new Map<string, { sha256: string; size: number }>();
  await parseMessage(raw, async (content, path) => {
    const digest = await hashContent(content);
    digests.set(path, digest);
    return digest;
  });
  return digests;
}
