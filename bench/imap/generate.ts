/**
 * Deterministic, streaming generator of a Maildir folder for the IMAP benchmark (bench/imap.ts).
 *
 * Messages are varied and realistic: UTF-8, ISO-8859-1, windows-1252, KOI8-R, Shift_JIS,
 * ISO-2022-JP, GB2312 and mixed-script UTF-8; text/plain, multipart/alternative with HTML and
 * multipart/mixed with attachments (PDF/JPEG/ZIP-like binary, CSV); quoted-printable, base64, 8bit
 * and 7bit bodies; RFC 2047 headers. Exactly one message in 50 (2 %) carries a 2-6 MB attachment;
 * together they make the average about 95 KB. Every message is written straight into `cur/` as
 * its own file (LF line endings, as Dovecot stores them) with a Maildir name carrying S= and W=
 * (physical and CRLF size), the Date header as mtime (Dovecot's INTERNALDATE) and the mail
 * uid/gid as owner, so Dovecot only has to index the directory.
 *
 * Nothing but the message being written is held in memory.
 */
import { chown, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  address,
  base64Lines,
  bodyText,
  CHINESE_GB2312,
  encodeCharset,
  encodedWord,
  ENGLISH_UTF8,
  FRENCH_WINDOWS1252,
  GERMAN_LATIN1,
  JAPANESE_ISO2022JP,
  JAPANESE_SHIFT_JIS,
  MIXED_UTF8,
  rfc5322Date,
  Rng,
  RUSSIAN_KOI8R,
  transferEncode,
  word,
  type Language,
} from '../corpus.ts';

export interface GenerateOptions {
  count: number;
  seed: number;
  /** Owner of the written files (Dovecot's mail_uid/mail_gid); null leaves them as created. */
  owner: { uid: number; gid: number } | null;
  /** Only the mix's small messages, or only messages with a multi-MB attachment; null: the mix. */
  only?: 'small' | 'large' | null;
}

export interface GenerateResult {
  messages: number;
  /** Bytes on disk (LF line endings). */
  bytes: number;
  /** Bytes as IMAP sends them (CRLF line endings): the sum of RFC822.SIZE. */
  imapBytes: number;
  large: number;
  largeBytes: number;
  seconds: number;
}

/** Every LARGE_EVERY-th message gets a multi-MB attachment (exactly 2 %). */
const LARGE_EVERY = 50;
const WRITES_IN_FLIGHT = 8;

/** The languages of the mix (bench/corpus.ts); windows-1252 and GB2312 besides the import's. */
const LANGUAGES: Language[] = [ENGLISH_UTF8, GERMAN_LATIN1, FRENCH_WINDOWS1252, RUSSIAN_KOI8R, JAPANESE_SHIFT_JIS, JAPANESE_ISO2022JP, CHINESE_GB2312, MIXED_UTF8];

// ---------------------------------------------------------------------------------------------
// Messages.

class MessageFactory {
  constructor(
    private readonly rng: Rng,
    private readonly only: GenerateOptions['only'] = null,
  ) {}

  private html(text: string): string {
    const paragraphs = text.split('\n\n').map((p) => `<p>${p.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/\n/g, '<br>\n')}</p>`);
    return `<html><head><style>p{font-family:sans-serif;margin:0 0 1em}</style></head><body>\n<div class="mail">\n${paragraphs.join('\n')}\n</div>\n</body></html>`;
  }

  private attachment(n: number, k: number, bytes: number, boundary: string): string[] {
    const r = this.rng;
    const csv = bytes < 200 * 1024 && r.next() < 0.25;
    const content = csv
      ? Buffer.from(Array.from({ length: Math.ceil(bytes / 40) }, (_, row) => `${row};${word(this.rng, null)};${(r.next() * 1000).toFixed(2)}`).join('\n'), 'utf8')
      : r.bytes(bytes);
    const filename = csv ? `report-${n}-${k}.csv` : r.pick([`Rechnung_${n}.pdf`, `scan ${n}-${k}.pdf`, `photo_${n}_${k}.jpg`, `見積書_${n}.pdf`, `archive-${n}.zip`]);
    // eslint-disable-next-line no-control-regex
    const encodedName = /^[\x20-\x7e]*$/.test(filename) ? `"${filename}"` : `"${encodedWord(this.rng, filename, 'UTF-8')}"`;
    const type = csv ? 'text/csv; charset=utf-8' : filename.endsWith('.jpg') ? 'image/jpeg' : filename.endsWith('.zip') ? 'application/zip' : 'application/pdf';
    return [
      `--${boundary}`,
      `Content-Type: ${type}; name=${encodedName}`,
      `Content-Disposition: attachment; filename=${encodedName}`,
      'Content-Transfer-Encoding: base64',
      '',
      base64Lines(content),
    ];
  }

