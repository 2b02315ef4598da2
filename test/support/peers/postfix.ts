/**
 * A private Postfix 3.7 instance as an SMTP capture peer (root, Debian 12).
 *
 * `postfix -c DIR/etc start` with its own main.cf/master.cf, queue and data
 * directory under a fresh temp dir; smtpd listens only on 127.0.0.1:<free port>.
 * Every accepted message, for any recipient in any domain, is delivered by
 * virtual(8) into a single Maildir (`maildir`). Several instances can run at
 * once (separate config/queue/data dirs, syslog_name, log file and port).
 */
import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ensurePackages,
  failStart,
  logTailOf,
  readLogFile,
  readPidFile,
  freePort,
  isAlive,
  pidsMentioning,
  processTree,
  reap,
  run,
  runChecked,
  sleep,
  waitForPort,
} from './apt.ts';

export const POSTFIX_PACKAGES = ['postfix'];

/** uid/gid owning the capture Maildir (virtual(8) delivers as this; need not exist in /etc/passwd). */
export const CAPTURE_UID = 5000;
export const CAPTURE_GID = 5000;

export interface PostfixOptions {
  /** `smtputf8_enable` (default true): advertise SMTPUTF8 and accept UTF-8 envelopes. */
  smtputf8?: boolean;
  /** Short name ([a-z0-9-]) used in the temp dir, syslog_name and myhostname. */
  name?: string;
}

export interface CapturedMessage {
  /** Absolute path of the Maildir file. */
  file: string;
  /** Raw bytes as delivered (LF line endings; virtual(8) prepends Return-Path and Delivered-To). */
  raw: Buffer;
}

export interface PostfixPeer {
  host: '127.0.0.1';
  port: number;
  /** Whether SMTPUTF8 is enabled on this instance. */
  smtputf8: boolean;
  /** Hostname in the banner/EHLO. */
  hostname: string;
  /** Temp dir holding everything of this instance. */
  dir: string;
  /** Postfix config dir (for `postfix -c` / `postconf -c`). */
  configDir: string;
  /** The Maildir all recipients are delivered to (has cur/ new/ tmp/). */
  maildir: string;
  /** Postfix's own log (maillog_file). */
  logFile: string;
  /** Messages in maildir new/ and cur/, oldest first (by delivery order). */
  readMaildir(): Promise<CapturedMessage[]>;
  /** Wait until at least `count` messages are in the Maildir; throws with the log tail on timeout. */
  waitForMessages(count: number, timeoutMs?: number): Promise<CapturedMessage[]>;
  /** Remove all delivered messages (between tests). */
  clearMaildir(): Promise<void>;
  /** Contents of the Postfix log so far. */
  readLog(): Promise<string>;
  /** Live pids of this instance (master and children). */
  pids(): Promise<number[]>;
  /** `postfix -c DIR stop`, kill leftovers, remove the temp dir. Idempotent. */
  stop(): Promise<void>;
}

function log(msg: string): void {
  process.stderr.write(`[peers/postfix] ${msg}\n`);
}

