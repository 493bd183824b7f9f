// A full disk under the store (a small tmpfs): writes fail with StoreError 'no_space', whether the body goes to
// a segment file (ENOSPC) or into SQLite (SQLITE_FULL). Nothing acknowledged is lost, the store opens clean
// afterwards, and deliveries succeed again once space is freed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { openStore, StoreError, type Store } from '../../src/store/index.ts';
import { fillDisk, freeDisk, mountSmallDisk } from '../helpers/tmpfs.ts';

function message(n: number, bytes: number): Buffer {
  const head = `From: a@example.org\r\nTo: user@example.test\r\nSubject: disk full ${n}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head), Buffer.from(randomBytes(bytes).toString('base64').slice(0, bytes - head.length))]);
}

for (const [label, bytes] of [
  ['100 KB bodies (segment files)', 100_000],
  ['1 KB bodies (kept in SQLite)', 1_000],
] as const) {
  test(`a full disk: ${label} fail with no_space, nothing acknowledged is lost, and delivery resumes once space is freed`, async (t) => {
    const disk = await mountSmallDisk(24 * 1024 * 1024);
    if ('refused' in disk) return t.skip(disk.refused);
    const dir = join(disk.dir, 'store');
    const key = randomBytes(32);
    let store: Store | null = null;
    try {
      await mkdir(dir);
      store = await openStore({ dir, key, compactEveryMs: 0 });
      await store.accounts.addDomain('example.test');
      const user = await store.accounts.addUser({ address: 'user@example.test', passwordHash: 'h' });
      const inbox = (await store.mail.getMailbox(user.id, 'INBOX'))!;
      const acknowledged = new Map<number, Buffer>();
      const s = store;
      const deliver = async (raw: Buffer): Promise<StoreError | null> => {
        try {
          const result = await s.mail.deliver({ raw, targets: [{ userId: user.id }] });
          acknowledged.set(result.stored[0]!.uid, raw);
          return null;
        } catch (error) {
          if (error instanceof StoreError) return error;
          throw error;
        }
      };
      for (let n = 0; n < 20; n++) assert.equal(await deliver(message(n, bytes)), null, 'room for the first ones');

      const filler = fillDisk(disk.dir);
      // Side by side, as the SMTP listeners deliver: a batch fails as a whole, and no request hangs.
      const failures = (await Promise.all(Array.from({ length: 16 }, (_, i) => deliver(message(100 + i, bytes))))).filter((e) => e !== null);
      assert.ok(failures.length > 0, 'a full disk refuses deliveries');
      for (const failure of failures) assert.equal(failure.code, 'no_space', failure.message);

      freeDisk(filler);
      for (let n = 0; n < 4; n++) assert.equal(await deliver(message(200 + n, bytes)), null, 'deliveries resume once space is back');

      await store.close();
      store = await openStore({ dir, key, compactEveryMs: 0 });
      const messages = await store.mail.listMessages(inbox.id);
      assert.deepEqual(messages.map((m) => m.uid).sort((a, b) => a - b), [...acknowledged.keys()].sort((a, b) => a - b), 'exactly the acknowledged deliveries');
      for (const meta of messages) assert.ok((await store.mail.getBody(meta.bodyId)).equals(acknowledged.get(meta.uid)!), `UID ${meta.uid} intact`);
      assert.deepEqual((await store.verify()).problems, []);
    } finally {
      await store?.close();
      await disk.unmount();
    }
  });
}

test('freeSpace() reports what the file system of the data directory has free', async (t) => {
  const disk = await mountSmallDisk(8 * 1024 * 1024);
  if ('refused' in disk) return t.skip(disk.refused);
  let store: Store | null = null;
  try {
    store = await openStore({ dir: join(disk.dir, 'store'), key: randomBytes(32), compactEveryMs: 0 });
    const before = await store.freeSpace();
    assert.ok(before > 0 && before <= 8 * 1024 * 1024, `${before} bytes free on an 8 MiB disk`);
    const filler = fillDisk(disk.dir);
    assert.ok((await store.freeSpace()) < 64 * 1024, 'next to nothing once the disk is filled');
    freeDisk(filler);
    assert.equal(await store.freeSpace(), before);
  } finally {
    await store?.close();
    await disk.unmount();
  }
});
