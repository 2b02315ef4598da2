import { Readable } from 'node:stream';
import type { MessageSummary } from '../ports.ts';
import { packUids, type ImapSession } from './session.ts';

/** Messages above this size are never read ahead; fetch.ts downloads them in windows when asked. */
export const READ_AHEAD_MAX_MESSAGE = 1024 * 1024;
/** One read-ahead is one `UID FETCH <set> BODY.PEEK[]` of at most this many messages ... */
export const READ_AHEAD_COUNT = 50;
/** ... and at most this many bytes (by RFC822.SIZE); a larger message goes alone. */
export const READ_AHEAD_BYTES = 16 * 1024 * 1024;

interface Expected {
  uid: number;
  size: number;
}

interface Chunk {
  uids: Set<number>;
  done: Promise<void>;
}

/**
 * Read-ahead for fetchRaw() (one per source). changes() tells it which messages it just listed,
 * in order; a sync then usually asks for them one after the other. The first fetchRaw() of a
 * listed message fetches it together with the listed messages after it in ONE pipelined
 * `UID FETCH a,b,c,... BODY.PEEK[]` (one round trip instead of one per message), and while the
 * caller works on what it got, the next group is fetched in the background, so the download
 * overlaps the caller's own work (parsing, storing) instead of alternating with it.
 *
 * Bounds: at most one read-ahead FETCH in flight, and another starts only while less than half
 * a group is waiting unclaimed, so at most ~1.5 x READ_AHEAD_BYTES is held. Messages the caller
 * passes over (filters, already archived) are dropped when it asks for a later one; when it
 * passes over many, groups shrink (down to one message), and grow back when all are used.
 *
 * Anything unusual falls back to the plain download in fetch.ts, which reports errors as
 * before: a message not listed by the last changes() or of another folder/epoch, one above
 * READ_AHEAD_MAX_MESSAGE, one the read-ahead did not get (expunged meanwhile, a failed FETCH,
 * a lost connection). BODY.PEEK never sets \Seen, and the folder is opened as for a download.
 */
export class ReadAhead {
  private folder: string | null = null;
  private epoch: string | null = null;
  /** Listed messages in listing order; `queue[i]` for i < `consumed` were asked for or passed over. */
  private queue: Expected[] = [];
  private readonly index = new Map<number, number>();
  private consumed = 0;
  /** First queue position not yet read ahead (nor being read). */
  private nextToRead = 0;
  private readonly ready = new Map<number, Buffer>();
  private readyBytes = 0;
  private inFlight: Chunk | null = null;
  /** Bumped by reset(): a FETCH still running for an older listing keeps nothing. */
  private generation = 0;
  private groupSize = READ_AHEAD_COUNT;
  private hits = 0;
  private misses = 0;

  constructor(private readonly session: ImapSession) {}

  /** A new listing of `folder` starts: forget the previous one. */
  reset(): void {
    this.generation++;
    this.folder = null;
    this.epoch = null;
    this.queue = [];
    this.index.clear();
    this.consumed = 0;
    this.nextToRead = 0;
    this.ready.clear();
    this.readyBytes = 0;
  }

  /** changes() listed these messages (ascending), after any it listed before in this pass. */
  listed(folder: string, epoch: string, messages: readonly MessageSummary[]): void {
    if (this.folder !== folder || this.epoch !== epoch) {
      this.reset();
      this.folder = folder;
      this.epoch = epoch;
    }
    for (const m of messages) {
      const uid = Number(m.ref.key);
      if (!Number.isSafeInteger(uid) || this.index.has(uid)) continue;
      this.index.set(uid, this.queue.length);
      this.queue.push({ uid, size: m.size });
    }
  }