export async function startPostfix(opts: PostfixOptions = {}): Promise<PostfixPeer> {
  const started = Date.now();
  const smtputf8 = opts.smtputf8 ?? true;
  const name = opts.name ?? 'pf';
  if (!/^[a-z0-9][a-z0-9-]{0,30}$/.test(name)) {
    throw new Error(`postfix peer name must match [a-z0-9-]{1,31}: ${JSON.stringify(name)}`);
  }
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new Error('the Postfix peer needs root (postfix start is reserved for the superuser)');
  }
  await ensurePackages(POSTFIX_PACKAGES);

  const dir = await mkdtemp(`/tmp/pf-${name}-`);
  await chmod(dir, 0o755); // virtual(8) runs as the capture uid and must traverse it
  const configDir = join(dir, 'etc');
  const queueDir = join(dir, 'queue');
  const dataDir = join(dir, 'data');
  const mailBase = join(dir, 'mail');
  const maildir = join(mailBase, 'capture');
  const logFile = join(dir, 'maillog');
  const id = dir.slice(-6).toLowerCase().replace(/[^a-z0-9]/g, 'x');
  const hostname = `${name}-${id}.mailroom.test`;
  const syslogName = `postfix-${name}-${id}`;

  let stopped = false;
  let masterPid: number | undefined;

  const readPid = (): Promise<number | undefined> => readPidFile(join(queueDir, 'pid', 'master.pid'));
  const readLog = (): Promise<string> => readLogFile(logFile);
  const logTail = (): Promise<string> => logTailOf(logFile);

  const pids = async (): Promise<number[]> => {
    const pid = masterPid ?? (await readPid());
    const tree = pid === undefined ? [] : await processTree(pid);
    // Postfix daemons inherit MAIL_CONFIG=<configDir> (import_environment).
    for (const p of await pidsMentioning(configDir)) if (!tree.includes(p)) tree.push(p);
    return tree;
  };

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    const before = await pids();
    if (before.length > 0) {
      await run('postfix', ['-c', configDir, 'stop'], { daemon: true });
      await reap(before, 5000);
    }
    await rm(dir, { recursive: true, force: true });
  };

  try {
    await mkdir(configDir, { mode: 0o755 });
    await mkdir(queueDir, { mode: 0o755 });
    await mkdir(dataDir, { mode: 0o700 });
    const pf = await postfixIds();
    await chown(dataDir, pf.uid, pf.gid);
    await mkdir(mailBase, { mode: 0o755 });
    await chown(mailBase, CAPTURE_UID, CAPTURE_GID);
    for (const sub of ['', 'tmp', 'new', 'cur']) {
      const d = join(maildir, sub);
      await mkdir(d, { mode: 0o700 });
      await chown(d, CAPTURE_UID, CAPTURE_GID);
    }

    // The port is picked by binding port 0 and closing again, so another
    // process may take it before smtpd binds it: retry with a fresh port.
    const env = { ...process.env, MAIL_CONFIG: configDir };
    await writeFile(
      join(configDir, 'main.cf'),
      renderMainCf({ dir, queueDir, dataDir, mailBase, logFile, hostname, syslogName, smtputf8 }),
    );
    let port = 0;
    for (let attempt = 1; port === 0; attempt++) {
      const candidate = await freePort();
      await writeFile(join(configDir, 'master.cf'), renderMasterCf(candidate));
      const r = await run('postfix', ['-c', configDir, 'start'], { env, daemon: true });
      if (r.code === 0) {
        port = candidate;
        break;
      }
      const why = `${r.stdout}${r.stderr}\n${await logTail()}`;
      if (attempt < 3 && /address already in use/i.test(why)) {
        log(`port clash, retrying: ${why.trim()}`);
        await run('postfix', ['-c', configDir, 'stop'], { env, daemon: true });
        continue;
      }
      throw new Error(`postfix -c ${configDir} start exited ${r.code}: ${why}`);
    }
    const alive = async (): Promise<string | undefined> => {
      masterPid ??= await readPid();
      if (masterPid === undefined || isAlive(masterPid)) return undefined;
      return await logTail();
    };
    await waitForPort('127.0.0.1', port, 15000, '220', alive);
    masterPid ??= await readPid();

    const readMaildir = async (): Promise<CapturedMessage[]> => {
      const items: Array<CapturedMessage & { key: string }> = [];
      for (const sub of ['new', 'cur']) {
        let names: string[] = [];
        try {
          names = await readdir(join(maildir, sub));
        } catch {
          continue;
        }
        for (const n of names) {
          const file = join(maildir, sub, n);
          try {
            items.push({ file, raw: await readFile(file), key: n });
          } catch {
            // moved between readdir and readFile
          }
        }
      }
      // Maildir names start with "<seconds>.<unique>": sort by time, then name.
      items.sort((a, b) => {
        const ta = Number(a.key.split('.')[0]);
        const tb = Number(b.key.split('.')[0]);
        return ta !== tb ? ta - tb : a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
      });
      return items.map(({ file, raw }) => ({ file, raw }));
    };

    const waitForMessages = async (count: number, timeoutMs = 10000): Promise<CapturedMessage[]> => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const msgs = await readMaildir();
        if (msgs.length >= count) return msgs;
        if (Date.now() >= deadline) {
          throw new Error(
            `timed out after ${timeoutMs} ms waiting for ${count} message(s) in ${maildir} ` +
              `(have ${msgs.length})\n--- maillog ---\n${await logTail()}`,
          );
        }
        await sleep(50);
      }
    };

    const clearMaildir = async (): Promise<void> => {
      for (const m of await readMaildir()) await rm(m.file, { force: true });
    };

    log(`started "${name}" in ${Date.now() - started} ms: smtp 127.0.0.1:${port}, smtputf8=${smtputf8 ? 'yes' : 'no'}, dir ${dir}`);
    return {
      host: '127.0.0.1',
      port,
      smtputf8,
      hostname,
      dir,
      configDir,
      maildir,
      logFile,
      readMaildir,
      waitForMessages,
      clearMaildir,
      readLog,
      pids,
      stop,
    };
  } catch (e) {
    return failStart('Postfix', logFile, e, stop);
  }
}

