// deliverLocal against a real encrypted store: outcomes per recipient, forwards, loops, Junk, store failure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../src/store/index.ts';
import type { Store } from '../../src/store/types.ts';
import { deliverAndQueue, deliverLocal } from '../../src/delivery/index.ts';

const RAW = Buffer.from('From: a@sender.test\r\nSubject: s\r\n\r\nbody\r\n');

async function withStore(body: (store: Store) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'mailstack-delivery-'));
  const store = await openStore({ dir, key: randomBytes(32) });
  let closed = false;
  try {
    await store.accounts.addDomain('example.org');
    await store.accounts.addUser({ address: 'alice@example.org', passwordHash: '{PLAIN}x' });
    await store.accounts.addUser({ address: 'bob@example.org', passwordHash: '{PLAIN}x' });
    await store.accounts.addAlias('out@example.org', 'friend@remote.test');
    await store.accounts.addAlias('both@example.org', 'bob@example.org');
    await store.accounts.addAlias('both@example.org', 'friend@remote.test');
    await body(Object.assign(Object.create(store) as Store, { close: async () => { closed = true; await store.close(); } }));
  } finally {
    if (!closed) await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

async function inbox(store: Store, address: string, mailbox = 'INBOX'): Promise<string[]> {
  const user = (await store.accounts.getUser(address))!;
  const box = (await store.mail.getMailbox(user.id, mailbox))!;
  const metas = await store.mail.listMessages(box.id);
  return Promise.all(metas.map(async (m) => (await store.mail.getBody(m.bodyId)).toString()));
}

test('outcomes per recipient; remote alias targets come back as forwards for the caller to queue', async () => {
  await withStore(async (store) => {
    const outcomes = await deliverLocal(store, { raw: RAW, envelopeFrom: 'a@sender.test', recipients: ['alice@example.org', 'nobody@example.org', 'out@example.org', 'both@example.org', 'x@remote.test'] });
    assert.deepEqual(
      outcomes.map((o) => [o.address, o.status, o.forwards ?? []]),
      [
        ['alice@example.org', 'delivered', []],
        ['nobody@example.org', 'unknown', []],
        ['out@example.org', 'delivered', ['friend@remote.test']],
        ['both@example.org', 'delivered', ['friend@remote.test']],
        ['x@remote.test', 'unknown', []],
      ],
    );
    assert.equal((await inbox(store, 'alice@example.org')).length, 1);
    assert.equal((await inbox(store, 'bob@example.org')).length, 1);
  });
});

test('Return-Path replaced, Delivered-To added, prepended headers kept in order; a Delivered-To loop is refused', async () => {
  await withStore(async (store) => {
    const raw = Buffer.from('Return-Path: <forged@evil.test>\r\nFrom: a@sender.test\r\n\r\nbody\r\n');
    await deliverLocal(store, { raw, envelopeFrom: 'a@sender.test', recipients: ['alice@example.org'], prependHeaders: ['Received: from x by y; date', 'X-Test: 1'] });
    const [text] = await inbox(store, 'alice@example.org');
    assert.equal(text, 'Return-Path: <a@sender.test>\r\nDelivered-To: alice@example.org\r\nReceived: from x by y; date\r\nX-Test: 1\r\nFrom: a@sender.test\r\n\r\nbody\r\n');
    const again = await deliverLocal(store, { raw: Buffer.from(text!), envelopeFrom: 'a@sender.test', recipients: ['alice@example.org'] });
    assert.equal(again[0]!.status, 'unknown');
    assert.match(again[0]!.message, /loop/);
    assert.equal((await inbox(store, 'alice@example.org')).length, 1);
  });
});

test('junk goes to the \\Junk mailbox', async () => {
  await withStore(async (store) => {
    const [o] = await deliverLocal(store, { raw: RAW, envelopeFrom: '', recipients: ['bob@example.org'], junk: true });
    assert.equal(o!.status, 'delivered');
    assert.equal((await inbox(store, 'bob@example.org')).length, 0);
    assert.equal((await inbox(store, 'bob@example.org', 'Junk')).length, 1);
  });
});

test('deliverAndQueue: the local copies and the remote one (given and reached through aliases) in one store call', async () => {
  await withStore(async (store) => {
    const { outcomes, queued } = await deliverAndQueue(
      store,
      { raw: RAW, envelopeFrom: 'a@sender.test', recipients: ['alice@example.org', 'both@example.org', 'out@example.org'] },
      { outbound: { sender: 'a@sender.test', recipients: ['x@remote.test'], raw: RAW, forwards: true } },
    );
    assert.deepEqual(outcomes.map((o) => o.status), ['delivered', 'delivered', 'delivered']);
    assert.ok(queued);
    assert.deepEqual(queued.recipients.map((r) => r.address), ['x@remote.test', 'friend@remote.test'], 'each remote address once');
    assert.deepEqual((await store.queue.list()).map((e) => e.id), [queued.id]);
    assert.equal((await inbox(store, 'alice@example.org')).length, 1);
    assert.equal((await inbox(store, 'bob@example.org')).length, 1);
  });
});

test('deliverAndQueue: when the store refuses the delivery nothing is stored and nothing queued; forward-only recipients are queued alone', async () => {
  await withStore(async (store) => {
    // The store rejects the delivery after the local copies were written in its transaction (an entry without
    // recipients is invalid): the local copies go with it.
    const refusing = Object.assign(Object.create(store) as Store, {
      mail: Object.assign(Object.create(store.mail) as Store['mail'], {
        deliver: (input: Parameters<Store['mail']['deliver']>[0]) => store.mail.deliver({ ...input, ...(input.enqueue ? { enqueue: { ...input.enqueue, recipients: [] } } : {}) }),
      }),
    });
    const failed = await deliverAndQueue(refusing, { raw: RAW, envelopeFrom: 'a@sender.test', recipients: ['alice@example.org', 'both@example.org'] }, { outbound: { sender: 'a@sender.test', recipients: [], raw: RAW, forwards: true } });
    assert.deepEqual(failed.outcomes.map((o) => o.status), ['temp_failure', 'temp_failure']);
    assert.equal(failed.queued, null);
    assert.equal((await inbox(store, 'alice@example.org')).length, 0);
    assert.equal((await inbox(store, 'bob@example.org')).length, 0);
    assert.deepEqual(await store.queue.list(), []);
    // No local user among the recipients: the queue entry is the whole delivery.
    const onlyForwards = await deliverAndQueue(store, { raw: RAW, envelopeFrom: 'a@sender.test', recipients: ['out@example.org'] }, { outbound: { sender: 'a@sender.test', recipients: [], raw: RAW, forwards: true } });
    assert.deepEqual(onlyForwards.outcomes.map((o) => o.status), ['delivered']);
    assert.deepEqual(onlyForwards.queued?.recipients.map((r) => r.address), ['friend@remote.test']);
  });
});

test('a failing store is a temporary failure for every recipient, never a loss', async () => {
  await withStore(async (store) => {
    await store.close();
    const outcomes = await deliverLocal(store, { raw: RAW, envelopeFrom: 'a@sender.test', recipients: ['alice@example.org', 'bob@example.org'] });
    assert.deepEqual(outcomes.map((o) => o.status), ['temp_failure', 'temp_failure']);
  });
});

test('allOrNothing: a full mailbox stores nothing for anyone; a user without room is left out of an alias that reaches others', async () => {
  await withStore(async (store) => {
    await store.accounts.updateUser('bob@example.org', { quotaBytes: 10 });
    await store.accounts.addAlias('pair@example.org', 'alice@example.org');
    await store.accounts.addAlias('pair@example.org', 'bob@example.org');
    const refused = await deliverLocal(store, { raw: RAW, envelopeFrom: '', recipients: ['alice@example.org', 'bob@example.org'] }, { allOrNothing: true });
    assert.deepEqual(refused.map((o) => [o.address, o.status]), [['alice@example.org', 'over_quota'], ['bob@example.org', 'over_quota']]);
    assert.match(refused[0]!.message, /not delivered because <bob@example\.org> failed/);
    assert.equal((await inbox(store, 'alice@example.org')).length, 0);

    const viaAlias = await deliverLocal(store, { raw: RAW, envelopeFrom: '', recipients: ['pair@example.org'] }, { allOrNothing: true });
    assert.deepEqual(viaAlias.map((o) => o.status), ['delivered']);
    assert.equal((await inbox(store, 'alice@example.org')).length, 1);
    assert.equal((await inbox(store, 'bob@example.org')).length, 0);
  });
});
