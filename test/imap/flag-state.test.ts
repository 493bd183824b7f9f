// The shared mailbox state (src/imap/mailbox-state.ts): FETCH of UID/FLAGS/MODSEQ is answered from memory,
// so these tests check that memory against the store after every kind of change, made by another session,
// by a delivery, or by a store caller that is not an IMAP session at all (the admin CLI path).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, message, type Harness, type ImapClient } from './harness.ts';
import { MailboxState } from '../../src/imap/mailbox-state.ts';
import { sessionBugs } from '../../src/imap/index.ts';

/** The store's own answer for FETCH 1:* (UID FLAGS), as the lines a correct server sends. */
async function truth(h: Harness, mailbox = 'INBOX'): Promise<string[]> {
  const box = await h.store.mail.getMailbox(h.user.id, mailbox);
  const messages = await h.store.mail.listMessages(box!.id);
  return messages.map((m, i) => `* ${i + 1} FETCH (UID ${m.uid} FLAGS (${m.flags.join(' ')}))`);
}

/** FETCH 1:* (UID FLAGS) after a NOOP, so that the answer holds no unsolicited updates. */
async function fetchFlags(c: ImapClient): Promise<string[]> {
  await c.ok('NOOP');
  return (await c.ok('FETCH 1:* (UID FLAGS)')).untagged;
}

test('FETCH FLAGS from the shared mailbox state', async (t) => {
  const h = await startHarness();
  t.after(() => h.close());
  for (let i = 1; i <= 6; i++) await h.deliver(message(`S${i}`));
  const a = await h.client();
  const b = await h.client();
  await a.ok('SELECT INBOX');
  await b.ok('SELECT INBOX');
  assert.equal(MailboxState.liveCount(h.store), 1, 'two sessions on one mailbox share one state');
  assert.deepEqual(await fetchFlags(b), await truth(h));

  await t.test("another session's flag change, append with flags and expunge reach FETCH after NOOP", async () => {
    await a.ok('STORE 2:3 +FLAGS (\\Flagged $Work)');
    await a.ok('STORE 4 FLAGS (\\Deleted)');
    await a.ok('APPEND INBOX (\\Seen $Later) {' + Buffer.byteLength(message('S7')) + '+}\r\n' + message('S7'));
    await a.ok('EXPUNGE');
    const n = await b.ok('NOOP');
    assert.ok(n.untagged.includes('* 4 EXPUNGE'), n.untagged.join('\n'));
    assert.ok(n.untagged.includes('* 7 EXISTS'), n.untagged.join('\n'));
    const got = await fetchFlags(b);
    assert.deepEqual(got, await truth(h));
    assert.ok(got.includes('* 6 FETCH (UID 7 FLAGS (\\Seen $Later))'), got.join('\n'));
    assert.ok(got.includes('* 2 FETCH (UID 2 FLAGS (\\Flagged $Work))'), got.join('\n'));
  });

  await t.test('a change made through the store (not by an IMAP session) is seen: the state follows the feed', async () => {
    const box = await h.store.mail.getMailbox(h.user.id, 'INBOX');
    await h.store.mail.updateFlags(box!.id, [1, 5], 'add', ['\\Answered']);
    await h.store.mail.expunge(box!.id, [6]);
    await h.deliver(message('S8'));
    const n = await b.ok('NOOP');
    assert.ok(n.untagged.includes('* 1 FETCH (UID 1 FLAGS (\\Answered))'), n.untagged.join('\n'));
    assert.deepEqual(await fetchFlags(b), await truth(h));
    assert.deepEqual(await fetchFlags(a), await truth(h));
  });

  await t.test('an expunge not yet reported: FETCH keeps the old numbers, NOOP then agrees with the store', async () => {
    await a.ok('UID STORE 2 +FLAGS.SILENT (\\Deleted)');
    await a.ok('UID EXPUNGE 2');
    const during = await b.ok('FETCH 1:* (UID)');
    assert.ok(!during.untagged.some((l) => /EXPUNGE/.test(l)), 'no EXPUNGE during FETCH by sequence number');
    assert.ok(during.untagged.includes('* 2 FETCH (UID 2)') === false, 'the expunged message has no data left');
    assert.ok(during.untagged.includes('* 3 FETCH (UID 3)'), during.untagged.join('\n'));
    await b.ok('NOOP');
    assert.deepEqual(await fetchFlags(b), await truth(h));
    // After the expunge the session's map is its own copy; later deliveries still extend it correctly.
    await h.deliver(message('S9'));
    const n = await b.ok('NOOP');
    assert.match(n.untagged.join('\n'), /\* \d+ EXISTS/);
    assert.deepEqual(await fetchFlags(b), await truth(h));
  });

  await t.test('own APPEND ahead of a queued delivery: both messages, in UID order', async () => {
    await h.deliver(message('S10'));
    const size = Buffer.byteLength(message('S11'));
    await b.ok(`APPEND INBOX {${size}+}\r\n${message('S11')}`);
    assert.deepEqual(await fetchFlags(b), await truth(h));
  });

  await t.test('CHANGEDSINCE and MODSEQ come from the state', async () => {
    const sel = await b.ok('SELECT INBOX (CONDSTORE)');
    const highest = Number(/HIGHESTMODSEQ (\d+)/.exec(sel.untagged.join('\n'))![1]);
    await a.ok('UID STORE 1,3 +FLAGS (\\Seen)');
    const r = await b.ok(`UID FETCH 1:* (FLAGS) (CHANGEDSINCE ${highest})`);
    const box = await h.store.mail.getMailbox(h.user.id, 'INBOX');
    const changed = await h.store.mail.changedSince(box!.id, highest);
    assert.deepEqual(changed.map((m) => m.uid), [1, 3]);
    const expected = changed.map((m) => `FETCH (UID ${m.uid} FLAGS (${m.flags.join(' ')}) MODSEQ (${m.modseq}))`);
    // The answer (and the unsolicited updates after it, of the same two messages) name only UIDs 1 and 3.
    for (const e of expected) assert.ok(r.untagged.some((l) => l.endsWith(e)), `${e}\n${r.untagged.join('\n')}`);
    assert.deepEqual([...new Set(r.untagged.map((l) => /UID (\d+)/.exec(l)?.[1]).filter(Boolean))].sort(), ['1', '3']);
    const all = await b.ok('FETCH 1:* (MODSEQ)');
    const messages = await h.store.mail.listMessages(box!.id);
    assert.deepEqual(all.untagged.filter((l) => /MODSEQ/.test(l)), messages.map((m, i) => `* ${i + 1} FETCH (MODSEQ (${m.modseq}))`));
  });

  await t.test('the state is released with its last session and reloaded fresh afterwards', async () => {
    const linger = MailboxState.lingerMs;
    MailboxState.lingerMs = 0;
    t.after(() => {
      MailboxState.lingerMs = linger;
    });
    await a.ok('LOGOUT').catch(() => undefined);
    await b.ok('UNSELECT');
    assert.equal(MailboxState.liveCount(h.store), 0);
    // A change while nobody has the mailbox selected, then a new SELECT: loaded from the store again.
    const box = await h.store.mail.getMailbox(h.user.id, 'INBOX');
    await h.store.mail.updateFlags(box!.id, [1], 'add', ['$Fresh']);
    await b.ok('SELECT INBOX');
    assert.deepEqual(await fetchFlags(b), await truth(h));
    assert.equal(sessionBugs.count, 0);
  });
});

