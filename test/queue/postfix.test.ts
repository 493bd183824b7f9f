// Delivery from the queue to a real Postfix (Debian's) on loopback, found through the test DNS server's MX:
// a private instance (`postfix -c CONFDIR`) with its own queue and data directories in a temp dir,
// delivering to Maildirs with the virtual(8) agent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, watch, writeFileSync, chmodSync, chownSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deliverLocal } from '../../src/delivery/index.ts';
import { makeSelfSigned } from '../../src/server/index.ts';
import { MESSAGE, nextEvent, startHarness } from './harness.ts';

const NOBODY = 65534;

function available(): boolean {
  return process.getuid?.() === 0 && spawnSync('sh', ['-c', 'command -v postfix && id postfix']).status === 0;
}

async function freePort(): Promise<number> {
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

interface Postfix {
  port: number;
  vmail: string;
  log: string;
  stop(): Promise<void>;
}

async function startPostfix(root: string): Promise<Postfix> {
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
      'default_transport = error:no outbound mail from the test peer',
      'relay_transport = error:no outbound mail from the test peer',
      'virtual_mailbox_domains = peer.test',
      `virtual_mailbox_maps = texthash:${join(conf, 'vmailbox')}`,
      `virtual_mailbox_base = ${vmail}`,
      `virtual_uid_maps = static:${NOBODY}`,
      `virtual_gid_maps = static:${NOBODY}`,
      'virtual_minimum_uid = 100',
      'virtual_transport = virtual',
      'smtpd_relay_restrictions = reject_unauth_destination',
      'smtpd_recipient_restrictions = reject_unauth_destination, permit',
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

/** Resolves with the first file that appears in a Maildir's new/ below `vmail`. */
function nextMaildirFile(vmail: string, user: string): Promise<string> {
  const newDir = join(vmail, 'peer.test', user, 'new');
  return new Promise((resolve) => {
    const check = () => {
      const files = existsSync(newDir) ? readdirSync(newDir) : [];
      if (files.length > 0) {
        watcher.close();
        resolve(readFileSync(join(newDir, files[0]!), 'utf8'));
      }
    };
    const watcher = watch(vmail, { recursive: true }, check);
    check();
  });
}

test('delivery to a real Postfix over STARTTLS; its 550 for an unknown user bounces', { skip: !available() }, async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'queue-postfix-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const postfix = await startPostfix(root);
  t.after(() => postfix.stop());

  const h = await startHarness(t, { smtp_port: postfix.port }, { deliverLocal });
  await h.store.accounts.addDomain('local.test');
  const alice = await h.store.accounts.addUser({ address: 'alice@local.test', passwordHash: 'x' });
  h.dns.set('peer.test', 'MX', [{ exchange: 'mx.peer.test', priority: 10 }]);
  h.dns.set('mx.peer.test', 'A', ['127.0.0.1']);

  const inMaildir = nextMaildirFile(postfix.vmail, 'bob');
  const inbox = (await h.store.mail.getMailbox(alice.id, 'INBOX'))!;
  const bounced = new Promise<number>((resolve) => {
    const off = h.store.changes.subscribe(inbox.id, (c) => {
      if (c.kind === 'exists') {
        off();
        resolve(c.uid);
      }
    });
  });
  const attempt = nextEvent<{ results: { address: string; outcome: string; status: string; remoteMta: string | null }[] }>(h.queue.events, 'attempt');
  await h.queue.enqueue('alice@local.test', ['bob@peer.test', 'nobody@peer.test'], MESSAGE);

  const results = Object.fromEntries((await attempt).results.map((r) => [r.address, `${r.outcome}:${r.status}:${r.remoteMta}`]));
  assert.deepEqual(results, { 'bob@peer.test': 'delivered:2.0.0:mx.peer.test', 'nobody@peer.test': 'failed:5.1.1:mx.peer.test' });

  const delivered = await inMaildir;
  assert.match(delivered, /^Subject: Queue test$/m);
  assert.match(delivered, /\r?\nHello Bob\.\r?\n\.leading dot line/, 'body intact, dot-stuffing undone by Postfix');
  assert.match(delivered, /Received: from mx\.local\.test \(localhost \[127\.0\.0\.1\]\)[\s\S]*?\(using TLSv1\.[23]/, 'Postfix saw a TLS session');

  const [meta] = await h.store.mail.getMessages(inbox.id, [await bounced]);
  const dsn = (await h.store.mail.getBody(meta!.bodyId)).toString();
  assert.match(dsn, /Final-Recipient: rfc822; nobody@peer\.test\r\nAction: failed\r\nStatus: 5\.1\.1/);
  assert.match(dsn, /Diagnostic-Code: smtp; 550 5\.1\.1 <nobody@peer\.test>/);
});
