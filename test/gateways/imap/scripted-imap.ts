/**
 * A tiny scripted IMAP server for behaviour Dovecot cannot be configured into (here: a server
 * that refuses `SEARCH CHARSET UTF-8` with NO [BADCHARSET], RFC 3501 §6.4.4). It understands just
 * enough of what imapflow sends: tagged lines, synchronizing literals, and a handful of commands.
 */
import net from 'node:net';
import { freePort } from '../../support/peers/apt.ts';

export interface ScriptedImap {
  port: number;
  /** Every complete command line received (literals inlined). */
  commands: string[];
  close(): Promise<void>;
}

/** Answers a command; return the full response text (untagged lines + tagged completion). */
export type Responder = (tag: string, command: string, line: string) => string | undefined;

const base = (capabilities: string): Responder => (tag, command) => {
  switch (command) {
    case 'CAPABILITY':
      return `* CAPABILITY ${capabilities}\r\n${tag} OK done\r\n`;
    case 'LOGIN':
    case 'AUTHENTICATE':
      return `${tag} OK [CAPABILITY IMAP4rev1] logged in\r\n`;
    case 'LIST':
      return `* LIST (\\HasNoChildren) "/" INBOX\r\n${tag} OK done\r\n`;
    case 'SELECT':
    case 'EXAMINE':
      return `* 2 EXISTS\r\n* FLAGS (\\Seen \\Deleted)\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT 3] ok\r\n${tag} OK [${command === 'SELECT' ? 'READ-WRITE' : 'READ-ONLY'}] done\r\n`;
    case 'LOGOUT':
      return `* BYE bye\r\n${tag} OK done\r\n`;
    default:
      return `${tag} OK done\r\n`;
  }
};

export async function startScriptedImap(respond: Responder, opts: { capabilities?: string } = {}): Promise<ScriptedImap> {
  const capabilities = opts.capabilities ?? 'IMAP4rev1';
  const BASE = base(capabilities);
  const commands: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.write(`* OK [CAPABILITY ${capabilities}] scripted IMAP server ready\r\n`);
    let buf = Buffer.alloc(0);
    let pending = ''; // the command so far, while a literal is being read
    let literal = 0;
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        if (literal > 0) {
          if (buf.length < literal) return;
          pending += buf.subarray(0, literal).toString('utf8');
          buf = buf.subarray(literal);
          literal = 0;
        }
        const nl = buf.indexOf('\r\n');
        if (nl < 0) return;
        const part = buf.subarray(0, nl).toString('utf8');
        buf = buf.subarray(nl + 2);
        const m = /\{(\d+)\}$/.exec(part);
        if (m) {
          pending += part.slice(0, m.index);
          literal = Number(m[1]);
          socket.write('+ go ahead\r\n');
          continue;
        }
        const line = pending + part;
        pending = '';
        commands.push(line);
        const words = line.split(' ');
        const tag = words[0] ?? '*';
        let command = (words[1] ?? '').toUpperCase();
        if (command === 'UID') command = `UID ${(words[2] ?? '').toUpperCase()}`;
        const answer = respond(tag, command, line) ?? BASE(tag, command, line);
        if (answer) socket.write(answer);
        if (command === 'LOGOUT') socket.end();
      }
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port,
    commands,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
