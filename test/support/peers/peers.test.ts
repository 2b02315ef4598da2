/**
 * Smoke tests for the private Dovecot and Postfix test peers: they must start,
 * speak IMAP/IMAPS/LMTP and SMTP (incl. SMTPUTF8) on loopback, deliver mail
 * byte-exactly and leave no process behind. Needs root (Debian 12).
 *
 *   node --import tsx --test test/support/peers/peers.test.ts
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { isAlive, run } from './apt.ts';
import { startDovecot, type DovecotPeer } from './dovecot.ts';
import { startPostfix, type PostfixPeer } from './postfix.ts';

const INSTALL_TIMEOUT = 15 * 60 * 1000;

// ---------------------------------------------------------------------------
// A tiny line-oriented client good enough for IMAP, LMTP and SMTP by hand.
// ---------------------------------------------------------------------------

class Wire {
  private buf = Buffer.alloc(0);
  private waiter: (() => void) | undefined;
  private ended: Error | undefined;

  constructor(readonly sock: Socket | TLSSocket) {
    sock.on('data', (c: Buffer) => {
      this.buf = Buffer.concat([this.buf, c]);
      this.wake();
    });
    sock.on('error', (e) => {
      this.ended = e;
      this.wake();
    });
    sock.on('close', () => {
      this.ended ??= new Error('connection closed');
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  private async more(timeoutMs: number): Promise<void> {
    if (this.ended) throw this.ended;
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiter = undefined;
        reject(new Error(`timeout; unread: ${JSON.stringify(this.buf.toString('utf8'))}`));
      }, timeoutMs);
      this.waiter = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  /**
   * One logical response line without the final CRLF. IMAP literals
   * (`{n}` CRLF + n bytes) are kept inline, so FETCH bodies are intact.
   */
  async line(timeoutMs = 10000): Promise<Buffer> {
    for (;;) {
      let pos = 0;
      for (;;) {
        const crlf = this.buf.indexOf('\r\n', pos);
        if (crlf < 0) break;
        const lit = /\{(\d+)\+?\}$/.exec(this.buf.subarray(pos, crlf).toString('latin1'));
        if (lit) {
          const end = crlf + 2 + Number(lit[1]);
          if (this.buf.length < end) break;
          pos = end;
          continue;
        }
        const out = this.buf.subarray(0, crlf);
        this.buf = this.buf.subarray(crlf + 2);
        return out;
      }
      await this.more(timeoutMs);
    }
  }

  write(data: string | Buffer): void {
    this.sock.write(data);
  }

  close(): void {
    this.sock.destroy();
  }
}

async function openPlain(port: number): Promise<Wire> {
  const sock = netConnect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  return new Wire(sock);
}

// -- IMAP -------------------------------------------------------------------

interface ImapResult {
  untagged: Buffer[];
  status: string;
}

class Imap {
  private n = 0;
  constructor(readonly wire: Wire) {}

  async greeting(): Promise<string> {
    return (await this.wire.line()).toString('utf8');
  }

  async cmd(command: string): Promise<ImapResult> {
    const tag = `A${++this.n}`;
    this.wire.write(`${tag} ${command}\r\n`);
    return this.collect(tag);
  }

  async collect(tag: string): Promise<ImapResult> {
    const untagged: Buffer[] = [];
    for (;;) {
      const l = await this.wire.line();
      const s = l.toString('latin1');
      if (s.startsWith(`${tag} `)) return { untagged, status: s.slice(tag.length + 1) };
      untagged.push(l);
    }
  }

  nextTag(): string {
    return `A${++this.n}`;
  }
}

/** RFC 3501 modified UTF-7 for mailbox names. */
function mutf7(name: string): string {
  let out = '';
  let run = '';
  const flush = (): void => {
    if (!run) return;
    const u16 = Buffer.alloc(run.length * 2);
    for (let i = 0; i < run.length; i++) u16.writeUInt16BE(run.charCodeAt(i), i * 2);
    out += `&${u16.toString('base64').replace(/=+$/, '').replace(/\//g, ',')}-`;
    run = '';
  };
  for (const ch of name) {
    const c = ch.codePointAt(0) ?? 0;
    if (c >= 0x20 && c <= 0x7e) {
      flush();
      out += ch === '&' ? '&-' : ch;
    } else {
      run += ch;
    }
  }
  flush();
  return out;
}

