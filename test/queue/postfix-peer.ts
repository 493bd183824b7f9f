// A private Postfix instance for tests and benchmarks: `postfix -c CONFDIR` with its own queue and data
// directories under a temp dir, an smtpd on 127.0.0.1:PORT (STARTTLS offered), delivering peer.test to
// Maildirs with virtual(8), and optionally relaying everything else to a relayhost (for the queue benchmark).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync, chmodSync, chownSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { makeSelfSigned } from '../../src/server/index.ts';

const NOBODY = 65534;

export function postfixAvailable(): boolean {
  return process.getuid?.() === 0 && spawnSync('sh', ['-c', 'command -v postfix && id postfix']).status === 0;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function run(cmd: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args);
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('close', (code) => resolve({ code, output }));
  });
}

export interface Postfix {
  port: number;
  vmail: string;
  log: string;
  stop(): Promise<void>;
}

export async function startPostfix(root: string, options: { relayPort?: number } = {}): Promise<Postfix> {
  const conf = join(root, 'conf');
  const data = join(root, 'data');
  const vmail = join(root, 'vmail');
  for (const d of [conf, join(root, 'queue'), data, vmail]) mkdirSync(d, { recursive: true });
  chmodSync(root, 0o755);
  chownSync(data, Number(spawnSync('id', ['-u', 'postfix']).stdout.toString().trim()), 0);
  chownSync(vmail, NOBODY, NOBODY);
  await makeSelfSigned('postfix.peer.test', join(root, 'tls'), join(root, 'tls', 'key.pem'), join(root, 'tls', 'cert.pem'));
  chmodSync(join(root, 'tls'), 0o755);
  const port = await freePort();
  writeFileSync(
    join(conf, 'main.cf'),
    [
      'compatibility_level = 3.6',
      `queue_directory = ${join(root, 'queue')}`,
      `data_directory = ${data}`,
      'myhostname = postfix.peer.test',
      'mydestination =',
      'inet_interfaces = 127.0.0.1',
      'inet_protocols = ipv4',
      'mynetworks = 127.0.0.0/8',
      `maillog_file_prefixes = ${root}`,
      `maillog_file = ${join(root, 'postfix.log')}`,
      'alias_maps =',
      'alias_database =',
      'biff = no',
      ...(options.relayPort
        ? [`relayhost = [127.0.0.1]:${options.relayPort}`, 'default_transport = smtp', 'relay_transport = smtp']
        : ['default_transport = error:no outbound mail from the test peer', 'relay_transport = error:no outbound mail from the test peer']),
      'virtual_mailbox_domains = peer.test',
      `virtual_mailbox_maps = texthash:${join(conf, 'vmailbox')}`,
      `virtual_mailbox_base = ${vmail}`,
      `virtual_uid_maps = static:${NOBODY}`,
      `virtual_gid_maps = static:${NOBODY}`,
      'virtual_minimum_uid = 100',
      'virtual_transport = virtual',
      // Relaying (benchmark only) is for mynetworks, as in the reference main.cf.
      `smtpd_relay_restrictions = ${options.relayPort ? 'permit_mynetworks, ' : ''}reject_unauth_destination`,
      `smtpd_recipient_restrictions = ${options.relayPort ? 'permit_mynetworks, ' : ''}reject_unauth_destination, permit`,
      'smtpd_tls_security_level = may',
      `smtpd_tls_cert_file = ${join(root, 'tls', 'cert.pem')}`,
      `smtpd_tls_key_file = ${join(root, 'tls', 'key.pem')}`,
      'smtpd_tls_received_header = yes',
      '',
    ].join('\n'),
  );
  writeFileSync(join(conf, 'vmailbox'), 'bob@peer.test peer.test/bob/\n');
  writeFileSync(join(conf, 'master.cf'), readFileSync('/usr/share/postfix/master.cf.dist', 'utf8'));
  for (const args of [['-M#', 'smtp/inet'], ['-M', `127.0.0.1:${port}/inet=127.0.0.1:${port} inet n - n - - smtpd`], ['-F', '*/*/chroot = n']]) {
    const r = await run('postconf', ['-c', conf, ...args]);
    assert.equal(r.code, 0, r.output);
  }
  const started = await run('postfix', ['-c', conf, 'start']);
  assert.equal(started.code, 0, `postfix start failed: ${started.output} ${existsSync(join(root, 'postfix.log')) ? readFileSync(join(root, 'postfix.log'), 'utf8') : ''}`);
  return {
    port,
    vmail,
    log: join(root, 'postfix.log'),
    stop: async () => {
      await run('postfix', ['-c', conf, 'stop']);
    },
  };
}

