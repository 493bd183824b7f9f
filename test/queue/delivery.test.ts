// The outbound queue delivering to real SMTP receivers on loopback, found through the test DNS server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deliverLocal } from '../../src/delivery/index.ts';
import type { Store } from '../../src/store/index.ts';
import { MESSAGE, nextEvent, smtpError, startHarness, startReceiver, type ReceivedMessage } from './harness.ts';

function publishMx(dns: { set: (n: string, t: 'MX' | 'A', v: (string | { exchange: string; priority: number })[]) => void }, domain: string, hosts: [string, number, string][]) {
  dns.set(domain, 'MX', hosts.map(([exchange, priority]) => ({ exchange, priority })));
  for (const [exchange, , ip] of hosts) dns.set(exchange, 'A', [ip]);
}

/** Resolves with the next message stored in that user's INBOX. */
async function nextInboxMessage(store: Store, address: string): Promise<string> {
  const user = (await store.accounts.getUser(address))!;
  const inbox = (await store.mail.getMailbox(user.id, 'INBOX'))!;
  const uid = await new Promise<number>((resolve) => {
    const off = store.changes.subscribe(inbox.id, (c) => {
      if (c.kind === 'exists') {
        off();
        resolve(c.uid);
      }
    });
  });
  const [meta] = await store.mail.getMessages(inbox.id, [uid]);
  return (await store.mail.getBody(meta!.bodyId)).toString();
}

async function localSender(store: Store): Promise<void> {
  await store.accounts.addDomain('local.test');
  await store.accounts.addUser({ address: 'alice@local.test', passwordHash: 'x' });
}

test('a receiver answering 451 twice then 250 gets the message on the third attempt', async (t) => {
  const receiver = await startReceiver(t, {
    onRcpt: (_address, attempt) => {
      if (attempt <= 2) throw smtpError(451, '4.3.0 Try again later');
    },
  });
  const h = await startHarness(t, { smtp_port: receiver.port });
  publishMx(h.dns, 'remote.test', [['mx.remote.test', 10, '127.0.0.1']]);
  const attempts: string[] = [];
  h.queue.events.on('attempt', (a) => attempts.push(a.results.map((r) => `${r.outcome}:${r.status}`).join()));
  const delivered = nextEvent<ReceivedMessage>(receiver.events, 'message');
  const removed = nextEvent(h.queue.events, 'removed');
  const id = await h.queue.enqueue('alice@local.test', ['bob@remote.test'], MESSAGE);
  const message = await delivered;
  assert.deepEqual(await removed, { queueId: id });
  assert.deepEqual(attempts, ['deferred:4.3.0', 'deferred:4.3.0', 'delivered:2.0.0']);
  assert.equal(message.from, 'alice@local.test');
  assert.deepEqual(message.to, ['bob@remote.test']);
  assert.equal(message.raw.toString(), MESSAGE.toString(), 'the message arrives byte for byte (dot-stuffing undone)');
  assert.deepEqual(await h.store.queue.list(), []);
});

test('a 550 bounces: an RFC 3464 DSN lands in the local sender\'s INBOX', async (t) => {
  const receiver = await startReceiver(t, {
    onRcpt: (address) => {
      if (address === 'nobody@remote.test') throw smtpError(550, '5.1.1 <nobody@remote.test>: Recipient address rejected: User unknown');
    },
  });
  const h = await startHarness(t, { smtp_port: receiver.port }, { deliverLocal });
  await localSender(h.store);
  publishMx(h.dns, 'remote.test', [['mx.remote.test', 10, '127.0.0.1']]);
  const inbox = nextInboxMessage(h.store, 'alice@local.test');
  const removed = nextEvent<{ queueId: string }>(h.queue.events, 'removed', (e) => e.queueId !== '');
  const id = await h.queue.enqueue('alice@local.test', ['nobody@remote.test', 'bob@remote.test'], MESSAGE);
  const dsn = await inbox;
  const removedIds = [(await removed).queueId];
  if (removedIds[0] !== id) removedIds.push((await nextEvent<{ queueId: string }>(h.queue.events, 'removed', (e) => e.queueId === id)).queueId);
  assert.match(dsn, /^Return-Path: <>/m, 'a bounce has the null sender');
  assert.match(dsn, /Content-Type: multipart\/report; report-type=delivery-status/);
  assert.match(dsn, /Content-Type: message\/delivery-status/);
  assert.match(dsn, /Reporting-MTA: dns; mx\.local\.test/);
  assert.match(dsn, /Final-Recipient: rfc822; nobody@remote\.test\r\nAction: failed\r\nStatus: 5\.1\.1\r\nRemote-MTA: dns; mx\.remote\.test/);
  assert.match(dsn, /Diagnostic-Code: smtp; 550 5\.1\.1 <nobody@remote\.test>: Recipient address rejected/);
  assert.doesNotMatch(dsn, /Final-Recipient: rfc822; bob@remote\.test/, 'the delivered recipient is not in the bounce');
  assert.match(dsn, /Content-Type: text\/rfc822-headers[\s\S]*Subject: Queue test/);
  assert.match(dsn, /Auto-Submitted: auto-replied/);
  assert.equal(receiver.messages.length, 1);
  assert.deepEqual(receiver.messages[0]!.to, ['bob@remote.test']);
  assert.equal(await h.store.queue.get(id), null);
});