const quote = (s: string): string => `"${s.replace(/[\\"]/g, (m) => `\\${m}`)}"`;

function existsCount(r: ImapResult): number {
  for (const l of r.untagged) {
    const m = /^\* (\d+) EXISTS/.exec(l.toString('latin1'));
    if (m) return Number(m[1]);
  }
  return -1;
}

/** The literal of a `* n FETCH (BODY[] {len}` CRLF ... response. */
function fetchedBody(r: ImapResult): Buffer {
  for (const l of r.untagged) {
    const head = l.toString('latin1');
    const m = /BODY\[\] \{(\d+)\}\r\n/.exec(head);
    if (m) {
      const start = m.index + m[0].length;
      return l.subarray(start, start + Number(m[1]));
    }
  }
  throw new Error(`no BODY[] literal in ${r.untagged.map((b) => b.toString('utf8')).join('\n')}`);
}

// -- SMTP / LMTP --------------------------------------------------------------

interface Reply {
  code: number;
  lines: string[];
}

async function reply(wire: Wire): Promise<Reply> {
  const lines: string[] = [];
  for (;;) {
    const l = (await wire.line()).toString('utf8');
    lines.push(l.slice(4));
    if (l[3] !== '-') return { code: Number(l.slice(0, 3)), lines };
  }
}

async function say(wire: Wire, line: string): Promise<Reply> {
  wire.write(Buffer.from(`${line}\r\n`, 'utf8'));
  return reply(wire);
}

/** CRLF-normalised message, dot-stuffed and terminated for DATA. */
function dataPayload(msg: Buffer): Buffer {
  const s = msg.toString('latin1').replace(/\r?\n/g, '\r\n').replace(/^\./gm, '..');
  return Buffer.concat([Buffer.from(s, 'latin1'), Buffer.from(s.endsWith('\r\n') ? '.\r\n' : '\r\n.\r\n')]);
}

async function pgrep(pattern: string): Promise<string> {
  const r = await run('pgrep', ['-a', '-f', pattern]);
  return r.stdout.trim();
}

// ---------------------------------------------------------------------------

const enc = (s: string): Buffer => Buffer.from(s, 'utf8');

function testMessage(subject: string, body: string, to = 'alice@example.test'): Buffer {
  return enc(
    [
      'From: Jörg Bücher <joerg@example.test>',
      `To: <${to}>`,
      `Subject: ${subject}`,
      'Date: Sat, 28 Nov 2026 12:00:00 +0000',
      `Message-ID: <${Math.random().toString(36).slice(2)}@example.test>`,
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: 8bit',
      '',
      body,
    ].join('\r\n'),
  );
}

