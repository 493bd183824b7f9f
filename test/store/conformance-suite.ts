// The Store contract as tests, written against the interface only: every backend (the embedded SQLite
// store now, a PostgreSQL one later) runs this same suite through runStoreConformance.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { MailboxChange, Store, User } from '../../src/store/index.ts';
import { StoreError } from '../../src/store/index.ts';

export interface StoreHarness {
  store: Store;
  /** Closes the store and opens it again on the same data. */
  reopen(): Promise<Store>;
  /** Closes whatever is open and removes the data. */
  cleanup(): Promise<void>;
}

export type MakeStore = () => Promise<StoreHarness>;

function message(subject: string, body = 'Hello there.\r\n', extraHeaders = ''): Buffer {
  return Buffer.from(
    `From: Alice <alice@example.org>\r\nTo: bob@example.test\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, '')}@example.org>\r\n` +
      `Date: Mon, 2 Mar 2026 10:00:00 +0000\r\n${extraHeaders}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${body}`,
  );
}

async function rejectsWith(promise: Promise<unknown>, code: StoreError['code']): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof StoreError, `expected a StoreError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return true;
  });
}

async function withStore(makeStore: MakeStore, fn: (store: Store, harness: StoreHarness) => Promise<void>): Promise<void> {
  const harness = await makeStore();
  try {
    await fn(harness.store, harness);
  } finally {
    await harness.cleanup();
  }
}

async function userWithDomain(store: Store, address = 'bob@example.test', quotaBytes?: number): Promise<User> {
  const domain = address.slice(address.indexOf('@') + 1);
  if (!(await store.accounts.hasDomain(domain))) await store.accounts.addDomain(domain);
  return store.accounts.addUser(quotaBytes === undefined ? { address, passwordHash: '$2b$10$hash' } : { address, passwordHash: '$2b$10$hash', quotaBytes });
}

async function inboxOf(store: Store, user: User): Promise<number> {
  const inbox = await store.mail.getMailbox(user.id, 'INBOX');
  assert.ok(inbox);
  return inbox.id;
}

export function runStoreConformance(name: string, makeStore: MakeStore): void {
  describe(`Store conformance: ${name}`, () => {
    test('domains: add, list, has, duplicate refused', () =>
      withStore(makeStore, async (store) => {
        const domain = await store.accounts.addDomain('Example.TEST');
        assert.equal(domain.name, 'example.test');
        assert.equal(await store.accounts.hasDomain('example.test'), true);
        assert.equal(await store.accounts.hasDomain('other.test'), false);
        await rejectsWith(store.accounts.addDomain('example.test'), 'exists');
        await rejectsWith(store.accounts.addDomain('not a domain'), 'invalid');
        assert.deepEqual((await store.accounts.listDomains()).map((d) => d.name), ['example.test']);
      }));

    test('users: add, lookup case-insensitively, update, list by domain, delete', () =>
      withStore(makeStore, async (store) => {
        await rejectsWith(store.accounts.addUser({ address: 'x@nodomain.test', passwordHash: 'h' }), 'not_found');
        const bob = await userWithDomain(store, 'Bob@Example.test', 1000);
        assert.equal(bob.address, 'bob@example.test');
        assert.equal(bob.quotaBytes, 1000);
        assert.equal(bob.enforceSender, true);
        assert.deepEqual(bob.sendAs, []);
        await rejectsWith(store.accounts.addUser({ address: 'bob@example.test', passwordHash: 'h' }), 'exists');
        assert.equal((await store.accounts.getUser('BOB@example.test'))?.id, bob.id);
        assert.equal((await store.accounts.getUserById(bob.id))?.address, 'bob@example.test');
        const updated = await store.accounts.updateUser('bob@example.test', { passwordHash: 'new', quotaBytes: 0, sendAs: ['Boss@Example.test'], enforceSender: false });
        assert.equal(updated.passwordHash, 'new');
        assert.equal(updated.quotaBytes, 0);
        assert.deepEqual(updated.sendAs, ['boss@example.test']);
        assert.equal(updated.enforceSender, false);
        await userWithDomain(store, 'carol@other.test');
        assert.deepEqual((await store.accounts.listUsers('example.test')).map((u) => u.address), ['bob@example.test']);
        assert.equal((await store.accounts.listUsers()).length, 2);
        await store.accounts.deleteUser('bob@example.test');
        assert.equal(await store.accounts.getUser('bob@example.test'), null);
        assert.deepEqual(await store.mail.listMailboxes(bob.id), []);
        await rejectsWith(store.accounts.updateUser('bob@example.test', { quotaBytes: 1 }), 'not_found');
      }));

    test('aliases: one-to-one, one-to-many, catch-all; domain deletion refused while in use unless forced', () =>
      withStore(makeStore, async (store) => {
        await userWithDomain(store, 'admin@example.test');
        await store.accounts.addAlias('postmaster@example.test', 'admin@example.test');
        await store.accounts.addAlias('team@example.test', 'admin@example.test');
        await store.accounts.addAlias('team@example.test', 'carol@other.test');
        await store.accounts.addAlias('@example.test', 'admin@example.test');
        await rejectsWith(store.accounts.addAlias('team@example.test', 'carol@other.test'), 'exists');
        assert.deepEqual(await store.accounts.aliasTargets('Team@example.test'), ['admin@example.test', 'carol@other.test']);
        assert.deepEqual(await store.accounts.aliasTargets('@example.test'), ['admin@example.test']);
        assert.equal((await store.accounts.listAliases('example.test')).length, 4);
        assert.equal(await store.accounts.deleteAlias('team@example.test', 'carol@other.test'), 1);
        assert.equal(await store.accounts.deleteAlias('team@example.test'), 1);
        await rejectsWith(store.accounts.deleteDomain('example.test'), 'in_use');
        await store.accounts.deleteDomain('example.test', { force: true });
        assert.equal(await store.accounts.hasDomain('example.test'), false);
        assert.equal(await store.accounts.getUser('admin@example.test'), null);
        assert.deepEqual(await store.accounts.listAliases(), []);
      }));

    test('a new user has INBOX and the special-use mailboxes, all subscribed; "inbox" finds INBOX', () =>
      withStore(makeStore, async (store) => {
        const bob = await userWithDomain(store);
        const boxes = await store.mail.listMailboxes(bob.id);
        const byName = new Map(boxes.map((b) => [b.name, b]));
        assert.deepEqual([...byName.keys()].sort(), ['Archive', 'Drafts', 'INBOX', 'Junk', 'Sent', 'Trash']);
        assert.equal(byName.get('Drafts')?.specialUse, '\\Drafts');
        assert.equal(byName.get('Sent')?.specialUse, '\\Sent');
        assert.equal(byName.get('Junk')?.specialUse, '\\Junk');
        assert.equal(byName.get('Trash')?.specialUse, '\\Trash');
        assert.equal(byName.get('Archive')?.specialUse, '\\Archive');
        assert.equal(byName.get('INBOX')?.specialUse, null);
        for (const box of boxes) {
          assert.equal(box.subscribed, true, box.name);
          assert.ok(box.uidValidity > 0 && box.uidValidity < 2 ** 32, `UIDVALIDITY of ${box.name}`);
          assert.equal(box.uidNext, 1);
          assert.ok(box.highestModSeq >= 1);
        }
        assert.deepEqual((await store.mail.listSubscriptions(bob.id)).sort(), ['Archive', 'Drafts', 'INBOX', 'Junk', 'Sent', 'Trash']);
        assert.equal((await store.mail.getMailbox(bob.id, 'inbox'))?.name, 'INBOX');
        assert.equal((await store.mail.getMailbox(bob.id, 'iNbOx'))?.id, byName.get('INBOX')?.id);
        assert.equal(await store.mail.getMailbox(bob.id, 'sent'), null, 'names other than INBOX are exact');
        await rejectsWith(store.mail.deleteMailbox(byName.get('INBOX')!.id), 'invalid');
      }));

    test('append and deliver store the message byte for byte with its summary and normalised flags', () =>
      withStore(makeStore, async (store) => {
        const bob = await userWithDomain(store);
        const inbox = await inboxOf(store, bob);
        const raw = message('First message', 'Body line one\r\n');
        const appended = await store.mail.append(inbox, { raw, flags: ['\\seen', 'Work', 'work', '\\FLAGGED', '\\Recent'], internalDate: 1_700_000_000_000 });
        assert.equal(appended.uid, 1);
        assert.equal(appended.uidValidity, (await store.mail.getMailboxById(inbox))?.uidValidity);
        const delivered = await store.mail.deliver({ raw: message('Second'), targets: [{ userId: bob.id }] });
        assert.deepEqual(delivered.overQuota, []);
        assert.deepEqual(delivered.stored, [{ userId: bob.id, mailboxId: inbox, mailbox: 'INBOX', uid: 2 }]);
        const list = await store.mail.listMessages(inbox);
        assert.deepEqual(list.map((m) => m.uid), [1, 2]);
        const [first] = await store.mail.getMessages(inbox, [1, 99]);
        assert.ok(first);
        assert.deepEqual([...first.flags].sort(), ['\\Flagged', '\\Seen', 'Work'].sort());
        assert.equal(first.internalDate, 1_700_000_000_000);
        assert.equal(first.size, raw.length);
        assert.equal(first.summary.envelope.subject, 'First message');
        assert.ok(first.summary.headerSize > 0);
        assert.ok((await store.mail.getBody(first.bodyId)).equals(raw));
        assert.ok(appended.modseq < (list[1]?.modseq ?? 0), 'each new message takes a higher modseq');
        assert.equal((await store.mail.getMailboxById(inbox))?.uidNext, 3);
        const status = await store.mail.mailboxStatus(inbox);
        assert.equal(status.messages, 2);
        assert.equal(status.unseen, 1);
        assert.equal(status.recent, 0);
        assert.equal(status.size, raw.length + message('Second').length);
        // Delivery into a named mailbox, falling back to INBOX when it does not exist.
        const toJunk = await store.mail.deliver({ raw: message('Spam'), targets: [{ userId: bob.id, mailbox: 'Junk', flags: ['$Junk'] }, { userId: bob.id, mailbox: 'Nope' }] });
        assert.deepEqual(toJunk.stored.map((s) => s.mailbox), ['Junk', 'INBOX']);
        await rejectsWith(store.mail.append(inbox, { raw, flags: ['\\Bogus'] }), 'invalid');
        await rejectsWith(store.mail.append(inbox, { raw, internalDate: Number.NaN }), 'invalid');
        await rejectsWith(store.mail.append(987654, { raw }), 'not_found');
      }));

    test('a delivery to several recipients is stored once and is atomic across them', () =>
      withStore(makeStore, async (store) => {
        const bob = await userWithDomain(store, 'bob@example.test');
        const carol = await userWithDomain(store, 'carol@example.test');
        const raw = message('For both');
        const result = await store.mail.deliver({ raw, targets: [{ userId: bob.id }, { userId: carol.id }] });
        assert.equal(result.stored.length, 2);
        const [bobMessage] = await store.mail.listMessages(await inboxOf(store, bob));
        const [carolMessage] = await store.mail.listMessages(await inboxOf(store, carol));
        assert.ok(bobMessage && carolMessage);
        assert.equal(bobMessage.bodyId, carolMessage.bodyId, 'one stored body for both recipients');
        // One target that cannot be stored (no such user) fails the whole delivery: nothing for bob either.
        const before = await store.mail.getMailboxById(await inboxOf(store, bob));
        await rejectsWith(store.mail.deliver({ raw: message('Half'), targets: [{ userId: bob.id }, { userId: 424242 }] }), 'not_found');
        const after = await store.mail.getMailboxById(await inboxOf(store, bob));
        assert.equal(after?.uidNext, before?.uidNext);
        assert.equal((await store.mail.listMessages(await inboxOf(store, bob))).length, 1);
      }));

    test('one failing request in a busy moment does not fail the requests committed with it', () =>
      withStore(makeStore, async (store) => {
        const bob = await userWithDomain(store);
        const inbox = await inboxOf(store, bob);
        const results = await Promise.allSettled([
          ...Array.from({ length: 20 }, (_, i) => store.mail.append(inbox, { raw: message(`m${i}`) })),
          store.mail.append(inbox, { raw: message('bad'), flags: ['\\Nonsense'] }),
          ...Array.from({ length: 20 }, (_, i) => store.mail.append(inbox, { raw: message(`n${i}`) })),
        ]);
        assert.equal(results.filter((r) => r.status === 'rejected').length, 1);
        assert.equal(results[20]?.status, 'rejected');
        assert.equal((await store.mail.listMessages(inbox)).length, 40);
      }));

    test('a request that fails after it wrote, among many at once, leaves nothing; the others commit with their own UIDs', () =>
      withStore(makeStore, async (store) => {
        const bob = await userWithDomain(store);
        const inbox = await inboxOf(store, bob);
        const results = await Promise.allSettled([
          ...Array.from({ length: 20 }, (_, i) => store.mail.append(inbox, { raw: message(`m${i}`) })),
          // Stores Bob's copy, then fails on the second target: the whole request must roll back.
          store.mail.deliver({ raw: message('Half'), targets: [{ userId: bob.id }, { userId: 424242 }] }),
          ...Array.from({ length: 20 }, (_, i) => store.mail.deliver({ raw: message(`n${i}`), targets: [{ userId: bob.id }] })),
        ]);
        assert.equal(results[20]?.status, 'rejected');
        assert.equal(results.filter((r) => r.status === 'rejected').length, 1);
        const listed = await store.mail.listMessages(inbox);
        assert.equal(listed.length, 40);
        assert.deepEqual(listed.map((m) => m.uid), Array.from({ length: 40 }, (_, i) => i + 1), 'no UID taken by the failed request');
        assert.equal((await store.mail.getMailboxById(inbox))?.uidNext, 41);
      }));

    test('flags: add, remove, set with new modseqs; UNCHANGEDSINCE reports modified messages (RFC 7162 3.1.3)', () =>
      withStore(makeStore, async (store) => {
        const bob = await userWithDomain(store);
        const inbox = await inboxOf(store, bob);
        for (let i = 0; i < 3; i++) await store.mail.append(inbox, { raw: message(`m${i}`) });
        const start = (await store.mail.getMailboxById(inbox))!.highestModSeq;
        const added = await store.mail.updateFlags(inbox, [1, 2], 'add', ['\\Seen', 'Label']);
        // One group: both messages went from no flags to the same set, at one new modseq.
        assert.equal(added.updated.length, 1);
        assert.deepEqual(added.updated[0]?.uids, [1, 2]);
        assert.ok(added.modseq > start && added.updated[0]!.flags.includes('\\Seen') && added.updated[0]!.flags.includes('Label'));
        const afterAdd = (await store.mail.getMailboxById(inbox))!.highestModSeq;
        assert.ok(afterAdd > start);
        const again = await store.mail.updateFlags(inbox, [1], 'add', ['\\seen']);
        assert.deepEqual(again.updated, [], 'no change, no new modseq');
        assert.equal(again.modseq, 0);
        assert.equal((await store.mail.getMailboxById(inbox))!.highestModSeq, afterAdd);
        const removed = await store.mail.updateFlags(inbox, [1], 'remove', ['label']);
        assert.deepEqual(removed.updated[0]?.flags, ['\\Seen']);
        const set = await store.mail.updateFlags(inbox, [2], 'set', ['\\Answered']);
        assert.deepEqual(set.updated[0]?.flags, ['\\Answered']);
        const changed = await store.mail.changedSince(inbox, afterAdd);
        assert.deepEqual(changed.map((m) => m.uid), [1, 2]);
        // UNCHANGEDSINCE: message 3 was untouched since start, 1 and 2 changed after it.
        const conditional = await store.mail.updateFlags(inbox, [1, 2, 3], 'add', ['\\Flagged'], { unchangedSince: start });
        assert.deepEqual(conditional.modifiedSince, [1, 2]);
        assert.deepEqual(conditional.updated.flatMap((u) => u.uids), [3]);
        const [one] = await store.mail.getMessages(inbox, [1]);
        assert.ok(!one?.flags.includes('\\Flagged'));
        assert.equal((await store.mail.mailboxStatus(inbox)).unseen, 2);
      }));

    test('expunge leaves tombstones for VANISHED, and UIDs are never reused', () =>
      withStore(makeStore, async (store) => {
        const bob = await userWithDomain(store);
        const inbox = await inboxOf(store, bob);
        for (let i = 0; i < 4; i++) await store.mail.append(inbox, { raw: message(`m${i}`) });
        const before = (await store.mail.getMailboxById(inbox))!.highestModSeq;
        const result = await store.mail.expunge(inbox, [2, 4, 99]);
        assert.deepEqual(result.uids, [2, 4]);
        assert.ok(result.modseq > before);
        assert.equal((await store.mail.getMailboxById(inbox))!.highestModSeq, result.modseq);
        assert.deepEqual(await store.mail.expungedSince(inbox, before), [2, 4]);
        assert.deepEqual(await store.mail.expungedSince(inbox, result.modseq), []);
        assert.deepEqual((await store.mail.listMessages(inbox)).map((m) => m.uid), [1, 3]);
        const next = await store.mail.append(inbox, { raw: message('after') });
        assert.equal(next.uid, 5, 'the highest expunged UID is not reused');
        const nothing = await store.mail.expunge(inbox, [2]);
        assert.deepEqual(nothing.uids, []);
        assert.equal((await store.mail.mailboxStatus(inbox)).messages, 3);
      }));

    test('copy and move return UIDPLUS pairs; bodies are shared and freed with the last copy', () =>
      withStore(makeStore, async (store) => {
        const bob = await userWithDomain(store);
        const inbox = await inboxOf(store, bob);
        const archive = (await store.mail.getMailbox(bob.id, 'Archive'))!;
        for (let i = 0; i < 3; i++) await store.mail.append(inbox, { raw: message(`m${i}`), flags: ['\\Seen'] });
        const copied = await store.mail.copy(inbox, [3, 1, 42], archive.id);
        assert.equal(copied.uidValidity, archive.uidValidity);
        assert.deepEqual(copied.pairs, [[1, 1], [3, 2]]);
        const copies = await store.mail.listMessages(archive.id);
        const originals = await store.mail.listMessages(inbox);
        assert.equal(copies[0]?.bodyId, originals[0]?.bodyId);
        assert.deepEqual(copies[0]?.flags, ['\\Seen']);
        const trash = (await store.mail.getMailbox(bob.id, 'Trash'))!;
        const moved = await store.mail.move(inbox, [2, 3], trash.id);
        assert.deepEqual(moved.pairs, [[2, 1], [3, 2]]);
        assert.deepEqual((await store.mail.listMessages(inbox)).map((m) => m.uid), [1]);
        assert.ok((await store.mail.expungedSince(inbox, 0)).includes(2));
        // The body of message 1 lives in INBOX and Archive; expunging both frees it.
        const bodyId = originals[0]!.bodyId;
        await store.mail.expunge(inbox, [1]);
        assert.ok((await store.mail.getBody(bodyId)).length > 0);
        await store.mail.expunge(archive.id, [1]);
        await rejectsWith(store.mail.getBody(bodyId), 'not_found');
      }));

    test('create, delete and rename mailboxes; rename takes children along; renaming INBOX moves its messages', () =>
      withStore(makeStore, async (store) => {
        const bob = await userWithDomain(store);
        const projects = await store.mail.createMailbox(bob.id, 'Projects', { subscribe: true });
        await store.mail.createMailbox(bob.id, 'Projects/Alpha');
        await store.mail.createMailbox(bob.id, 'Projects/Alpha/Old');
        await store.mail.createMailbox(bob.id, 'ProjectsX');
        await rejectsWith(store.mail.createMailbox(bob.id, 'Projects'), 'exists');
        await rejectsWith(store.mail.createMailbox(bob.id, 'a//b'), 'invalid');
        await store.mail.append(projects.id, { raw: message('kept') });
        await store.mail.renameMailbox(projects.id, 'Work');
        const names = (await store.mail.listMailboxes(bob.id)).map((m) => m.name);
        assert.ok(names.includes('Work') && names.includes('Work/Alpha') && names.includes('Work/Alpha/Old'));
        assert.ok(names.includes('ProjectsX'), 'a sibling sharing the prefix is not a child');
        assert.ok(!names.some((n) => n.startsWith('Projects/')));
        const work = (await store.mail.getMailbox(bob.id, 'Work'))!;
        assert.equal(work.id, projects.id);
        assert.equal(work.uidValidity, projects.uidValidity);
        assert.equal(work.subscribed, true, 'the subscription follows the rename');
        assert.equal((await store.mail.listMessages(work.id)).length, 1);
        await rejectsWith(store.mail.renameMailbox(work.id, 'ProjectsX'), 'exists');
        await rejectsWith(store.mail.renameMailbox(work.id, 'Work/Alpha/Inner'), 'invalid');

        const inbox = await inboxOf(store, bob);
        await store.mail.append(inbox, { raw: message('one'), flags: ['\\Seen'] });
        await store.mail.append(inbox, { raw: message('two') });
        await store.mail.renameMailbox(inbox, 'Old Inbox');
        const oldInbox = (await store.mail.getMailbox(bob.id, 'Old Inbox'))!;
        assert.deepEqual((await store.mail.listMessages(oldInbox.id)).map((m) => m.uid), [1, 2]);
        assert.deepEqual((await store.mail.listMessages(oldInbox.id))[0]?.flags, ['\\Seen']);
        const inboxAfter = (await store.mail.getMailbox(bob.id, 'INBOX'))!;
        assert.equal(inboxAfter.id, inbox);
        assert.equal((await store.mail.listMessages(inbox)).length, 0);
        assert.equal(inboxAfter.uidNext, 3, 'INBOX keeps counting');

        await store.mail.deleteMailbox(work.id);
        assert.equal(await store.mail.getMailbox(bob.id, 'Work'), null);
        assert.ok(await store.mail.getMailbox(bob.id, 'Work/Alpha'), 'children survive (RFC 9051 6.3.4)');
        // A re-created name gets a new UIDVALIDITY so clients do not mix the two.
        const recreated = await store.mail.createMailbox(bob.id, 'Work');
        assert.notEqual(recreated.uidValidity, work.uidValidity);
      }));

    test('subscriptions are by name and may name mailboxes that do not exist', () =>
      withStore(makeStore, async (store) => {
        const bob = await userWithDomain(store);
        await store.mail.setSubscribed(bob.id, 'Not/There', true);
        await store.mail.setSubscribed(bob.id, 'Not/There', true);
        await store.mail.setSubscribed(bob.id, 'Junk', false);
        const subscriptions = await store.mail.listSubscriptions(bob.id);
        assert.ok(subscriptions.includes('Not/There'));
        assert.ok(!subscriptions.includes('Junk'));
        assert.equal((await store.mail.getMailbox(bob.id, 'Junk'))?.subscribed, false);
      }));

    test('quota: deliver skips targets over quota, append refuses, usage counts every mailbox', () =>
      withStore(makeStore, async (store) => {
        const raw = message('sized', 'x'.repeat(400) + '\r\n');
        const small = await userWithDomain(store, 'small@example.test', raw.length * 2 + 10);
        const big = await userWithDomain(store, 'big@example.test');
        const smallInbox = await inboxOf(store, small);
        await store.mail.append(smallInbox, { raw });
        const both = await store.mail.deliver({ raw, targets: [{ userId: small.id }, { userId: big.id }] });
        assert.equal(both.stored.length, 2);
        const third = await store.mail.deliver({ raw, targets: [{ userId: small.id }, { userId: big.id }] });
        assert.deepEqual(third.overQuota, [small.id]);
        assert.deepEqual(third.stored.map((s) => s.userId), [big.id]);
        await rejectsWith(store.mail.append(smallInbox, { raw }), 'over_quota');
        const forced = await store.mail.deliver({ raw, targets: [{ userId: small.id }], ignoreQuota: true });
        assert.equal(forced.stored.length, 1);
        const usage = await store.mail.quotaUsage(small.id);
        assert.equal(usage.messages, 3);
        assert.equal(usage.usedBytes, raw.length * 3);
        assert.equal(usage.limitBytes, raw.length * 2 + 10);
        const allOver = await store.mail.deliver({ raw, targets: [{ userId: small.id }] });
        assert.deepEqual(allOver, { stored: [], overQuota: [small.id] });
      }));

    test('searchText matches decoded text case-insensitively, per field, within given UIDs', () =>
      withStore(makeStore, async (store) => {
        const bob = await userWithDomain(store);
        const inbox = await inboxOf(store, bob);
        await store.mail.append(inbox, { raw: message('Quarterly Report', 'The numbers look GREAT this time.\r\n') });
        await store.mail.append(inbox, { raw: message('Lunch', 'Grüße aus München\r\n') });
        await store.mail.append(inbox, { raw: message('Other', 'nothing here\r\n', 'X-Note: great header\r\n') });
        assert.deepEqual(await store.mail.searchText(inbox, 'body', 'great'), [1]);
        assert.deepEqual(await store.mail.searchText(inbox, 'header', 'GREAT'), [3]);
        assert.deepEqual(await store.mail.searchText(inbox, 'text', 'Great'), [1, 3]);
        assert.deepEqual(await store.mail.searchText(inbox, 'body', 'MÜNCHEN'), [2]);
        assert.deepEqual(await store.mail.searchText(inbox, 'header', 'quarterly report'), [1]);
        assert.deepEqual(await store.mail.searchText(inbox, 'text', 'great', [3]), [3]);
        assert.deepEqual(await store.mail.searchText(inbox, 'body', 'absent'), []);
      }));

    test('flags on a whole range: messages that already have the outcome keep their modseq; one feed change per new flag set', () =>
      withStore(makeStore, async (store) => {
        const bob = await userWithDomain(store);
        const inbox = await inboxOf(store, bob);
        for (let i = 0; i < 6; i++) await store.mail.append(inbox, { raw: message(`r${i}`), flags: i % 3 === 0 ? ['\\Seen'] : i % 3 === 1 ? ['Work'] : [] });
        const before = await store.mail.listMessages(inbox);
        const feed: MailboxChange[] = [];
        const unsubscribe = store.changes.subscribe(inbox, (c) => feed.push(c));
        const result = await store.mail.updateFlags(inbox, [1, 2, 3, 4, 5, 6], 'add', ['\\Seen']);
        unsubscribe();
        const groups = result.updated.map((g) => [g.uids, g.flags]).sort((a, b) => (a[0] as number[])[0]! - (b[0] as number[])[0]!);
        assert.deepEqual(groups, [[[2, 5], ['Work', '\\Seen']], [[3, 6], ['\\Seen']]]);
        assert.deepEqual(feed.map((c) => (c.kind === 'flags' ? [c.uids, c.modseq] : c.kind)).sort(), [[[2, 5], result.modseq], [[3, 6], result.modseq]].sort());
        const after = await store.mail.listMessages(inbox);
        for (const [i, m] of after.entries()) {
          assert.ok(m.flags.includes('\\Seen'), `uid ${m.uid} seen`);
          if (i % 3 === 0) assert.equal(m.modseq, before[i]!.modseq, 'already \\Seen: modseq unchanged (RFC 7162 3.1.3)');
          else assert.equal(m.modseq, result.modseq);
        }
        assert.equal((await store.mail.mailboxStatus(inbox)).unseen, 0);
        assert.deepEqual((await store.mail.changedSince(inbox, before.at(-1)!.modseq)).map((m) => m.uid), [2, 3, 5, 6]);
      }));

    test('change feed: exists, flags, expunge and deleted arrive in commit order, before the write resolves', () =>
      withStore(makeStore, async (store) => {
        const bob = await userWithDomain(store);
        const inbox = await inboxOf(store, bob);
        const other = await store.mail.createMailbox(bob.id, 'Other');
        const seen: MailboxChange[] = [];
        const otherSeen: MailboxChange[] = [];
        const unsubscribe = store.changes.subscribe(inbox, (c) => seen.push(c));
        store.changes.subscribe(other.id, (c) => otherSeen.push(c));
        const first = await store.mail.append(inbox, { raw: message('one') });
        assert.equal(seen.length, 1, 'the change is published before the promise resolves');
        await Promise.all([store.mail.append(inbox, { raw: message('two') }), store.mail.append(other.id, { raw: message('elsewhere') })]);
        await store.mail.updateFlags(inbox, [1], 'add', ['\\Seen']);
        await store.mail.expunge(inbox, [2]);
        assert.deepEqual(
          seen.map((c) => c.kind),
          ['exists', 'exists', 'flags', 'expunge'],
        );
        assert.deepEqual(seen[0], { kind: 'exists', mailboxId: inbox, uid: 1, modseq: first.modseq, flags: [] });
        assert.deepEqual(seen[2], { kind: 'flags', mailboxId: inbox, uids: [1], flags: ['\\Seen'], modseq: (seen[2] as { modseq: number }).modseq });
        const modseqs = seen.map((c) => ('modseq' in c ? c.modseq : 0));
        assert.deepEqual([...modseqs].sort((a, b) => a - b), modseqs, 'modseqs grow in feed order');
        assert.deepEqual(seen[3], { kind: 'expunge', mailboxId: inbox, uids: [2], modseq: modseqs[3] });
        assert.equal(otherSeen.length, 1);
        unsubscribe();
        await store.mail.append(inbox, { raw: message('unheard') });
        assert.equal(seen.length, 4);
        await store.mail.deleteMailbox(other.id);
        assert.deepEqual(otherSeen.at(-1), { kind: 'deleted', mailboxId: other.id });
      }));

    test('queue: enqueue with Postfix-like ids, due, recipient updates, retry, delete', () =>
      withStore(makeStore, async (store) => {
        const raw = message('outbound');
        const entry = await store.queue.enqueue({ sender: 'bob@example.test', recipients: ['a@remote.test', 'b@remote.test'], raw, meta: { envid: 'X1' } });
        assert.match(entry.id, /^[0-9A-F]{6,16}$/);
        assert.equal(entry.size, raw.length);
        assert.deepEqual(entry.recipients.map((r) => [r.address, r.state, r.attempts]), [['a@remote.test', 'pending', 0], ['b@remote.test', 'pending', 0]]);
        assert.deepEqual(entry.meta, { envid: 'X1' });
        assert.ok((await store.queue.getRaw(entry.id)).equals(raw));
        assert.deepEqual((await store.queue.due(Date.now() + 1)).map((e) => e.id), [entry.id]);
        const later = Date.now() + 3_600_000;
        await store.queue.updateRecipients(
          entry.id,
          [
            { address: 'a@remote.test', state: 'delivered', attempted: true, remoteMta: 'mx.remote.test', status: '2.0.0' },
            { address: 'b@remote.test', state: 'deferred', attempted: true, nextAttemptAt: later, lastError: '451 try later' },
          ],
          { envid: 'X1', warned: true },
        );
        const updated = (await store.queue.get(entry.id))!;
        assert.deepEqual(updated.meta, { envid: 'X1', warned: true });
        assert.equal(updated.recipients[0]?.state, 'delivered');
        assert.equal(updated.recipients[0]?.remoteMta, 'mx.remote.test');
        assert.equal(updated.recipients[1]?.attempts, 1);
        assert.equal(updated.recipients[1]?.lastError, '451 try later');
        assert.deepEqual(await store.queue.due(Date.now() + 1), []);
        assert.equal(await store.queue.retryAll(), 1);
        assert.deepEqual((await store.queue.due(Date.now() + 1)).map((e) => e.id), [entry.id]);
        const second = await store.queue.enqueue({ sender: '', recipients: ['c@remote.test'], raw });
        assert.notEqual(second.id, entry.id);
        assert.equal((await store.queue.list()).length, 2);
        assert.equal(await store.queue.delete(entry.id), true);
        assert.equal(await store.queue.delete(entry.id), false);
        assert.equal(await store.queue.get(entry.id), null);
        await rejectsWith(store.queue.getRaw(entry.id), 'not_found');
      }));

    test('deliver with enqueue: the local copies and the queued copy commit together, or neither does', () =>
      withStore(makeStore, async (store) => {
        const bob = await userWithDomain(store);
        const outbound = Buffer.from('Received: by mx.example.test\r\n' + message('Both').toString());
        const result = await store.mail.deliver({ raw: message('Both'), targets: [{ userId: bob.id }], enqueue: { sender: 'alice@example.org', recipients: ['x@remote.test', 'y@remote.test'], raw: outbound } });
        assert.equal(result.stored.length, 1);
        assert.ok(result.queued, 'the queue entry comes back');
        assert.deepEqual(result.queued.recipients.map((r) => r.address), ['x@remote.test', 'y@remote.test']);
        assert.deepEqual((await store.queue.list()).map((e) => e.id), [result.queued.id]);
        assert.deepEqual(await store.queue.getRaw(result.queued.id), outbound, 'the queued copy keeps its own bytes');
        // A queue entry the store refuses (no recipient) fails the whole delivery: no local copy is left for
        // the sender's retry to duplicate.
        await rejectsWith(store.mail.deliver({ raw: message('Neither'), targets: [{ userId: bob.id }], enqueue: { sender: 'alice@example.org', recipients: [], raw: outbound } }), 'invalid');
        assert.equal((await store.mail.listMessages(await inboxOf(store, bob))).length, 1, 'only the first delivery is stored');
        assert.equal((await store.queue.list()).length, 1);
      }));

    test('bans: put, list unexpired, get keeps expired ones, delete, flush', () =>
      withStore(makeStore, async (store) => {
        const now = Date.now();
        await store.bans.put({ target: '192.0.2.1', reason: 'auth failures', createdAt: now, expiresAt: now + 60_000, count: 1 });
        await store.bans.put({ target: '198.51.100.0/24', reason: 'manual', createdAt: now, expiresAt: 0, count: 1 });
        await store.bans.put({ target: '203.0.113.9', reason: 'old', createdAt: now - 120_000, expiresAt: now - 60_000, count: 3 });
        assert.deepEqual((await store.bans.list(now)).map((b) => b.target).sort(), ['192.0.2.1', '198.51.100.0/24']);
        assert.equal((await store.bans.get('203.0.113.9'))?.count, 3);
        await store.bans.put({ target: '192.0.2.1', reason: 'again', createdAt: now, expiresAt: now + 120_000, count: 2 });
        assert.equal((await store.bans.get('192.0.2.1'))?.count, 2);
        assert.equal(await store.bans.delete('192.0.2.1'), true);
        assert.equal(await store.bans.delete('192.0.2.1'), false);
        assert.equal(await store.bans.flush(), 2);
        assert.deepEqual(await store.bans.list(0), []);
      }));

    test('secrets: put, get, overwrite, list by prefix, delete', () =>
      withStore(makeStore, async (store) => {
        await store.secrets.put('dkim/example.test/s1', Buffer.from('private key bytes'));
        await store.secrets.put('dkim/other.test/s1', Buffer.from([0, 1, 2, 255]));
        await store.secrets.put('tls/cert', Buffer.from('cert'));
        assert.deepEqual(await store.secrets.get('dkim/other.test/s1'), Buffer.from([0, 1, 2, 255]));
        await store.secrets.put('tls/cert', Buffer.from('cert2'));
        assert.equal((await store.secrets.get('tls/cert'))?.toString(), 'cert2');
        assert.deepEqual(await store.secrets.list('dkim/'), ['dkim/example.test/s1', 'dkim/other.test/s1']);
        assert.equal(await store.secrets.delete('tls/cert'), true);
        assert.equal(await store.secrets.get('tls/cert'), null);
        assert.equal(await store.secrets.delete('tls/cert'), false);
      }));

    test('import: UIDVALIDITY and UIDs from the old server are kept; UIDs below UIDNEXT are refused', () =>
      withStore(makeStore, async (store) => {
        const bob = await userWithDomain(store);
        const archive = (await store.mail.getMailbox(bob.id, 'Archive'))!;
        await store.mail.setUidValidity(archive.id, 1_234_567_890);
        assert.equal((await store.mail.getMailboxById(archive.id))?.uidValidity, 1_234_567_890);
        const imported = await store.mail.importMessage(archive.id, { raw: message('old one'), uid: 7, flags: ['\\Seen'] });
        assert.equal(imported.uid, 7);
        assert.equal((await store.mail.getMailboxById(archive.id))?.uidNext, 8);
        await rejectsWith(store.mail.importMessage(archive.id, { raw: message('again'), uid: 7 }), 'exists');
        await rejectsWith(store.mail.setUidValidity(archive.id, 42), 'in_use');
        await store.mail.setUidValidity(archive.id, 1_234_567_890);
        assert.equal((await store.mail.append(archive.id, { raw: message('new') })).uid, 8);
        assert.deepEqual((await store.mail.listMessages(archive.id)).map((m) => m.uid), [7, 8]);
      }));

    test('reopening keeps everything, and UIDNEXT is not reused after an expunge and a restart', () =>
      withStore(makeStore, async (store, harness) => {
        const bob = await userWithDomain(store);
        const inbox = await inboxOf(store, bob);
        const raw = message('durable', 'Persisted body\r\n');
        await store.mail.append(inbox, { raw, flags: ['\\Seen'] });
        await store.mail.append(inbox, { raw: message('second') });
        await store.mail.expunge(inbox, [2]);
        await store.accounts.addAlias('postmaster@example.test', 'bob@example.test');
        await store.secrets.put('s', Buffer.from('v'));
        const entry = await store.queue.enqueue({ sender: 'bob@example.test', recipients: ['x@remote.test'], raw });
        const before = (await store.mail.getMailboxById(inbox))!;
        const reopened = await harness.reopen();
        const after = (await reopened.mail.getMailboxById(inbox))!;
        assert.deepEqual(after, before);
        assert.equal((await reopened.accounts.getUser('bob@example.test'))?.id, bob.id);
        assert.deepEqual(await reopened.accounts.aliasTargets('postmaster@example.test'), ['bob@example.test']);
        assert.equal((await reopened.secrets.get('s'))?.toString(), 'v');
        assert.ok((await reopened.queue.getRaw(entry.id)).equals(raw));
        const [stored] = await reopened.mail.getMessages(inbox, [1]);
        assert.ok(stored && (await reopened.mail.getBody(stored.bodyId)).equals(raw));
        assert.deepEqual(await reopened.mail.expungedSince(inbox, 0), [2]);
        assert.equal((await reopened.mail.append(inbox, { raw })).uid, 3);
        assert.deepEqual(await reopened.verify(), { ok: true, problems: [] });
      }));
  });
}
