/**
 * A private Dovecot 2.3 instance for IMAP tests (run as root on Debian 12).
 *
 * Config, TLS cert, passwd file, runtime dir and mail store all live in a fresh
 * temp dir under /tmp (kept short: unix socket paths are limited to 108 bytes).
 * Listens on free high loopback ports only: plain IMAP, implicit-TLS IMAPS and
 * LMTP. Mail is stored as Maildir (Maildir++ layout, `/` as the IMAP hierarchy
 * separator, so `Eingang/Ärger` is a sub-folder) owned by a non-root uid.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ensurePackages,
  failStart,
  logTailOf,
  readPidFile,
  freePorts,
  isAlive,
  processTree,
  reap,
  run,
  runChecked,
  sleep,
  waitForPort,
} from './apt.ts';

export const DOVECOT_PACKAGES = ['dovecot-core', 'dovecot-imapd', 'dovecot-lmtpd', 'openssl'];

/** uid/gid that owns the mail store and that Dovecot switches to (need not exist in /etc/passwd). */
export const MAIL_UID = 5000;
export const MAIL_GID = 5000;

export interface DovecotUser {
  user: string;
  password: string;
}

export interface DovecotOptions {
  /** Initial users; defaults to alice@example.test / bob@example.test. */
  users?: DovecotUser[];
}

export interface DovecotPeer {
  host: '127.0.0.1';
  /** Plain IMAP (no STARTTLS needed; plaintext LOGIN/AUTH PLAIN allowed). */
  imapPort: number;
  /** Implicit TLS IMAP with the self-signed certificate below. */
  imapsPort: number;
  /** LMTP listener (no auth), e.g. for Postfix `virtual_transport = lmtp:inet:127.0.0.1:PORT`. */
  lmtpPort: number;
  /** Temp dir holding everything of this instance. */
  dir: string;
  /** Path of the config file (for `doveadm -c`). */
  configFile: string;
  /** Current users (addUser() appends). */
  users: DovecotUser[];
  /** The Maildir root of a user (INBOX is its cur/new/tmp; folders are `.Name` subdirs). */
  mailDir(user: string): string;
  /** SHA-256 of the certificate DER, uppercase hex with colons (as Node's `fingerprint256`). */
  certFingerprint256: string;
  /** Same fingerprint as plain lowercase hex without separators. */
  certFingerprint256Hex: string;
  /** PEM of the self-signed certificate (CN=localhost, SAN DNS:localhost, IP:127.0.0.1). */
  certPem: string;
  /** Add (or re-add with a new password) a user; effective immediately. */
  addUser(user: string, password: string): Promise<void>;
  /**
   * Store a raw RFC 5322 message for `user` in `folder` (default INBOX) with
   * `doveadm save`; the folder (UTF-8 name, `/` separated) is created and
   * subscribed if missing.
   */
  deliver(user: string, rawMessage: Buffer, folder?: string): Promise<void>;
  /** Live pids of this instance (master and children). */
  pids(): Promise<number[]>;
  /** Stop Dovecot, kill leftovers, remove the temp dir. Idempotent. */
  stop(): Promise<void>;
}

const DEFAULT_USERS: DovecotUser[] = [
  { user: 'alice@example.test', password: 'alice-secret' },
  { user: 'bob@example.test', password: 'bob-secret' },
];

function checkCredential(user: string, password: string): void {
  // passwd-file is ':'-separated and line-based; PLAIN scheme stores the password as is.
  if (!user || /[:\s/\\]/.test(user) || user.startsWith('.')) {
    throw new Error(`unsupported user name for the Dovecot peer: ${JSON.stringify(user)}`);
  }
  if (/[:\r\n]/.test(password)) {
    throw new Error('passwords for the Dovecot peer must not contain ":" or line breaks');
  }
}

function log(msg: string): void {
  process.stderr.write(`[peers/dovecot] ${msg}\n`);
}