describe('Dovecot peer', () => {
  let dv: DovecotPeer;
  let startMs = 0;
  const inbox1 = testMessage('Grüße aus dem Test', 'Hallo Welt – äöü ß €\r\n.leading dot\r\n');
  const folderA = 'Eingang/Ärger';
  const folderB = 'Rechnungen 2026 – März';

  before(async () => {
    const t = Date.now();
    dv = await startDovecot();
    startMs = Date.now() - t;
    process.stderr.write(`[peers.test] Dovecot started in ${startMs} ms\n`);
  }, { timeout: INSTALL_TIMEOUT });

  after(async () => {
    await dv?.stop();
  });

  it('delivers into INBOX and non-ASCII folders with doveadm save', async () => {
    await dv.deliver('alice@example.test', inbox1);
    await dv.deliver('alice@example.test', testMessage('Ärger', 'Beschwerde\r\n'), folderA);
    await dv.deliver('alice@example.test', testMessage('März', 'Rechnung\r\n'), folderB);
    assert.ok(existsSync(dv.mailDir('alice@example.test')));
  });

  it('plain IMAP: LOGIN, capabilities, SELECT, FETCH byte-exact, LIST folders', async () => {
    const imap = new Imap(await openPlain(dv.imapPort));
    try {
      assert.match(await imap.greeting(), /^\* OK/);
      const bad = await imap.cmd(`LOGIN ${quote('alice@example.test')} ${quote('wrong')}`);
      assert.match(bad.status, /^NO/);
      const login = await imap.cmd(`LOGIN ${quote('alice@example.test')} ${quote('alice-secret')}`);
      assert.match(login.status, /^OK/);
      const caps = (await imap.cmd('CAPABILITY')).untagged.map((b) => b.toString()).join(' ');
      for (const c of ['IDLE', 'CONDSTORE', 'QRESYNC', 'UIDPLUS', 'MOVE', 'SPECIAL-USE']) {
        assert.ok(caps.includes(` ${c}`), `capability ${c} missing: ${caps}`);
      }
      await imap.cmd('ENABLE QRESYNC');
      const sel = await imap.cmd('SELECT INBOX (CONDSTORE)');
      assert.match(sel.status, /^OK/);
      assert.equal(existsCount(sel), 1);
      assert.ok(sel.untagged.some((l) => /HIGHESTMODSEQ \d+/.test(l.toString())), 'HIGHESTMODSEQ');
      const f = await imap.cmd('FETCH 1 (BODY.PEEK[])');
      assert.match(f.status, /^OK/);
      assert.deepEqual(fetchedBody(f), inbox1);

      const list = await imap.cmd('LIST "" "*"');
      const names = list.untagged.map((b) => b.toString('utf8'));
      for (const folder of [folderA, folderB, 'Eingang', 'Sent', 'Trash']) {
        assert.ok(
          names.some((n) => n.endsWith(` ${quote(mutf7(folder))}`) || n.endsWith(` ${mutf7(folder)}`)),
          `LIST lacks ${folder} (${mutf7(folder)}): ${names.join(' | ')}`,
        );
      }
      assert.ok(names.some((n) => n.includes('"/"')), 'hierarchy separator is /');

      for (const [folder, subject] of [[folderA, 'Ärger'], [folderB, 'März']] as const) {
        const s = await imap.cmd(`SELECT ${quote(mutf7(folder))}`);
        assert.match(s.status, /^OK/, `SELECT ${folder}`);
        assert.equal(existsCount(s), 1);
        const m = await imap.cmd('FETCH 1 (BODY.PEEK[])');
        assert.ok(fetchedBody(m).includes(enc(`Subject: ${subject}`)));
      }
      await imap.cmd('LOGOUT');
    } finally {
      imap.wire.close();
    }
  });

  it('IMAPS: certificate fingerprint matches, added user can log in, IDLE sees new mail', async () => {
    const sock = tlsConnect({ host: '127.0.0.1', port: dv.imapsPort, ca: dv.certPem });
    await new Promise<void>((resolve, reject) => {
      sock.once('secureConnect', resolve);
      sock.once('error', reject);
    });
    const cert = sock.getPeerCertificate();
    assert.equal(sock.authorized, true);
    assert.equal(cert.fingerprint256, dv.certFingerprint256);
    assert.equal(cert.fingerprint256.replace(/:/g, '').toLowerCase(), dv.certFingerprint256Hex);
    assert.match(dv.certFingerprint256Hex, /^[0-9a-f]{64}$/);
    assert.match(dv.certPem, /^-----BEGIN CERTIFICATE-----/);

    await dv.addUser('carol@example.test', 'carol pw ü');
    const imap = new Imap(new Wire(sock));
    try {
      assert.match(await imap.greeting(), /^\* OK/);
      const login = await imap.cmd(`LOGIN ${quote('carol@example.test')} {${enc('carol pw ü').length}+}\r\n${'carol pw ü'}`);
      assert.match(login.status, /^OK/, login.status);
      const sel = await imap.cmd('SELECT INBOX');
      assert.equal(existsCount(sel), 0);

      const tag = imap.nextTag();
      imap.wire.write(`${tag} IDLE\r\n`);
      assert.match((await imap.wire.line()).toString(), /^\+ /);
      await dv.deliver('carol@example.test', testMessage('idle', 'ping\r\n', 'carol@example.test'));
      let seen = '';
      while (!/^\* 1 EXISTS/.test(seen)) seen = (await imap.wire.line(10000)).toString();
      imap.wire.write('DONE\r\n');
      assert.match((await imap.collect(tag)).status, /^OK/);
      await imap.cmd('LOGOUT');
    } finally {
      imap.wire.close();
    }
  });

  it('LMTP delivers to any user (allow_all_users)', async () => {
    const w = await openPlain(dv.lmtpPort);
    try {
      assert.equal((await reply(w)).code, 220);
      assert.equal((await say(w, 'LHLO client.example.test')).code, 250);
      assert.equal((await say(w, 'MAIL FROM:<sender@example.test>')).code, 250);
      assert.equal((await say(w, 'RCPT TO:<dave@example.test>')).code, 250);
      assert.equal((await say(w, 'DATA')).code, 354);
      w.write(dataPayload(testMessage('via lmtp', 'über LMTP\r\n', 'dave@example.test')));
      assert.equal((await reply(w)).code, 250);
      await say(w, 'QUIT');
    } finally {
      w.close();
    }
    await dv.addUser('dave@example.test', 'dave');
    const imap = new Imap(await openPlain(dv.imapPort));
    try {
      await imap.greeting();
      assert.match((await imap.cmd('LOGIN "dave@example.test" "dave"')).status, /^OK/);
      assert.equal(existsCount(await imap.cmd('SELECT INBOX')), 1);
    } finally {
      imap.wire.close();
    }
  });

  it('a second instance runs alongside and stops independently', async () => {
    const other = await startDovecot({ users: [{ user: 'eve', password: 'eve' }] });
    try {
      assert.notEqual(other.imapPort, dv.imapPort);
      assert.notEqual(other.certFingerprint256, dv.certFingerprint256);
      const imap = new Imap(await openPlain(other.imapPort));
      try {
        await imap.greeting();
        assert.match((await imap.cmd('LOGIN eve eve')).status, /^OK/);
        assert.match((await imap.cmd(`LOGIN ${quote('alice@example.test')} ${quote('alice-secret')}`)).status, /^BAD|^NO/);
      } finally {
        imap.wire.close();
      }
    } finally {
      await other.stop();
    }
    assert.equal(await pgrep(other.dir), '');
    const imap = new Imap(await openPlain(dv.imapPort));
    try {
      assert.match(await imap.greeting(), /^\* OK/);
    } finally {
      imap.wire.close();
    }
  });

  it('stop() leaves no process and removes the dir', async () => {
    const pids = await dv.pids();
    assert.ok(pids.length >= 2, `expected master + children, got ${pids.join(',')}`);
    assert.notEqual(await pgrep(dv.dir), '');
    await dv.stop();
    assert.equal(await pgrep(dv.dir), '');
    for (const pid of pids) assert.equal(isAlive(pid), false, `pid ${pid} still alive`);
    assert.equal(existsSync(dv.dir), false);
  });
});