async function postfixIds(): Promise<{ uid: number; gid: number }> {
  const r = await runChecked('getent', ['passwd', 'postfix']);
  const f = r.stdout.trim().split(':');
  const uid = Number(f[2]);
  const gid = Number(f[3]);
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) throw new Error(`cannot parse passwd entry: ${r.stdout}`);
  return { uid, gid };
}

interface MainCfParams {
  dir: string;
  queueDir: string;
  dataDir: string;
  mailBase: string;
  logFile: string;
  hostname: string;
  syslogName: string;
  smtputf8: boolean;
}

function renderMainCf(p: MainCfParams): string {
  return `# private Postfix test peer (generated by test/support/peers/postfix.ts)
compatibility_level = 3.6
queue_directory = ${p.queueDir}
data_directory = ${p.dataDir}
meta_directory = /etc/postfix
syslog_name = ${p.syslogName}
maillog_file = ${p.logFile}
maillog_file_prefixes = ${p.dir}
mail_owner = postfix
setgid_group = postdrop

myhostname = ${p.hostname}
mydomain = mailroom.test
myorigin = $myhostname
smtpd_banner = $myhostname ESMTP
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
relay_domains =
relayhost =
alias_maps =
alias_database =
local_recipient_maps =
mynetworks = 127.0.0.0/8
mynetworks_style = host
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_recipient_restrictions =
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
biff = no
append_dot_mydomain = no
smtputf8_enable = ${p.smtputf8 ? 'yes' : 'no'}
line_length_limit = 16384
message_size_limit = 104857600
mailbox_size_limit = 0
virtual_mailbox_limit = 0
delay_warning_time = 0h
maximal_queue_lifetime = 1h
bounce_queue_lifetime = 1h
queue_run_delay = 10s
minimal_backoff_time = 5s
maximal_backoff_time = 30s
recipient_delimiter =
notify_classes =
smtpd_tls_security_level = none
smtp_tls_security_level = none

# Everything, for any domain, goes into one Maildir.
virtual_mailbox_domains = static:all
virtual_mailbox_base = ${p.mailBase}
virtual_mailbox_maps = static:capture/
virtual_uid_maps = static:${CAPTURE_UID}
virtual_gid_maps = static:${CAPTURE_GID}
virtual_minimum_uid = 100
virtual_transport = virtual
virtual_destination_concurrency_limit = 5
`;
}

/** master.cf with no chroot anywhere (the Debian default chroots into the queue dir). */
function renderMasterCf(port: number): string {
  return `# private Postfix test peer (generated by test/support/peers/postfix.ts)
# service   type  private unpriv  chroot  wakeup  maxproc command
127.0.0.1:${port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`;
}