export async function startDovecot(opts: DovecotOptions = {}): Promise<DovecotPeer> {
  const started = Date.now();
  await ensurePackages(DOVECOT_PACKAGES);

  const users: DovecotUser[] = [...(opts.users ?? DEFAULT_USERS)];
  for (const u of users) checkCredential(u.user, u.password);

  const dir = await mkdtemp('/tmp/dv-');
  await chmod(dir, 0o755); // the mail uid and Dovecot's internal users must traverse it
  const runDir = join(dir, 'r');
  const stateDir = join(dir, 'state');
  const mailRoot = join(dir, 'mail');
  const configFile = join(dir, 'dovecot.conf');
  // One passwd-file per user (path `users/%u`): Dovecot re-checks a loaded
  // passwd-file at most once per second, so appending to a single file right
  // after a login would go unnoticed; a new user's file is always read fresh.
  const usersDir = join(dir, 'users');
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  const logFile = join(dir, 'dovecot.log');

  let masterPid: number | undefined;
  let stopped = false;

  const readPid = (): Promise<number | undefined> => readPidFile(join(runDir, 'master.pid'));
  const logTail = (): Promise<string> => logTailOf(logFile);

  const pids = async (): Promise<number[]> => {
    const pid = masterPid ?? (await readPid());
    return pid === undefined ? [] : processTree(pid);
  };

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    const before = await pids();
    const pid = before[0];
    if (pid !== undefined) {
      // What `doveadm stop` does (SIGTERM to master.pid), minus its ~1 s
      // polling granularity; the master exits after ~1 s, children before it.
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        await run('doveadm', ['-c', configFile, 'stop']);
      }
      await reap(before, 8000);
    } else if (existsSync(configFile)) {
      await run('doveadm', ['-c', configFile, 'stop']);
    }
    await rm(dir, { recursive: true, force: true });
  };

  try {
    await mkdir(runDir, { mode: 0o755 });
    await mkdir(stateDir, { mode: 0o755 });
    await mkdir(mailRoot, { mode: 0o755 });
    await chown(mailRoot, MAIL_UID, MAIL_GID);

    // Self-signed certificate.
    await runChecked('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
      '-keyout', keyFile, '-out', certFile,
      '-subj', '/CN=localhost', '-days', '2',
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ]);
    await chmod(keyFile, 0o600);
    const certPem = await readFile(certFile, 'utf8');
    const x509 = new X509Certificate(certPem);
    const certFingerprint256 = x509.fingerprint256.toUpperCase();
    const certFingerprint256Hex = certFingerprint256.replace(/:/g, '').toLowerCase();

    await mkdir(usersDir, { mode: 0o755 });
    for (const u of users) await writeUserFile(usersDir, u);

    // Ports are picked by binding port 0 and closing again, so another
    // process may take one before Dovecot binds it: retry with fresh ports.
    let ports: [number, number, number] | undefined;
    for (let attempt = 1; ports === undefined; attempt++) {
      const candidate = (await freePorts(3)) as [number, number, number];
      const [imapPort, imapsPort, lmtpPort] = candidate;
      await writeFile(
        configFile,
        renderConfig({
          instance: `dv-${dir.slice(-6)}`, runDir, stateDir, mailRoot, usersDir, certFile, keyFile, logFile,
          imapPort, imapsPort, lmtpPort,
        }),
      );
      const r = await run('dovecot', ['-c', configFile], { daemon: true });
      if (r.code === 0) ports = candidate;
      else if (attempt < 3 && /in use/i.test(r.stderr + r.stdout)) log(`port clash, retrying: ${r.stderr.trim()}`);
      else throw new Error(`dovecot -c ${configFile} exited ${r.code}: ${r.stderr}${r.stdout}`);
    }
    const [imapPort, imapsPort, lmtpPort] = ports;
    masterPid = await readPid();
    const alive = async (): Promise<string | undefined> => {
      const pid = masterPid ?? (await readPid());
      masterPid = pid;
      if (pid !== undefined && isAlive(pid)) return undefined;
      if (pid === undefined) return undefined; // not written yet
      return await logTail();
    };
    await waitForPort('127.0.0.1', imapPort, 15000, '* OK', alive);
    await waitForPort('127.0.0.1', imapsPort, 15000, undefined, alive);
    await waitForPort('127.0.0.1', lmtpPort, 15000, '220', alive);
    masterPid ??= await readPid();

    const mailDir = (user: string): string => join(mailRoot, user, 'Maildir');

    const addUser = async (user: string, password: string): Promise<void> => {
      checkCredential(user, password);
      const existing = users.findIndex((u) => u.user === user);
      if (existing >= 0) {
        users[existing] = { user, password };
        // Changed password: make the file's mtime differ from what Dovecot
        // loaded and let the second in which it last checked the file pass.
        const before = await stat(join(usersDir, user));
        await writeUserFile(usersDir, { user, password });
        const t = new Date(Math.max(Date.now(), before.mtimeMs) + 2000);
        await utimes(join(usersDir, user), t, t);
        await sleep(1050 - (Date.now() % 1000));
      } else {
        users.push({ user, password });
        await writeUserFile(usersDir, { user, password });
      }
    };

    const deliver = async (user: string, rawMessage: Buffer, folder = 'INBOX'): Promise<void> => {
      if (folder.toUpperCase() !== 'INBOX') {
        const r = await run('doveadm', ['-c', configFile, 'mailbox', 'create', '-s', '-u', user, folder]);
        if (r.code !== 0 && !/exists/i.test(r.stderr + r.stdout)) {
          throw new Error(`doveadm mailbox create ${folder} failed (${r.code}): ${r.stderr}${r.stdout}`);
        }
      }
      const r = await run('doveadm', ['-c', configFile, 'save', '-u', user, '-m', folder], { input: rawMessage });
      if (r.code !== 0) throw new Error(`doveadm save -u ${user} -m ${folder} failed (${r.code}): ${r.stderr}`);
    };

    log(`started in ${Date.now() - started} ms: imap ${imapPort}, imaps ${imapsPort}, lmtp ${lmtpPort}, dir ${dir}`);
    return {
      host: '127.0.0.1',
      imapPort,
      imapsPort,
      lmtpPort,
      dir,
      configFile,
      users,
      mailDir,
      certFingerprint256,
      certFingerprint256Hex,
      certPem,
      addUser,
      deliver,
      pids,
      stop,
    };
  } catch (e) {
    return failStart('Dovecot', logFile, e, stop);
  }
}