describe('Postfix peers', () => {
  let utf8: PostfixPeer;
  let ascii: PostfixPeer;

  before(async () => {
    const t = Date.now();
    // Two instances at once.
    [utf8, ascii] = await Promise.all([
      startPostfix({ smtputf8: true, name: 'utf8' }),
      startPostfix({ smtputf8: false, name: 'ascii' }),
    ]);
    process.stderr.write(`[peers.test] two Postfix instances started in ${Date.now() - t} ms\n`);
  }, { timeout: INSTALL_TIMEOUT });

  after(async () => {
    await Promise.all([utf8?.stop(), ascii?.stop()]);
  });

  it('the instances are separate', () => {
    assert.notEqual(utf8.port, ascii.port);
    assert.notEqual(utf8.dir, ascii.dir);
    assert.notEqual(utf8.maildir, ascii.maildir);
  });

  it('SMTPUTF8 instance accepts a UTF-8 envelope and delivers the body byte-exactly', async () => {
    const body = 'Grüße aus Köln – 🎉\r\n.dot-stuffed line\r\n' + 'x'.repeat(3000) + '\r\nEnde.\r\n';
    const msg = testMessage('Rechnung März – Ärger', body, 'empfänger@beispiel.example');
    const w = await openPlain(utf8.port);
    try {
      assert.equal((await reply(w)).code, 220);
      const ehlo = await say(w, 'EHLO client.example.test');
      assert.equal(ehlo.code, 250);
      assert.ok(ehlo.lines.includes('SMTPUTF8'), ehlo.lines.join(','));
      assert.ok(ehlo.lines.includes('8BITMIME'), ehlo.lines.join(','));
      const noKw = await say(w, 'MAIL FROM:<jörg@bücher.example>');
      assert.equal(noKw.code, 501, noKw.lines.join(' ')); // UTF-8 without the SMTPUTF8 keyword
      assert.equal((await say(w, 'MAIL FROM:<jörg@bücher.example> SMTPUTF8 BODY=8BITMIME')).code, 250);
      assert.equal((await say(w, 'RCPT TO:<empfänger@beispiel.example>')).code, 250);
      assert.equal((await say(w, 'RCPT TO:<someone@any-other-domain.example>')).code, 250);
      assert.equal((await say(w, 'DATA')).code, 354);
      w.write(dataPayload(msg));
      const queued = await reply(w);
      assert.equal(queued.code, 250, queued.lines.join(' '));
      await say(w, 'QUIT');
    } finally {
      w.close();
    }
    const msgs = await utf8.waitForMessages(2, 10000);
    assert.equal(msgs.length, 2);
    const delivered = msgs.map((m) => m.raw.toString('utf8'));
    assert.ok(delivered.some((d) => d.includes('Delivered-To: empfänger@beispiel.example')), delivered[0]);
    assert.ok(delivered.some((d) => d.includes('Delivered-To: someone@any-other-domain.example')));
    for (const m of msgs) {
      const raw = m.raw;
      const sep = raw.indexOf('\n\n');
      assert.ok(sep > 0);
      // Maildir stores LF line endings; the body is otherwise byte-identical.
      assert.deepEqual(raw.subarray(sep + 2), enc(body.replace(/\r\n/g, '\n')));
      assert.ok(raw.subarray(0, sep).includes(enc('\nSubject: Rechnung März – Ärger\n')));
      assert.ok(raw.subarray(0, sep).includes(enc('Return-Path: <jörg@bücher.example>')));
    }
    assert.equal((await ascii.readMaildir()).length, 0);
  });

  it('instance without SMTPUTF8 does not advertise it and rejects the UTF-8 MAIL FROM', async () => {
    const w = await openPlain(ascii.port);
    try {
      assert.equal((await reply(w)).code, 220);
      const ehlo = await say(w, 'EHLO client.example.test');
      assert.equal(ehlo.code, 250);
      assert.ok(!ehlo.lines.includes('SMTPUTF8'), ehlo.lines.join(','));
      const r = await say(w, 'MAIL FROM:<jörg@bücher.example> SMTPUTF8');
      assert.equal(r.code, 501, r.lines.join(' '));
      // ASCII mail still goes through.
      assert.equal((await say(w, 'RSET')).code, 250);
      assert.equal((await say(w, 'MAIL FROM:<joerg@example.test>')).code, 250);
      assert.equal((await say(w, 'RCPT TO:<bob@example.test>')).code, 250);
      assert.equal((await say(w, 'DATA')).code, 354);
      w.write(dataPayload(testMessage('plain', 'ascii only\r\n', 'bob@example.test')));
      assert.equal((await reply(w)).code, 250);
      await say(w, 'QUIT');
    } finally {
      w.close();
    }
    const msgs = await ascii.waitForMessages(1, 10000);
    assert.ok(msgs[0]?.raw.toString().endsWith('\n\nascii only\n'));
  });

  it('stop() leaves no process and removes the dirs', async () => {
    const peers = [utf8, ascii];
    const pids = (await Promise.all(peers.map((p) => p.pids()))).flat();
    assert.ok(pids.length >= 4, `expected masters + children, got ${pids.join(',')}`);
    await Promise.all(peers.map((p) => p.stop()));
    for (const p of peers) {
      assert.equal(await pgrep(p.dir), '');
      assert.deepEqual(await p.pids(), []);
      assert.equal(existsSync(p.dir), false);
    }
    for (const pid of pids) assert.equal(isAlive(pid), false, `pid ${pid} still alive`);
  });
});