test('a null MX (RFC 7505) and a nonexistent domain fail at once with 5.1.10 and 5.1.2', async (t) => {
  const h = await startHarness(t, {});
  h.dns.set('nomail.test', 'MX', [{ exchange: '.', priority: 0 }]);
  const attempt = nextEvent<{ results: { address: string; outcome: string; status: string }[] }>(h.queue.events, 'attempt');
  await h.queue.enqueue('', ['a@nomail.test', 'b@nxdomain.test'], MESSAGE);
  const { results } = await attempt;
  const byAddress = Object.fromEntries(results.map((r) => [r.address, `${r.outcome}:${r.status}`]));
  assert.deepEqual(byAddress, { 'a@nomail.test': 'failed:5.1.10', 'b@nxdomain.test': 'failed:5.1.2' });
});

test('never a bounce for a message with the null sender', async (t) => {
  const receiver = await startReceiver(t, { onRcpt: () => { throw smtpError(550, '5.1.1 no'); } });
  const h = await startHarness(t, { smtp_port: receiver.port });
  publishMx(h.dns, 'remote.test', [['mx.remote.test', 10, '127.0.0.1']]);
  let dsns = 0;
  h.queue.events.on('dsn', () => dsns++);
  const removed = nextEvent(h.queue.events, 'removed');
  await h.queue.enqueue('', ['bob@remote.test'], MESSAGE);
  await removed;
  await h.queue.whenIdle();
  assert.equal(dsns, 0);
  assert.deepEqual(await h.store.queue.list(), []);
});

test('per-recipient results: delivered, failed and deferred in one transaction', async (t) => {
  const receiver = await startReceiver(t, {
    onRcpt: (address) => {
      if (address.startsWith('gone')) throw smtpError(550, '5.1.1 gone');
      if (address.startsWith('busy')) throw smtpError(452, '4.2.2 mailbox full');
    },
  });
  const h = await startHarness(t, { smtp_port: receiver.port, retry_min_ms: 60_000, retry_max_ms: 60_000 });
  publishMx(h.dns, 'remote.test', [['mx.remote.test', 10, '127.0.0.1']]);
  const attempt = nextEvent(h.queue.events, 'attempt');
  const id = await h.queue.enqueue('', ['ok@remote.test', 'gone@remote.test', 'busy@remote.test'], MESSAGE);
  await attempt;
  const entry = (await h.store.queue.get(id))!;
  const states = Object.fromEntries(entry.recipients.map((r) => [r.address, `${r.state}:${r.status}`]));
  assert.deepEqual(states, { 'ok@remote.test': 'delivered:2.0.0', 'gone@remote.test': 'failed:5.1.1', 'busy@remote.test': 'deferred:4.2.2' });
  const busy = entry.recipients.find((r) => r.address === 'busy@remote.test')!;
  assert.ok(busy.nextAttemptAt >= Date.now() + 30_000, 'the deferred recipient waits for its backoff');
  assert.match(busy.lastError ?? '', /452 4\.2\.2 mailbox full/);
  assert.deepEqual(receiver.messages.map((m) => m.to), [['ok@remote.test']]);
});

test('MX hosts are tried in preference order: an unreachable primary falls back to the secondary', async (t) => {
  const receiver = await startReceiver(t, { host: '127.0.0.1' });
  const h = await startHarness(t, { smtp_port: receiver.port });
  // 127.0.0.7 has nothing listening on the port: connection refused.
  publishMx(h.dns, 'remote.test', [['mx1.remote.test', 10, '127.0.0.7'], ['mx2.remote.test', 20, '127.0.0.1']]);
  const delivered = nextEvent<{ results: { remoteMta: string | null; outcome: string }[] }>(h.queue.events, 'attempt');
  await h.queue.enqueue('alice@local.test', ['bob@remote.test'], MESSAGE);
  const { results } = await delivered;
  assert.deepEqual(results.map((r) => `${r.outcome}@${r.remoteMta}`), ['delivered@mx2.remote.test']);
});