  /**
   * The message as read ahead, waiting for the read-ahead when it is under way; null when the
   * caller must download it itself.
   */
  async take(folder: string, epoch: string, uid: number): Promise<Readable | null> {
    if (folder !== this.folder || epoch !== this.epoch) return null;
    const pos = this.index.get(uid);
    if (pos === undefined || pos < this.consumed) return null;
    this.passOver(pos);
    const entry = this.queue[pos]!;
    if (entry.size > READ_AHEAD_MAX_MESSAGE) {
      this.nextToRead = Math.max(this.nextToRead, pos + 1);
      return null;
    }
    if (!this.ready.has(uid) && this.inFlight?.uids.has(uid)) await this.inFlight.done;
    if (!this.ready.has(uid) && pos >= this.nextToRead) {
      // Not read ahead yet: fetch it with the group after it, and wait for that.
      while (this.inFlight) await this.inFlight.done;
      if (folder !== this.folder || epoch !== this.epoch || this.index.get(uid) !== pos) return null;
      this.nextToRead = pos;
      await this.start()?.done;
    }
    const raw = this.ready.get(uid);
    if (raw === undefined) return null;
    this.ready.delete(uid);
    this.readyBytes -= raw.length;
    this.hits++;
    this.pump();
    return Readable.from([raw], { objectMode: false });
  }

  /** Everything listed before `pos` was passed over by the caller: drop what was read of it. */
  private passOver(pos: number): void {
    for (let i = this.consumed; i < pos; i++) {
      const { uid } = this.queue[i]!;
      const raw = this.ready.get(uid);
      if (raw !== undefined) {
        this.ready.delete(uid);
        this.readyBytes -= raw.length;
        this.misses++;
      }
    }
    this.consumed = pos + 1;
  }

  /** Starts the next read-ahead when none is running and little is waiting. */
  private pump(): void {
    if (this.inFlight || this.nextToRead >= this.queue.length) return;
    if (this.ready.size > this.groupSize / 2 || this.readyBytes > READ_AHEAD_BYTES / 2) return;
    if (this.queue[this.nextToRead]!.size > READ_AHEAD_MAX_MESSAGE) return; // the caller downloads it itself
    this.start();
  }

  private start(): Chunk | null {
    // Shrink groups while the caller passes over more than it takes, grow them while it takes all.
    if (this.misses > this.hits) this.groupSize = Math.max(1, this.groupSize >> 1);
    else if (this.misses === 0) this.groupSize = Math.min(READ_AHEAD_COUNT, this.groupSize * 2);
    this.hits = 0;
    this.misses = 0;
    const uids: number[] = [];
    let bytes = 0;
    let i = this.nextToRead;
    for (; i < this.queue.length && uids.length < this.groupSize; i++) {
      const e = this.queue[i]!;
      if (e.size > READ_AHEAD_MAX_MESSAGE || (uids.length > 0 && bytes + e.size > READ_AHEAD_BYTES)) break;
      uids.push(e.uid);
      bytes += e.size;
    }
    if (uids.length === 0) return null;
    this.nextToRead = i;
    const wanted = new Set(uids);
    const generation = this.generation;
    const folder = this.folder!;
    const epoch = this.epoch!;
    const chunk: Chunk = {
      uids: wanted,
      done: this.session
        .exclusive(async () => {
          const mb = await this.session.select(folder);
          if (String(mb.uidValidity) !== epoch) return;
          for await (const msg of this.session.client.fetch(packUids(uids), { uid: true, source: true }, { uid: true })) {
            if (generation !== this.generation || !msg.source || !wanted.has(msg.uid) || this.ready.has(msg.uid)) continue;
            this.ready.set(msg.uid, msg.source);
            this.readyBytes += msg.source.length;
          }
        })
        .catch((err: unknown) => {
          // What is missing is downloaded one by one instead, which reports any error properly.
          this.session.log?.debug({ component: 'imap', folder, err }, 'read-ahead FETCH failed; fetching one by one');
        })
        .finally(() => {
          if (this.inFlight === chunk) this.inFlight = null;
        }),
    };
    this.inFlight = chunk;
    return chunk;
  }
}
