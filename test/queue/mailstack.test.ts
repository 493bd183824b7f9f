// End to end between two mailstack instances: a user submits to instance A (submission, AUTH over
// STARTTLS), A signs with DKIM and queues the message, A's queue finds instance B through the test DNS
// server's MX and delivers over STARTTLS; B's MX checks SPF, DKIM and DMARC and stores it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTransport } from 'nodemailer';
import { deliverLocal } from '../../src/delivery/index.ts';
import { createSigner, dnsRecord, generateKey, saveKey, type Signer } from '../../src/dkim/index.ts';
import { startQueue, type RunningQueue } from '../../src/queue/index.ts';
import type { Store } from '../../src/store/types.ts';
import { PASSWORDS, startSmtpHarness } from '../smtp/harness.ts';
import { nextEvent } from './harness.ts';

function nextStored(store: Store, mailboxId: number): Promise<number> {
  return new Promise((resolve) => {
    const off = store.changes.subscribe(mailboxId, (c) => {
      if (c.kind === 'exists') {
        off();
        resolve(c.uid);
      }
    });
  });
}

test('submission on one mailstack reaches another mailstack MX, DKIM-signed and verified', async (t) => {
  const receiver = await startSmtpHarness({ mx: true });
  t.after(() => receiver.close());
  await receiver.store.accounts.addDomain('remote.test');
  const rita = await receiver.store.accounts.addUser({ address: 'rita@remote.test', passwordHash: 'x' });

  let queue: RunningQueue | null = null;
  let signer: Signer | null = null;
  const sender = await startSmtpHarness({
    mx: false,
    submission: true,
    // The queue and the signer need the harness's store and runtime: bound once they exist.
    queue: { enqueue: (from, to, raw) => queue!.enqueue(from, to, raw), accepted: (entry) => queue!.accepted(entry) },
    sign: (raw, domain) => signer!.sign(raw, domain),
    // No periodic scan during the test: the queue must take the new entry up when it is stored.
    config: { queue: { smtp_port: receiver.mx.port, allow_internal_destinations: true, scan_interval_ms: 3_600_000 } },
  });
  t.after(() => sender.close());
  signer = createSigner(sender.store);
  queue = startQueue(sender.runtime, { resolver: sender.resolver, deliverLocal });
  t.after(() => queue!.close());

  // DNS as the two operators would publish it.
  sender.dns.set('remote.test', 'MX', [{ exchange: 'mx.remote.test', priority: 10 }]);
  sender.dns.set('mx.remote.test', 'A', ['127.0.0.1']);
  const key = generateKey('example.org', 'mail', 'rsa');
  await saveKey(sender.store.secrets, key);
  receiver.dns.set('example.org', 'MX', [{ exchange: 'mx.example.org', priority: 10 }]);
  receiver.dns.set('example.org', 'A', ['127.0.0.1']);
  receiver.dns.set('mx.example.org', 'A', ['127.0.0.1']);
  receiver.dns.set('example.org', 'TXT', ['v=spf1 ip4:127.0.0.1 -all']);
  receiver.dns.set('_dmarc.example.org', 'TXT', ['v=DMARC1; p=reject']);
  receiver.dns.set(dnsRecord(key).name, 'TXT', [dnsRecord(key).value]);

  const inbox = (await receiver.store.mail.getMailbox(rita.id, 'INBOX'))!;
  const stored = nextStored(receiver.store, inbox.id);
  // A local recipient beside the remote one: bob's copy and the queue entry for rita are stored by one store
  // call (deliverAndQueue), and the running queue takes the entry up from there (QueuePort.accepted).
  const bob = (await sender.store.accounts.getUser('bob@example.org'))!;
  const bobInbox = (await sender.store.mail.getMailbox(bob.id, 'INBOX'))!;
  const attempt = nextEvent<{ results: { outcome: string; remoteMta: string | null }[] }>(queue.events, 'attempt');

  const transport = createTransport({
    host: sender.submission.host,
    port: sender.submission.port,
    secure: false,
    requireTLS: true,
    tls: { rejectUnauthorized: false },
    auth: { user: 'alice@example.org', pass: PASSWORDS.alice },
  });
  await transport.sendMail({
    from: 'Alice <alice@example.org>',
    to: 'Rita <rita@remote.test>, Bob <bob@example.org>',
    subject: 'From one mailstack to another',
    text: 'Signed, queued, delivered.',
  });
  transport.close();

  const attempted = await Promise.race([attempt, new Promise<null>((resolve) => setTimeout(() => resolve(null), 30_000).unref())]);
  assert.ok(attempted, 'the queue took up the entry stored with the local copy (no periodic scan runs here)');
  assert.deepEqual(attempted.results.map((r) => `${r.outcome}@${r.remoteMta}`), ['delivered@mx.remote.test']);
  assert.equal((await sender.store.mail.listMessages(bobInbox.id)).length, 1, 'the local copy stored once');
  const [meta] = await receiver.store.mail.getMessages(inbox.id, [await stored]);
  const raw = (await receiver.store.mail.getBody(meta!.bodyId)).toString();
  assert.match(raw, /^Subject: From one mailstack to another$/m);
  assert.match(raw, /^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed\/relaxed; d=example\.org;/m);
  const results = /^Authentication-Results:[^\r\n]*(\r\n[ \t][^\r\n]*)*/m.exec(raw)?.[0] ?? '';
  assert.match(results, /dkim=pass/, results);
  assert.match(results, /spf=pass/, results);
  assert.match(results, /dmarc=pass/, results);
  assert.match(raw, /Received: from mx\.example\.org[\s\S]*?(ESMTPS|TLS)/, 'the hop between the two used TLS');
});