  /** One message as a latin1 string (bytes one to one), and its date. */
  message(n: number): { text: string; date: Date } {
    const r = this.rng;
    const lang = r.pick(LANGUAGES);
    const date = new Date(Date.UTC(2016, 0, 1) + r.int(8 * 365 * 86400) * 1000);
    const large = this.only === null ? n % LARGE_EVERY === LARGE_EVERY / 2 : this.only === 'large';
    // Attachment sizes are of the decoded content; base64 adds a third.
    const attachments: number[] = large
      ? [Math.round((2 + r.next() * 4) * 1024 * 1024 * 0.74)]
      : r.next() < 0.22
        ? Array.from({ length: 1 + (r.next() < 0.25 ? 1 : 0) }, () => 2048 + r.int(20 * 1024))
        : [];
    const alternative = r.next() < 0.6;
    const textBytes = 800 + r.int(r.next() < 0.15 ? 24 * 1024 : 7 * 1024);
    const text = bodyText(this.rng, lang, alternative ? textBytes / 2.2 : textBytes, n);
    const cte = r.pick(lang.encodings);
    const headers = [
      `Return-Path: <bounce${n}@example.test>`,
      `Received: from mx${n % 7}.example.test (mx${n % 7}.example.test [192.0.2.${n % 250}])\n\tby imap.example.test with ESMTPS id ${n.toString(36)}\n\tfor <alice@example.test>; ${rfc5322Date(date)}`,
      `Message-ID: <${n}.${date.getTime().toString(36)}@bench.example.test>`,
      `Date: ${rfc5322Date(date)}`,
      `From: ${address(this.rng, lang, n)}`,
      `To: ${Array.from({ length: 1 + r.int(3) }, (_, k) => address(this.rng, lang, n + k + 1)).join(',\n ')}`,
      ...(r.next() < 0.3 ? [`Cc: ${address(this.rng, lang, n + 5)}`] : []),
      `Subject: ${r.next() < 0.3 ? 'Re: ' : ''}${encodedWord(this.rng, `${r.pick(lang.subjects)} ${word(this.rng, n)}`, lang.charset)}`,
      ...(r.next() < 0.3 ? [`In-Reply-To: <${n - 1}.prev@bench.example.test>`, `References: <${n - 2}.prev@bench.example.test> <${n - 1}.prev@bench.example.test>`] : []),
      'MIME-Version: 1.0',
    ];
    const charsetParam = lang.charset === 'ISO-2022-JP' ? 'ISO-2022-JP' : `"${lang.charset}"`;
    const textPart = (subtype: 'plain' | 'html', body: string): string[] => [
      `Content-Type: text/${subtype}; charset=${charsetParam}`,
      `Content-Transfer-Encoding: ${cte}`,
      '',
      transferEncode(encodeCharset(body, lang.charset), cte),
    ];
    const altBoundary = `=_alt_${n.toString(36)}`;
    const alt = (): string[] => [
      `Content-Type: multipart/alternative; boundary="${altBoundary}"`,
      '',
      `--${altBoundary}`,
      ...textPart('plain', text),
      `--${altBoundary}`,
      ...textPart('html', this.html(text)),
      `--${altBoundary}--`,
    ];
    let body: string[];
    if (attachments.length === 0) {
      body = alternative ? alt() : textPart('plain', text);
    } else {
      const mixed = `=_mixed_${n.toString(36)}`;
      body = [
        `Content-Type: multipart/mixed; boundary="${mixed}"`,
        '',
        'This is a multi-part message in MIME format.',
        `--${mixed}`,
        ...(alternative ? alt() : textPart('plain', text)),
        ...attachments.flatMap((bytes, k) => this.attachment(n, k, bytes, mixed)),
        `--${mixed}--`,
      ];
    }
    return { text: [...headers, ...body, ''].join('\n'), date };
  }
}

function countNewlines(buf: Buffer): number {
  let n = 0;
  for (let i = buf.indexOf(0x0a); i !== -1; i = buf.indexOf(0x0a, i + 1)) n++;
  return n;
}

/** Writes `count` messages into `<maildir>/cur/` (which must exist). */
export async function generateMaildir(maildir: string, opts: GenerateOptions): Promise<GenerateResult> {
  const started = performance.now();
  const factory = new MessageFactory(new Rng(opts.seed), opts.only ?? null);
  const cur = path.join(maildir, 'cur');
  const result: GenerateResult = { messages: 0, bytes: 0, imapBytes: 0, large: 0, largeBytes: 0, seconds: 0 };
  const base = 1_700_000_000;
  // A few files are written while the next message is generated (the file system is the slow part).
  const inFlight = new Set<Promise<void>>();
  for (let n = 1; n <= opts.count; n++) {
    const { text, date } = factory.message(n);
    const raw = Buffer.from(text, 'latin1');
    if (raw.includes(0x0d)) throw new Error(`message ${n} contains a CR; sizes would be wrong`);
    const size = raw.length;
    const vsize = size + countNewlines(raw);
    const flags = n % 3 === 0 ? '' : n % 17 === 0 ? 'FS' : 'S';
    // Maildir name: <unique>,S=<size>,W=<CRLF size>:2,<flags> (Dovecot reads both sizes from it).
    const file = path.join(cur, `${base + n}.M${n}P1V801I${n.toString(16)}.bench,S=${size},W=${vsize}:2,${flags}`);
    const write = (async () => {
      await writeFile(file, raw, { mode: 0o600 });
      if (opts.owner) await chown(file, opts.owner.uid, opts.owner.gid);
      await utimes(file, date, date);
    })();
    inFlight.add(write);
    void write.finally(() => inFlight.delete(write)).catch(() => undefined);
    if (inFlight.size >= WRITES_IN_FLIGHT) await Promise.race(inFlight);
    result.messages++;
    result.bytes += size;
    result.imapBytes += vsize;
    if (size > 1024 * 1024) {
      result.large++;
      result.largeBytes += vsize;
    }
  }
  await Promise.all(inFlight);
  result.seconds = (performance.now() - started) / 1000;
  return result;
}
