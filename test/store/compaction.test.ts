// Compaction of body files (src/store/sqlite/compaction.ts): the space of expunged mail goes back to the file
// system, every live message stays byte-identical, and damaged mail is never dropped or rewritten.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { open, readdir, readlink, rm, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { openStore, StoreError, type Store } from '../../src/store/index.ts';
import { tempDir } from './helpers.ts';

const SEGMENTS = 'bodies';

/** A distinct message of about `bytes` octets (above the 8 KiB segment threshold). */
function message(n: number, bytes = 20_000): Buffer {
  const line = `line ${n} of a message long enough to live in a body segment file\r\n`;
  return Buffer.from(`From: a@example.org\r\nTo: user@example.test\r\nSubject: message ${n}\r\nMessage-ID: <${n}@compaction.test>\r\n\r\n${line.repeat(Math.ceil(bytes / line.length))}`);
}

async function segmentFiles(dir: string): Promise<Map<string, number>> {
  const sizes = new Map<string, number>();
  for (const name of (await readdir(join(dir, SEGMENTS))).sort()) sizes.set(name, (await stat(join(dir, SEGMENTS, name))).size);
  return sizes;
}

/** Descriptors of this process (every thread) still open on `file`: they would keep its blocks allocated. */
async function descriptorsOn(file: string): Promise<number> {
  let count = 0;
  for (const fd of await readdir('/proc/self/fd')) {
    try {
      if ((await readlink(`/proc/self/fd/${fd}`)).startsWith(file)) count++;
    } catch {
      /* closed meanwhile */
    }
  }
  return count;
}

function total(sizes: Map<string, number>): number {
  let sum = 0;
  for (const size of sizes.values()) sum += size;
  return sum;
}

interface Setup {
  dir: string;
  key: Buffer;
  store: Store;
  inbox: number;
  /** uid -> raw message, for the messages kept. */
  kept: Map<number, Buffer>;
}

/**
 * Delivers `count` messages, reopens the store (so that their file is no longer the one appended to) and
 * expunges all but every `keepEvery`-th.
 */
async function deliverAndExpunge(count: number, keepEvery: number): Promise<Setup> {
  const dir = await tempDir('mailstack-compact-');
  const key = randomBytes(32);
  let store = await openStore({ dir, key, compactEveryMs: 0 });
  await store.accounts.addDomain('example.test');
  const user = await store.accounts.addUser({ address: 'user@example.test', passwordHash: 'x' });
  const all = new Map<number, Buffer>();
  for (let n = 0; n < count; n++) {
    const raw = message(n);
    const result = await store.mail.deliver({ raw, targets: [{ userId: user.id }] });
    all.set(result.stored[0]!.uid, raw);
  }
  await store.close();
  // As serve opens it: alone on the data directory, so a file expunged a moment ago may go at once.
  store = await openStore({ dir, key, compactEveryMs: 0, exclusive: true });
  const inbox = (await store.mail.getMailbox(user.id, 'INBOX'))!.id;
  const uids = [...all.keys()];
  const gone = uids.filter((_, i) => i % keepEvery !== 0);
  if (gone.length > 0) await store.mail.expunge(inbox, gone);
  const kept = new Map([...all].filter(([uid]) => !gone.includes(uid)));
  return { dir, key, store, inbox, kept };
}

async function assertKept(store: Store, inbox: number, kept: Map<number, Buffer>): Promise<void> {
  const metas = await store.mail.listMessages(inbox);
  assert.deepEqual(metas.map((m) => m.uid), [...kept.keys()]);
  for (const m of metas) assert.ok((await store.mail.getBody(m.bodyId)).equals(kept.get(m.uid)!), `message ${m.uid} is not byte-identical`);
}

