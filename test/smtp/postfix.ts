// A private Postfix instance (Debian's postfix package) for tests: its own config, queue and data
// directories under a temp dir, smtpd on a free 127.0.0.1 port, virtual domains handed to a transport we
// choose (lmtp:inet:127.0.0.1:PORT). Needs root (postfix drops to the postfix user itself). Stopped and
// removed by stop().
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { chmod, chown, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';

const run = promisify(execFile);

export interface PostfixInstance {
  dir: string;
  port: number;
  log(): Promise<string>;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Whether this machine can run a private Postfix (installed, and we are root). */
export function postfixAvailable(): boolean {
  try {
    execFileSync('postconf', ['-d', 'mail_version'], { stdio: 'ignore' });
    return process.getuid?.() === 0;
  } catch {
    return false;
  }
}

async function waitForPort(port: number, attempts = 100): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50)); // bounded retry while master binds, not a synchronisation sleep
  }
  throw new Error(`postfix did not listen on ${port}`);
}

export async function startPostfix(options: { transport: string; domains: string[]; extraMainCf?: string[] }): Promise<PostfixInstance> {
  const dir = await mkdtemp(join(tmpdir(), 'mailstack-postfix-'));
  // Postfix daemons run as the postfix user and must reach the queue below this directory.
  await chmod(dir, 0o755);
  const port = await freePort();
  const uid = Number((await run('id', ['-u', 'postfix'])).stdout.trim());
  await mkdir(join(dir, 'queue'));
  await mkdir(join(dir, 'data'));
  await chown(join(dir, 'data'), uid, -1);
  await copyFile('/usr/share/postfix/master.cf.dist', join(dir, 'master.cf'));
  const mainCf = [
    'compatibility_level = 3.6',
    `queue_directory = ${dir}/queue`,
    `data_directory = ${dir}/data`,
    'mail_owner = postfix',
    'myhostname = relay.postfix.test',
    'mydomain = postfix.test',
    'mydestination =',
    'inet_interfaces = 127.0.0.1',
    'inet_protocols = ipv4',
    'mynetworks = 127.0.0.0/8',
    'alias_maps =',
    'alias_database =',
    'biff = no',
    `maillog_file_prefixes = ${tmpdir()}`,
    `maillog_file = ${dir}/postfix.log`,
    `virtual_mailbox_domains = ${options.domains.join(' ')}`,
    'virtual_mailbox_maps = static:OK',
    `virtual_transport = ${options.transport}`,
    'default_transport = error:no outbound mail from the test instance',
    'relay_transport = error:no outbound mail from the test instance',
    'smtpd_relay_restrictions = permit_mynetworks, reject',
    ...(options.extraMainCf ?? []),
  ];
  await writeFile(join(dir, 'main.cf'), mainCf.join('\n') + '\n');
  await run('postconf', ['-c', dir, '-M#', 'smtp/inet']);
  await run('postconf', ['-c', dir, '-M', `127.0.0.1:${port}/inet=127.0.0.1:${port} inet n - n - - smtpd`]);
  await run('postconf', ['-c', dir, '-F', '*/*/chroot = n']);
  const stop = async () => {
    const pid = Number((await readFile(join(dir, 'queue', 'pid', 'master.pid'), 'utf8').catch(() => '')).trim());
    await run('postfix', ['-c', dir, 'stop']).catch(() => undefined);
    // `postfix stop` only signals the master: wait (bounded) until it is gone before removing its files.
    for (let i = 0; pid > 0 && i < 200; i++) {
      try {
        process.kill(pid, 0);
      } catch {
        break;
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await run('postfix', ['-c', dir, 'start']);
    await waitForPort(port);
  } catch (err) {
    const log = await readFile(join(dir, 'postfix.log'), 'utf8').catch(() => '');
    await stop();
    throw new Error(`postfix did not start: ${(err as Error).message}\n${log}`);
  }
  return { dir, port, log: () => readFile(join(dir, 'postfix.log'), 'utf8').catch(() => ''), stop };
}