test('a bulk STORE by another session: one FETCH per message at NOOP, in order, and the state agrees', async (t) => {
  const h = await startHarness();
  t.after(() => h.close());
  const n = 300;
  for (let i = 1; i <= n; i++) await h.deliver(message(`B${i}`));
  const a = await h.client();
  const b = await h.client();
  await a.ok('SELECT INBOX');
  await b.ok('SELECT INBOX');
  await a.ok('STORE 1:* +FLAGS.SILENT (\\Seen)');
  const r = await b.ok('NOOP');
  const fetches = r.untagged.filter((l) => / FETCH /.test(l));
  assert.equal(fetches.length, n);
  assert.deepEqual(fetches, Array.from({ length: n }, (_, i) => `* ${i + 1} FETCH (UID ${i + 1} FLAGS (\\Seen))`));
  // a's own STORE is not echoed back to a.
  const own = await a.ok('NOOP');
  assert.deepEqual(own.untagged, []);
  assert.deepEqual(await fetchFlags(b), await truth(h));
  // Messages that already had \Seen: nothing changes, nothing is reported.
  await a.ok('STORE 1:* +FLAGS.SILENT (\\Seen)');
  assert.deepEqual((await b.ok('NOOP')).untagged, []);
  assert.equal(sessionBugs.count, 0);
});

test('a deleted and recreated mailbox does not reuse the old state', async (t) => {
  const h = await startHarness();
  t.after(() => h.close());
  const a = await h.client();
  const b = await h.client();
  await a.ok('CREATE Box');
  await a.ok(`APPEND Box (\\Flagged) {${Buffer.byteLength(message('D1'))}+}\r\n${message('D1')}`);
  await b.ok('SELECT Box');
  await a.ok('DELETE Box');
  await a.ok('CREATE Box');
  await a.ok(`APPEND Box {${Buffer.byteLength(message('D2'))}+}\r\n${message('D2')}`);
  await a.ok('SELECT Box');
  assert.deepEqual(await fetchFlags(a), await truth(h, 'Box'));
  // b learns that its mailbox went away.
  b.write('N1 NOOP\r\n');
  assert.match(await b.readLine(), /^\* BYE /);
});

