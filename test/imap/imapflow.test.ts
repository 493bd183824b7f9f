// A real client from npm (imapflow) against the server: login, list, append, fetch, search, flags, move,
// CONDSTORE, IDLE with a delivery.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ImapFlow } from 'imapflow';
import { startHarness, message, PASSWORD } from './harness.ts';
import { sessionBugs } from '../../src/imap/index.ts';

test('imapflow', async (t) => {
  const h = await startHarness();
  t.after(() => h.close());
  for (let i = 1; i <= 3; i++) await h.deliver(message(`Flow ${i}`, `flow body ${i}`));
  const client = new ImapFlow({
    host: '127.0.0.1',
    port: h.tlsPort,
    secure: true,
    tls: { rejectUnauthorized: false },
    auth: { user: 'alice@example.org', pass: PASSWORD },
    logger: false,
  });
  await client.connect();
  t.after(() => client.logout().catch(() => {}));

  await t.test('list and status', async () => {
    const list = await client.list();
    const inbox = list.find((m) => m.path === 'INBOX');
    assert.ok(inbox);
    assert.ok(list.some((m) => m.specialUse === '\\Sent'), JSON.stringify(list.map((m) => [m.path, m.specialUse])));
    const st = await client.status('INBOX', { messages: true, unseen: true, uidNext: true });
    assert.ok(st);
    assert.equal(st.messages, 3);
  });

  await t.test('open, fetch envelope/source/bodystructure, search', async () => {
    const box = await client.mailboxOpen('INBOX');
    assert.equal(box.exists, 3);
    const seen: string[] = [];
    for await (const m of client.fetch('1:*', { envelope: true, uid: true, flags: true, bodyStructure: true, source: true })) {
      seen.push(m.envelope!.subject!);
      assert.ok(m.source!.toString().includes(`flow body ${m.seq}`));
      assert.equal(m.bodyStructure!.type, 'text/plain');
    }
    assert.deepEqual(seen, ['Flow 1', 'Flow 2', 'Flow 3']);
    const found = await client.search({ body: 'flow body 2' });
    assert.deepEqual(found, [2]);
    const uids = await client.search({ subject: 'Flow' }, { uid: true });
    assert.deepEqual(uids, [1, 2, 3]);
  });

  await t.test('append, flags, copy, move, delete', async () => {
    const res = await client.append('INBOX', message('Appended by imapflow'), ['\\Draft']);
    assert.ok(res && res.uid);
    await client.messageFlagsAdd({ uid: String(res.uid) }, ['\\Seen', '$Label1'], { uid: true });
    const m = await client.fetchOne(String(res.uid), { flags: true }, { uid: true });
    assert.ok(m && m.flags!.has('\\Seen') && m.flags!.has('$Label1'));
    await client.mailboxCreate('Imapflow');
    const moved = await client.messageMove({ uid: String(res.uid) }, 'Imapflow', { uid: true });
    assert.ok(moved);
    const st = await client.status('Imapflow', { messages: true });
    assert.ok(st);
    assert.equal(st.messages, 1);
    await client.messageDelete('1', {});
    const st2 = await client.status('INBOX', { messages: true });
    assert.ok(st2);
    assert.equal(st2.messages, 2);
  });

  await t.test('IDLE reports a new delivery', async () => {
    await client.mailboxOpen('INBOX');
    const exists = new Promise<number>((resolve) => client.once('exists', (d: { count: number }) => resolve(d.count)));
    const idling = client.idle();
    await new Promise((r) => setImmediate(r));
    await h.deliver(message('Pushed'));
    assert.equal(await exists, 3);
    void idling;
  });

  assert.equal(sessionBugs.count, 0);
});