test('compaction deletes a body file that is mostly expunged mail, after moving its live bodies, byte for byte', async () => {
  const { dir, key, store: first, inbox, kept } = await deliverAndExpunge(40, 4);
  let store = first;
  try {
    // Read every kept body first: the reader then holds the old file open, and must let go of it.
    await assertKept(store, inbox, kept);
    const before = await segmentFiles(dir);
    assert.equal(before.size, 1, 'the 40 deliveries went to one file');
    const [oldFile] = before.keys();
    assert.ok((await descriptorsOn(join(dir, SEGMENTS, oldFile!))) > 0, 'reading opened the file');

    const report = await store.compact();
    assert.equal(report.files, 1);
    assert.equal(report.bodiesMoved, 10);
    assert.equal(report.bytesFreed, before.get(oldFile!));
    const after = await segmentFiles(dir);
    assert.ok(!after.has(oldFile!), `${oldFile} is still there`);
    assert.equal(await descriptorsOn(join(dir, SEGMENTS, oldFile!)), 0, 'a descriptor still holds the deleted file');
    assert.ok(total(after) < total(before) / 3, `bodies/ went from ${total(before)} to ${total(after)} bytes`);
    await assertKept(store, inbox, kept);
    assert.deepEqual(await store.verify(), { ok: true, problems: [] });

    // Nothing left to do: the new file is the one being appended to.
    assert.deepEqual(await store.compact({ minDeadRatio: 0 }), { files: 0, filesMerged: 0, bytesFreed: 0, bodiesMoved: 0, bytesMoved: 0 });

    // And after a restart, everything is where the rows say.
    await store.close();
    store = await openStore({ dir, key, compactEveryMs: 0 });
    await assertKept(store, inbox, kept);
    assert.deepEqual(await store.verify(), { ok: true, problems: [] });
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('compaction leaves a file alone while less of it is dead than asked, and takes it when asked for less', async () => {
  // 3 of 4 kept: a quarter dead.
  const { dir, store, inbox } = await deliverAndExpunge(20, 1);
  try {
    const uids = (await store.mail.listMessages(inbox)).map((m) => m.uid);
    await store.mail.expunge(inbox, uids.filter((_, i) => i % 4 === 0));
    assert.equal((await store.compact()).files, 0, 'a quarter dead is under the default half');
    assert.equal((await segmentFiles(dir)).size, 1);
    const report = await store.compact({ minDeadRatio: 0.2 });
    assert.equal(report.files, 1);
    assert.equal(report.bodiesMoved, 15);
    await assert.rejects(store.compact({ minDeadRatio: 2 }), (e: unknown) => e instanceof StoreError && e.code === 'invalid');
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a file whose every body was expunged is deleted without waiting for a restart', async () => {
  const { dir, store, inbox } = await deliverAndExpunge(10, 1);
  try {
    await store.mail.expunge(inbox, (await store.mail.listMessages(inbox)).map((m) => m.uid));
    const report = await store.compact();
    assert.equal(report.files, 1);
    assert.equal(report.bodiesMoved, 0);
    assert.deepEqual([...(await segmentFiles(dir)).keys()], []);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('compaction never drops or rewrites a damaged body: it stops with corrupt and changes nothing', async () => {
  const { dir, store, inbox, kept } = await deliverAndExpunge(12, 3);
  try {
    const [file, size] = [...(await segmentFiles(dir))][0]!;
    // Flip one byte in the middle of the file's first record, whose message is kept (the first is kept).
    const handle = await open(join(dir, SEGMENTS, file!), 'r+');
    try {
      const byte = Buffer.alloc(1);
      await handle.read(byte, 0, 1, 5000);
      byte[0] = byte[0]! ^ 0x01;
      await handle.write(byte, 0, 1, 5000);
    } finally {
      await handle.close();
    }
    await assert.rejects(store.compact(), (e: unknown) => e instanceof StoreError && e.code === 'corrupt' && /fails authentication/.test(e.message));
    assert.deepEqual([...(await segmentFiles(dir))], [[file, size]], 'the damaged file is kept as it was');
    // The other kept messages still read, and the damage is still reported where it is.
    const metas = await store.mail.listMessages(inbox);
    assert.equal(metas.length, kept.size);
    await assert.rejects(store.mail.getBody(metas[0]!.bodyId), (e: unknown) => e instanceof StoreError && e.code === 'corrupt');
    for (const m of metas.slice(1)) assert.ok((await store.mail.getBody(m.bodyId)).equals(kept.get(m.uid)!));
    assert.equal((await store.verify()).ok, false);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('deliveries go on while a file is compacted, and all of them are kept', async () => {
  const { dir, store, inbox, kept } = await deliverAndExpunge(60, 3);
  try {
    const user = (await store.accounts.getUser('user@example.test'))!;
    const during = Array.from({ length: 30 }, (_, i) => message(1000 + i));
    const [report, results] = await Promise.all([
      store.compact(),
      Promise.all(during.map((raw) => store.mail.deliver({ raw, targets: [{ userId: user.id }] }))),
    ]);
    assert.equal(report.files, 1);
    results.forEach((r, i) => kept.set(r.stored[0]!.uid, during[i]!));
    await assertKept(store, inbox, new Map([...kept].sort((a, b) => a[0] - b[0])));
    assert.deepEqual(await store.verify(), { ok: true, problems: [] });
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});

interface ShortLivedWriters {
  dir: string;
  key: Buffer;
  inbox: number;
  /** uid -> raw message. */
  sent: Map<number, Buffer>;
}

/**
 * Body files as `mailstack deliver` leaves them when no server runs: each made by a process of its own that
 * opens the store, delivers (`perFile` messages of `bytes`), and closes it.
 */
async function deliverFromShortLivedWriters(files: number, perFile = 1, bytes = 20_000): Promise<ShortLivedWriters> {
  const dir = await tempDir('mailstack-merge-');
  const key = randomBytes(32);
  let store = await openStore({ dir, key, compactEveryMs: 0 });
  await store.accounts.addDomain('example.test');
  const user = await store.accounts.addUser({ address: 'user@example.test', passwordHash: 'x' });
  const inbox = (await store.mail.getMailbox(user.id, 'INBOX'))!.id;
  await store.close();
  const sent = new Map<number, Buffer>();
  for (let file = 0; file < files; file++) {
    store = await openStore({ dir, key, compactEveryMs: 0 });
    try {
      for (let n = file * perFile; n < (file + 1) * perFile; n++) {
        const raw = message(n, bytes);
        const result = await store.mail.deliver({ raw, targets: [{ userId: user.id }] });
        sent.set(result.stored[0]!.uid, raw);
      }
    } finally {
      await store.close();
    }
  }
  return { dir, key, inbox, sent };
}

async function flipByte(file: string, position: number): Promise<void> {
  const handle = await open(file, 'r+');
  try {
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, position);
    byte[0] = byte[0]! ^ 0x01;
    await handle.write(byte, 0, 1, position);
  } finally {
    await handle.close();
  }
}

test('small body files, one per process that delivered, are merged into one, byte for byte, also after a restart', async () => {
  const FILES = 6;
  const { dir, key, inbox, sent } = await deliverFromShortLivedWriters(FILES);
  // As serve opens it: alone on the data directory.
  let store = await openStore({ dir, key, compactEveryMs: 0, exclusive: true });
  try {
    const before = await segmentFiles(dir);
    assert.equal(before.size, FILES, 'each process that delivered made a file of its own');

    const report = await store.compact();
    assert.deepEqual(report, { files: FILES, filesMerged: FILES, bytesFreed: total(before), bodiesMoved: FILES, bytesMoved: report.bytesMoved });
    const after = await segmentFiles(dir);
    assert.equal(after.size, 1, `bodies/ holds ${[...after.keys()].join(', ')}`);
    assert.ok(![...after.keys()].some((name) => before.has(name)), 'the bodies went to a new file');
    await assertKept(store, inbox, sent);
    assert.deepEqual(await store.verify(), { ok: true, problems: [] });

    await store.close();
    store = await openStore({ dir, key, compactEveryMs: 0, exclusive: true });
    await assertKept(store, inbox, sent);
    assert.deepEqual(await store.verify(), { ok: true, problems: [] });
    // One small file alone stays: merging it would only copy it into another file as small.
    assert.equal((await store.compact()).filesMerged, 0);
    assert.deepEqual([...(await segmentFiles(dir)).keys()], [...after.keys()]);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('beside other processes, compaction merges only the small files not written to within the last hour', async () => {
  const { dir, key, inbox, sent } = await deliverFromShortLivedWriters(3);
  const [young, ...old] = [...(await segmentFiles(dir)).keys()];
  const twoHoursAgo = new Date(Date.now() - 2 * 60 * 60 * 1000);
  for (const name of old) await utimes(join(dir, SEGMENTS, name), twoHoursAgo, twoHoursAgo);
  const store = await openStore({ dir, key, compactEveryMs: 0 });
  try {
    const report = await store.compact();
    assert.equal(report.filesMerged, 2);
    const after = await segmentFiles(dir);
    assert.ok(after.has(young!), 'a file written to just now may be another process is filling: it stays');
    for (const name of old) assert.ok(!after.has(name), `${name} was not merged`);
    assert.equal(after.size, 2);
    await assertKept(store, inbox, sent);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a merge above the bytes one request moves, whose bound falls inside a file, loses nothing', async () => {
  // Five files of two 3.5 MiB bodies: 35 MiB, above the 32 MiB one request moves; the bound falls between
  // the two bodies of the fifth file.
  const { dir, key, inbox, sent } = await deliverFromShortLivedWriters(5, 2, 3.5 * 1024 * 1024);
  const store = await openStore({ dir, key, compactEveryMs: 0, exclusive: true });
  try {
    const report = await store.compact();
    assert.deepEqual([report.files, report.filesMerged, report.bodiesMoved], [5, 5, 10]);
    assert.equal((await segmentFiles(dir)).size, 1);
    await assertKept(store, inbox, sent);
    assert.deepEqual(await store.verify(), { ok: true, problems: [] });
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a damaged body in a small file stops the merge with corrupt, and every file and row stays as it was', async () => {
  const { dir, key, inbox, sent } = await deliverFromShortLivedWriters(4);
  const before = await segmentFiles(dir);
  // The third file: the first two are copied before the damage is met, in the same request.
  const damaged = [...before.keys()][2]!;
  await flipByte(join(dir, SEGMENTS, damaged), 5000);
  const store = await openStore({ dir, key, compactEveryMs: 0, exclusive: true });
  try {
    await assert.rejects(store.compact(), (e: unknown) => e instanceof StoreError && e.code === 'corrupt' && /fails authentication/.test(e.message));
    const after = await segmentFiles(dir);
    for (const [name, size] of before) assert.equal(after.get(name), size, `${name} changed`);
    const metas = await store.mail.listMessages(inbox);
    assert.equal(metas.length, sent.size);
    await assert.rejects(store.mail.getBody(metas[2]!.bodyId), (e: unknown) => e instanceof StoreError && e.code === 'corrupt');
    for (const m of metas.filter((_, i) => i !== 2)) assert.ok((await store.mail.getBody(m.bodyId)).equals(sent.get(m.uid)!));
    const verified = await store.verify();
    assert.equal(verified.problems.length, 1, verified.problems.join('\n'));
    assert.match(verified.problems[0]!, new RegExp(damaged));
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a queued message, alone or queued by a delivery, writes no body file record: the queue table keeps it', async () => {
  const dir = await tempDir('mailstack-compact-');
  const store = await openStore({ dir, key: randomBytes(32), compactEveryMs: 0 });
  try {
    await store.accounts.addDomain('example.test');
    const user = await store.accounts.addUser({ address: 'user@example.test', passwordHash: 'x' });
    const queued = await store.queue.enqueue({ sender: 'a@example.test', recipients: ['b@remote.test'], raw: message(1, 100_000) });
    assert.deepEqual(await store.queue.getRaw(queued.id), message(1, 100_000));
    assert.equal([...(await segmentFiles(dir)).values()].reduce((sum, size) => sum + size, 0), 0, 'nothing written to body files by enqueue');
    await store.mail.deliver({ raw: message(2, 100_000), targets: [{ userId: user.id }], enqueue: { sender: 'a@example.test', recipients: ['b@remote.test'], raw: message(3, 100_000) } });
    const bytes = [...(await segmentFiles(dir)).values()].reduce((sum, size) => sum + size, 0);
    assert.ok(bytes > 100_000 && bytes < 200_000, `one body record for the delivered copy, none for the queued one (${bytes} bytes)`);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});