test('the state outgrows its arrays while sessions are selected: their views follow, expunges included', async (t) => {
  const h = await startHarness();
  t.after(() => h.close());
  const a = await h.client();
  const b = await h.client();
  await a.ok('SELECT INBOX');
  await b.ok('SELECT INBOX');
  // An empty mailbox starts with room for 64 messages: 150 deliveries grow the arrays twice.
  for (let i = 1; i <= 150; i++) {
    await h.deliver(message(`G${i}`));
    if (i % 50 === 0) await a.ok('NOOP');
  }
  assert.ok((await b.ok('NOOP')).untagged.includes('* 150 EXISTS'));
  assert.deepEqual(await fetchFlags(a), await truth(h));
  assert.deepEqual(await fetchFlags(b), await truth(h));
  await a.ok('STORE 10:20 +FLAGS.SILENT (\\Deleted)');
  await a.ok('EXPUNGE');
  for (let i = 151; i <= 200; i++) await h.deliver(message(`G${i}`));
  await a.ok('UID STORE 100:* +FLAGS.SILENT ($Late)');
  assert.deepEqual(await fetchFlags(b), await truth(h));
  assert.deepEqual(await fetchFlags(a), await truth(h));
  assert.equal(sessionBugs.count, 0);
});

test('SEARCH on flags and MODSEQ answers from the state, after changes by another session', async (t) => {
  const h = await startHarness();
  t.after(() => h.close());
  for (let i = 1; i <= 12; i++) await h.deliver(message(`Q${i}`));
  const a = await h.client();
  const b = await h.client();
  await a.ok('SELECT INBOX');
  const sel = await b.ok('SELECT INBOX (CONDSTORE)');
  const highest = Number(/HIGHESTMODSEQ (\d+)/.exec(sel.untagged.join('\n'))![1]);
  await a.ok('UID STORE 2,4,6 +FLAGS (\\Seen $Work)');
  await a.ok('UID STORE 3 +FLAGS (\\Flagged)');
  await b.ok('NOOP');
  const box = await h.store.mail.getMailbox(h.user.id, 'INBOX');
  const messages = await h.store.mail.listMessages(box!.id);
  const expect = (f: (m: (typeof messages)[number]) => boolean) => `* SEARCH ${messages.filter(f).map((m) => m.uid).join(' ')}`.trimEnd();
  assert.deepEqual((await b.ok('UID SEARCH UNSEEN')).untagged, [expect((m) => !m.flags.includes('\\Seen'))]);
  assert.deepEqual((await b.ok('UID SEARCH KEYWORD $Work')).untagged, [expect((m) => m.flags.includes('$Work'))]);
  assert.deepEqual((await b.ok('UID SEARCH OR FLAGGED SEEN')).untagged, [expect((m) => m.flags.includes('\\Flagged') || m.flags.includes('\\Seen'))]);
  const modseq = (await b.ok(`UID SEARCH MODSEQ ${highest + 1}`)).untagged;
  const changed = messages.filter((m) => m.modseq > highest);
  assert.deepEqual(modseq, [`* SEARCH ${changed.map((m) => m.uid).join(' ')} (MODSEQ ${Math.max(...changed.map((m) => m.modseq))})`]);
  assert.equal(sessionBugs.count, 0);
});

test('a released state lingers, follows the feed meanwhile, and serves the next SELECT without a store read', async (t) => {
  const h = await startHarness();
  t.after(() => h.close());
  for (let i = 1; i <= 5; i++) await h.deliver(message(`L${i}`));
  const box = await h.store.mail.getMailbox(h.user.id, 'INBOX');
  let lists = 0;
  const list = h.store.mail.listMessages.bind(h.store.mail);
  h.store.mail.listMessages = (id: number) => {
    if (id === box!.id) lists++;
    return list(id);
  };
  const c = await h.client();
  await c.ok('SELECT INBOX');
  assert.equal(lists, 1);
  await c.ok('SELECT Drafts');
  // While nobody has INBOX selected: a flag change, an expunge and a delivery.
  await h.store.mail.updateFlags(box!.id, [2], 'add', ['\\Flagged']);
  await h.store.mail.expunge(box!.id, [3]);
  await h.deliver(message('L6'));
  await c.ok('SELECT INBOX');
  assert.equal(lists, 1, 'the lingering state was reused');
  h.store.mail.listMessages = list;
  assert.deepEqual(await fetchFlags(c), await truth(h));
  assert.equal(sessionBugs.count, 0);
});