test('a domain without MX is delivered to its A record (implicit MX, RFC 5321 5.1)', async (t) => {
  const receiver = await startReceiver(t);
  const h = await startHarness(t, { smtp_port: receiver.port });
  h.dns.set('plain.test', 'A', ['127.0.0.1']);
  const delivered = nextEvent<ReceivedMessage>(receiver.events, 'message');
  await h.queue.enqueue('alice@local.test', ['carol@plain.test'], MESSAGE);
  assert.deepEqual((await delivered).to, ['carol@plain.test']);
});

test('internal MX addresses are refused unless allowed', async (t) => {
  const h = await startHarness(t, { allow_internal_destinations: false });
  publishMx(h.dns, 'remote.test', [['mx.remote.test', 10, '127.0.0.1']]);
  const attempt = nextEvent<{ results: { outcome: string; status: string }[] }>(h.queue.events, 'attempt');
  await h.queue.enqueue('', ['bob@remote.test'], MESSAGE);
  assert.deepEqual((await attempt).results.map((r) => `${r.outcome}:${r.status}`), ['failed:5.4.4']);
});

test('opportunistic STARTTLS is used when offered', async (t) => {
  const receiver = await startReceiver(t, { tls: true });
  const h = await startHarness(t, { smtp_port: receiver.port });
  publishMx(h.dns, 'remote.test', [['mx.remote.test', 10, '127.0.0.1']]);
  const delivered = nextEvent<{ secure: boolean }>(receiver.events, 'message');
  await h.queue.enqueue('alice@local.test', ['bob@remote.test'], MESSAGE);
  assert.equal((await delivered).secure, true);
});

test('TLS required per destination: no STARTTLS or an unverifiable certificate defers', async (t) => {
  const plain = await startReceiver(t, { host: '127.0.0.1' });
  const selfSigned = await startReceiver(t, { tls: true, host: '127.0.0.2', port: plain.port });
  const h = await startHarness(t, { smtp_port: plain.port, tls_policy: { 'plain.test': 'encrypt', 'selfsigned.test': 'verify' } });
  publishMx(h.dns, 'plain.test', [['mx.plain.test', 10, '127.0.0.1']]);
  publishMx(h.dns, 'selfsigned.test', [['mx.remote.test', 10, '127.0.0.2']]);
  const attempt = nextEvent<{ results: { address: string; outcome: string; status: string }[] }>(h.queue.events, 'attempt');
  await h.queue.enqueue('', ['a@plain.test', 'b@selfsigned.test'], MESSAGE);
  const results = Object.fromEntries((await attempt).results.map((r) => [r.address, `${r.outcome}:${r.status}`]));
  assert.deepEqual(results, { 'a@plain.test': 'deferred:4.7.5', 'b@selfsigned.test': 'deferred:4.7.5' });
  assert.equal(plain.messages.length + selfSigned.messages.length, 0);
});

test('consecutive messages to one domain share a connection', async (t) => {
  const receiver = await startReceiver(t);
  const h = await startHarness(t, { smtp_port: receiver.port, connection_cache_ms: 5000, per_destination_concurrency: 1 });
  publishMx(h.dns, 'remote.test', [['mx.remote.test', 10, '127.0.0.1']]);
  let removed = 0;
  const allRemoved = new Promise<void>((resolve) => h.queue.events.on('removed', () => ++removed === 3 && resolve()));
  for (let i = 0; i < 3; i++) await h.queue.enqueue('alice@local.test', [`bob${i}@remote.test`], MESSAGE);
  await allRemoved;
  assert.equal(receiver.messages.length, 3);
  assert.equal(receiver.connections, 1, 'one SMTP session carried all three messages');
});

