import { PassThrough, type Readable } from 'node:stream';
import { AppError } from '../../errors/index.ts';
import type { MessageRef } from '../ports.ts';
import type { ReadAhead } from './prefetch.ts';
import { parseUid, type ImapSession } from './session.ts';

/**
 * imapflow's download() asks for the message in windows of this size (`UID FETCH n
 * BODY.PEEK[]<offset.size>`, RFC 3501 §6.4.5 partial fetch) and waits for the consumer to
 * drain each one, so memory stays bounded whatever the message size.
 */
export const DOWNLOAD_CHUNK = 512 * 1024;

/**
 * The raw RFC 5322 bytes of one message, streamed, byte for byte as the server stores them.
 * BODY.PEEK never sets \Seen (RFC 3501 §6.4.5), and the folder is opened with EXAMINE unless it
 * is already selected read-write, so reading changes nothing on the server.
 *
 * The connection stays held until the stream ends, fails or is destroyed: the download is a
 * series of FETCH commands in the message's folder, and nothing else may run between them.
 * Callers consume (or destroy) each stream before their next call on the same source.
 *
 * With `readAhead`, a message the last changes() listed comes from a pipelined read-ahead
 * (prefetch.ts) when it can; everything else, and whatever the read-ahead did not get, is
 * downloaded here as before.
 */
export async function fetchRawMessage(session: ImapSession, ref: MessageRef, readAhead?: ReadAhead): Promise<Readable> {
  const uid = parseUid(ref.key);
  if (uid === null) throw notFound(ref, 'its key is not an IMAP UID');
  const ahead = await readAhead?.take(ref.folder, ref.epoch, uid);
  if (ahead) return ahead;
  const release = await session.acquire();
  let handedOver = false;
  try {
    session.ensureUsable();
    const mb = await session.select(ref.folder);
    if (String(mb.uidValidity) !== ref.epoch) {
      // RFC 3501 §2.3.1.1: with a new UIDVALIDITY, UID n may now be a different message.
      throw notFound(ref, `the folder's UIDVALIDITY is now ${String(mb.uidValidity)}, so UIDs of epoch ${ref.epoch} no longer name messages`);
    }
    const download = await session.client
      .download(String(uid), undefined, { uid: true, chunkSize: DOWNLOAD_CHUNK })
      .catch((err: unknown) => {
        throw session.fail(err, { operation: 'fetch a message', folder: ref.folder });
      });
    const content = download.content;
    if (!content) throw notFound(ref, 'no message has this UID any more');
    const out = new PassThrough({ highWaterMark: DOWNLOAD_CHUNK });
    content.on('error', (err: unknown) => {
      const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
      // imapflow: the message was expunged between two windows of the download.
      out.destroy(code === 'DownloadIncomplete' && session.client.usable ? notFound(ref, 'it was deleted while being downloaded') : session.fail(err, { operation: 'fetch a message', folder: ref.folder }));
    });
    out.once('close', () => {
      // A consumer that gave up: stop imapflow's chunk loop, then let the next command run
      // (imapflow finishes the FETCH already sent before anything queued after it).
      if (!content.destroyed) content.destroy();
      release();
    });
    content.pipe(out);
    handedOver = true;
    return out;
  } finally {
    if (!handedOver) release();
  }
}

function notFound(ref: MessageRef, why: string): AppError {
  return new AppError('MAIL_MESSAGE_NOT_FOUND', `Message ${ref.key} of folder "${ref.folder}" (UIDVALIDITY ${ref.epoch}) cannot be fetched: ${why}.`, {
    details: { folder: ref.folder, epoch: ref.epoch, key: ref.key, transient: false },
  });
}
