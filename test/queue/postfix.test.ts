// Delivery from the queue to a real Postfix (Debian's) on loopback, found through the test DNS server's MX:
// a private instance (`postfix -c CONFDIR`) with its own queue and data directories in a temp dir,
// delivering to Maildirs with the virtual(8) agent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, watch, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deliverLocal } from '../../src/delivery/index.ts';
import { MESSAGE, nextEvent, startHarness } from './harness.ts';
import { postfixAvailable, startPostfix } from './postfix-peer.ts';

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

test('delivery to a real Postfix over STARTTLS; its 550 for an unknown user bounces', { skip: !postfixAvailable() }, async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'queue-postfix-'));
  const postfix = await startPostfix(root).catch((err: unknown) => {
    rmSync(root, { recursive: true, force: true });
    throw err;
  });
  // Stop first, then remove: `postfix -c DIR stop` needs its config directory to find the master.
  t.after(async () => {
    await postfix.stop();
    rmSync(root, { recursive: true, force: true });
  });

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