test('the per-destination concurrency limit holds', async (t) => {
  let release!: () => void;
  const hold = new Promise<void>((resolve) => (release = resolve));
  const receiver = await startReceiver(t, { holdData: hold });
  const h = await startHarness(t, { smtp_port: receiver.port, per_destination_concurrency: 2, connection_cache_ms: 0 });
  publishMx(h.dns, 'remote.test', [['mx.remote.test', 10, '127.0.0.1']]);
  let removed = 0;
  const allRemoved = new Promise<void>((resolve) => h.queue.events.on('removed', () => ++removed === 5 && resolve()));
  let connected = 0;
  const twoConnected = new Promise<void>((resolve) => receiver.events.on('connection', () => ++connected === 2 && resolve()));
  for (let i = 0; i < 5; i++) await h.queue.enqueue('alice@local.test', [`bob${i}@remote.test`], MESSAGE);
  await twoConnected;
  release();
  await allRemoved;
  assert.equal(receiver.messages.length, 5);
  assert.equal(receiver.maxConcurrent, 2);
});

test('a message past its lifetime bounces with the last temporary error', async (t) => {
  const receiver = await startReceiver(t, { onRcpt: () => { throw smtpError(451, '4.7.1 greylisted'); } });
  // 0.00003 h = 108 ms of lifetime: the second or third attempt gives up.
  const h = await startHarness(t, { smtp_port: receiver.port, max_lifetime_hours: 0.00003 }, { deliverLocal });
  await localSender(h.store);
  publishMx(h.dns, 'remote.test', [['mx.remote.test', 10, '127.0.0.1']]);
  const inbox = nextInboxMessage(h.store, 'alice@local.test');
  await h.queue.enqueue('alice@local.test', ['bob@remote.test'], MESSAGE);
  const dsn = await inbox;
  assert.match(dsn, /Action: failed\r\nStatus: 4\.7\.1/);
  assert.match(dsn, /greylisted \(gave up: in the queue for more than/);
});

test('a delay warning is sent once while retries go on', async (t) => {
  const receiver = await startReceiver(t, { onRcpt: () => { throw smtpError(451, '4.7.1 greylisted'); } });
  const h = await startHarness(t, { smtp_port: receiver.port, delay_warning_hours: 0.000001 }, { deliverLocal });
  await localSender(h.store);
  publishMx(h.dns, 'remote.test', [['mx.remote.test', 10, '127.0.0.1']]);
  const inbox = nextInboxMessage(h.store, 'alice@local.test');
  const id = await h.queue.enqueue('alice@local.test', ['bob@remote.test'], MESSAGE);
  const dsn = await inbox;
  assert.match(dsn, /Subject: Delayed Mail/);
  assert.match(dsn, /Action: delayed\r\nStatus: 4\.7\.1/);
  assert.match(dsn, /Will-Retry-Until: /);
  let dsns = 0;
  h.queue.events.on('dsn', () => dsns++);
  await nextEvent(h.queue.events, 'attempt', (a: { queueId: string }) => a.queueId === id);
  await nextEvent(h.queue.events, 'attempt', (a: { queueId: string }) => a.queueId === id);
  assert.equal(dsns, 0, 'only one warning');
  assert.equal((await h.store.queue.get(id))?.meta['delayWarned'], true);
});

test('flush makes a deferred message due at once', async (t) => {
  let refuse = true;
  const receiver = await startReceiver(t, { onRcpt: () => { if (refuse) throw smtpError(451, '4.3.0 later'); } });
  const h = await startHarness(t, { smtp_port: receiver.port, retry_min_ms: 3_600_000, retry_max_ms: 3_600_000 });
  publishMx(h.dns, 'remote.test', [['mx.remote.test', 10, '127.0.0.1']]);
  const first = nextEvent(h.queue.events, 'attempt');
  const id = await h.queue.enqueue('alice@local.test', ['bob@remote.test'], MESSAGE);
  await first;
  refuse = false;
  const delivered = nextEvent(receiver.events, 'message');
  const result = await h.queue.adminHandlers['queue.flush']!({ id });
  assert.deepEqual(result, { count: 1 });
  await delivered;
});

test('a message above the receiver\'s SIZE limit fails at once with 5.3.4', async (t) => {
  const receiver = await startReceiver(t, { size: 100 });
  const h = await startHarness(t, { smtp_port: receiver.port });
  publishMx(h.dns, 'remote.test', [['mx.remote.test', 10, '127.0.0.1']]);
  const attempt = nextEvent<{ results: { outcome: string; status: string }[] }>(h.queue.events, 'attempt');
  await h.queue.enqueue('', ['bob@remote.test'], MESSAGE);
  assert.deepEqual((await attempt).results.map((r) => `${r.outcome}:${r.status}`), ['failed:5.3.4']);
  assert.equal(receiver.messages.length, 0);
});
