// A private Dovecot for differential tests and benchmarks: its own config, state and Maildir in a temp dir,
// one user, plaintext LOGIN on 127.0.0.1 (loopback only). Nothing system-wide is touched.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface DovecotInstance {
  host: string;
  port: number;
  user: string;
  password: string;
  dir: string;
  process: ChildProcess;
  /** Dovecot's log so far (its stderr), for failure messages. */
  log(): string;
  /** Resolves true once the log matches (it may lag the event that caused it), false after timeoutMs. */
  waitForLog(pattern: RegExp, timeoutMs: number): Promise<boolean>;
  stop(): Promise<void>;
}

/** Null when no dovecot binary is installed (tests skip with a message). */
export function dovecotBinary(): string | null {
  for (const p of ['/usr/sbin/dovecot', '/usr/local/sbin/dovecot']) {
    const r = spawnSync(p, ['--version'], { encoding: 'utf8' });
    if (r.status === 0) return p;
  }
  return null;
}

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function uidOf(name: string): number | null {
  const r = spawnSync('id', ['-u', name], { encoding: 'utf8' });
  return r.status === 0 ? Number(r.stdout.trim()) : null;
}

export interface DovecotOptions {
  extraConfig?: string;
  /** PEM files for STARTTLS (otherwise plaintext only). */
  tls?: { certFile: string; keyFile: string };
}

export async function startDovecot(options: DovecotOptions = {}): Promise<DovecotInstance> {
  const bin = dovecotBinary();
  if (!bin) throw new Error('dovecot is not installed (Debian: apt-get install dovecot-imapd)');
  const dir = mkdtempSync(join(tmpdir(), 'mailstack-dovecot-'));
  chmodSync(dir, 0o755);
  const user = 'tester';
  const password = 'secret';
  const isRoot = process.getuid?.() === 0;
  // As root, mail processes must run as an unprivileged uid (Dovecot refuses uid 0); otherwise everything runs
  // as the current user.
  const mailUid = isRoot ? (uidOf('nobody') ?? 65534) : process.getuid!();
  const mailGid = isRoot ? 65534 : process.getgid!();
  const me = spawnSync('id', ['-un'], { encoding: 'utf8' }).stdout.trim();
  for (const d of ['run', 'state', 'home']) mkdirSync(join(dir, d));
  if (isRoot) chownSync(join(dir, 'home'), mailUid, mailGid);
  writeFileSync(join(dir, 'users'), `${user}:{PLAIN}${password}::::::\n`);
  const port = await freePort();
  const conf = `
base_dir = ${dir}/run
state_dir = ${dir}/state
instance_name = mailstack-test-${port}
protocols = imap
listen = 127.0.0.1
log_path = /dev/stderr
info_log_path = /dev/stderr
${options.tls ? `ssl = yes\nssl_cert = <${options.tls.certFile}\nssl_key = <${options.tls.keyFile}` : 'ssl = no'}
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:${dir}/home/%u/Maildir
mail_uid = ${mailUid}
mail_gid = ${mailGid}
first_valid_uid = ${Math.min(mailUid, 1)}
first_valid_gid = 0
mmap_disable = yes
${isRoot ? '' : `default_login_user = ${me}\ndefault_internal_user = ${me}\n`}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${dir}/users
}
userdb {
  driver = static
  args = uid=${mailUid} gid=${mailGid} home=${dir}/home/%u
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = ${port}
  }
  inet_listener imaps {
    port = 0
  }
}
service anvil {
  chroot =
}
service imap-login {
  chroot =
}
${options.extraConfig ?? ''}
`;
  const confPath = join(dir, 'dovecot.conf');
  writeFileSync(confPath, conf);
  const child = spawn(bin, ['-c', confPath, '-F'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      log += chunk.toString();
      // The master logs this line after it has bound its listeners.
      if (log.includes('starting up')) {
        child.stderr!.off('data', onData);
        resolve();
      }
    };
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`dovecot exited (${code}) before starting:\n${log}`)));
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-20000);
  });
  return {
    host: '127.0.0.1',
    port,
    user,
    password,
    dir,
    process: child,
    log: () => log,
    waitForLog: (pattern, timeoutMs) =>
      new Promise<boolean>((resolve) => {
        if (pattern.test(log)) return resolve(true);
        const onData = () => {
          if (pattern.test(log)) finish(true);
        };
        const timer = setTimeout(() => finish(false), timeoutMs);
        const finish = (v: boolean) => {
          clearTimeout(timer);
          child.stderr!.off('data', onData);
          resolve(v);
        };
        child.stderr!.on('data', onData);
      }),
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