/** Atomically write `users/<user>` containing `user:{PLAIN}password`. */
async function writeUserFile(usersDir: string, u: DovecotUser): Promise<void> {
  const file = join(usersDir, u.user);
  await writeFile(`${file}.tmp`, `${u.user}:{PLAIN}${u.password}\n`, { mode: 0o644 });
  await rename(`${file}.tmp`, file);
}

interface ConfigParams {
  instance: string;
  runDir: string;
  stateDir: string;
  mailRoot: string;
  usersDir: string;
  certFile: string;
  keyFile: string;
  logFile: string;
  imapPort: number;
  imapsPort: number;
  lmtpPort: number;
}

function renderConfig(p: ConfigParams): string {
  return `# private Dovecot test peer (generated by test/support/peers/dovecot.ts)
protocols = imap lmtp
listen = 127.0.0.1
instance_name = ${p.instance}
base_dir = ${p.runDir}
state_dir = ${p.stateDir}
log_path = ${p.logFile}
hostname = imap.example.test
postmaster_address = postmaster@example.test

ssl = yes
ssl_cert = <${p.certFile}
ssl_key = <${p.keyFile}
disable_plaintext_auth = no
auth_mechanisms = plain login
# Tests provoke failed logins on purpose: answer them quickly (Dovecot still
# batches failures every 0.5 s). The per-IP auth penalty (2, 4, 8.. s delays for
# every later login from 127.0.0.1) is disabled below via anvil-auth-penalty.
auth_failure_delay = 0

mail_location = maildir:${p.mailRoot}/%u/Maildir
mail_uid = ${MAIL_UID}
mail_gid = ${MAIL_GID}
first_valid_uid = ${MAIL_UID}
first_valid_gid = ${MAIL_GID}
mail_plugins = listescape
protocol imap {
  mail_max_userip_connections = 100
}

namespace inbox {
  inbox = yes
  separator = /
  mailbox Drafts {
    special_use = \\Drafts
    auto = subscribe
  }
  mailbox Sent {
    special_use = \\Sent
    auto = subscribe
  }
  mailbox Trash {
    special_use = \\Trash
    auto = subscribe
  }
  mailbox Junk {
    special_use = \\Junk
    auto = subscribe
  }
}

passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${p.usersDir}/%u
}
userdb {
  driver = static
  args = uid=${MAIL_UID} gid=${MAIL_GID} home=${p.mailRoot}/%u allow_all_users=yes
}

service anvil {
  chroot =
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service imap-login {
  chroot =
  inet_listener imap {
    address = 127.0.0.1
    port = ${p.imapPort}
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = ${p.imapsPort}
    ssl = yes
  }
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = ${p.lmtpPort}
  }
}
`;
}
