// Bodies with base64 attachments are kept decoded in their segment record (src/store/sqlite/body-packing.ts):
// the segment shrinks by about a quarter, every read gives the message back byte for byte (after reopening,
// after compaction moved the record), and a packed record is as tamper-evident as any other.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openStore, StoreError, type Store } from '../../src/store/index.ts';
import { openDatabase } from '../../src/store/sqlite/connection.ts';
import { tempDir } from './helpers.ts';

/** A message of ~`bytes` octets: a short text part and an attachment in base64, as mail of that size is. */
function withAttachment(n: number, bytes = 100_000): Buffer {
  const attachment = randomBytes(Math.floor((bytes * 3) / 4)).toString('base64').replace(/.{76}(?!$)/g, '$&\r\n');
  return Buffer.from(
    `From: a@example.org\r\nTo: bob@example.test\r\nSubject: report ${n}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b${n}"\r\n\r\n` +
      `--b${n}\r\nContent-Type: text/plain\r\n\r\nThe report is attached.\r\n` +
      `--b${n}\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n${attachment}\r\n--b${n}--\r\n`,
  );
}

async function segmentBytes(dir: string): Promise<number> {
  let sum = 0;
  for (const name of await readdir(join(dir, 'bodies'))) sum += (await stat(join(dir, 'bodies', name))).size;
  return sum;
}

/** Runs `fn` with a fresh data directory and key, and removes the directory afterwards. */
async function inDataDir(fn: (dir: string, key: Buffer) => Promise<void>): Promise<void> {
  const dir = await tempDir('mailstack-packed-');
  try {
    await fn(dir, randomBytes(32));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function withStore(dir: string, key: Buffer, fn: (store: Store, inboxId: number) => Promise<void>): Promise<void> {
  const store = await openStore({ dir, key, compactEveryMs: 0 });
  try {
    let user = await store.accounts.getUser('bob@example.test');
    if (!user) {
      await store.accounts.addDomain('example.test');
      user = await store.accounts.addUser({ address: 'bob@example.test', passwordHash: 'h' });
    }
    await fn(store, (await store.mail.getMailbox(user.id, 'INBOX'))!.id);
  } finally {
    await store.close();
  }
}

test('a message with a base64 attachment takes a quarter less segment space and reads back byte for byte', async () => {
  await inDataDir(async (dir, key) => {
    const messages = [withAttachment(1), withAttachment(2, 30_000)];
    await withStore(dir, key, async (store, inbox) => {
      for (const raw of messages) await store.mail.append(inbox, { raw });
      const stored = await segmentBytes(dir);
      const sent = messages[0]!.length + messages[1]!.length;
      assert.ok(stored < sent * 0.78, `segments hold ${stored} bytes for ${sent} bytes of mail`);
      const list = await store.mail.listMessages(inbox);
      for (const [i, meta] of list.entries()) assert.ok((await store.mail.getBody(meta.bodyId)).equals(messages[i]!), `message ${i + 1}`);
    });
    await withStore(dir, key, async (store, inbox) => {
      const list = await store.mail.listMessages(inbox);
      for (const [i, meta] of list.entries()) assert.ok((await store.mail.getBody(meta.bodyId)).equals(messages[i]!), `message ${i + 1} after reopening`);
      assert.equal((await store.verify()).ok, true);
    });
  });
});

test('compaction moves packed records packed, and they still read back byte for byte', async () => {
  await inDataDir(async (dir, key) => {
    const messages = Array.from({ length: 6 }, (_, i) => withAttachment(i, 40_000));
    await withStore(dir, key, async (store, inbox) => {
      for (const raw of messages) await store.mail.append(inbox, { raw });
    });
    await withStore(dir, key, async (store, inbox) => {
      const list = await store.mail.listMessages(inbox);
      await store.mail.expunge(inbox, list.filter((_, i) => i % 2 === 0).map((m) => m.uid));
      const before = await segmentBytes(dir);
      const report = await store.compact({ minDeadRatio: 0.2 });
      assert.equal(report.bodiesMoved, 3);
      assert.ok((await segmentBytes(dir)) < before * 0.6, 'the expunged half is given back');
      for (const meta of await store.mail.listMessages(inbox)) {
        assert.ok((await store.mail.getBody(meta.bodyId)).equals(messages[meta.uid - 1]!), `uid ${meta.uid}`);
      }
    });
    const db = openDatabase(dir, key);
    try {
      const rows = db.prepare('SELECT size, seg_length FROM bodies WHERE segment IS NOT NULL').all() as { size: number; seg_length: number | null }[];
      assert.equal(rows.length, 3);
      for (const row of rows) assert.ok(row.seg_length !== null && row.seg_length < row.size * 0.78, `moved packed: ${JSON.stringify(row)}`);
    } finally {
      db.close();
    }
  });
});

test('a packed record is tamper-evident: a flipped byte, or a row that no longer says it is packed, reads as corrupt', async () => {
  await inDataDir(async (dir, key) => {
    await withStore(dir, key, async (store, inbox) => {
      await store.mail.append(inbox, { raw: withAttachment(1, 20_000) });
    });
    const segment = join(dir, 'bodies', (await readdir(join(dir, 'bodies')))[0]!);
    const original = await readFile(segment);
    const flipped = Buffer.from(original);
    const middle = Math.floor(flipped.length / 2);
    flipped[middle] = (flipped[middle] as number) ^ 0x01;
    await writeFile(segment, flipped);
    await withStore(dir, key, async (store, inbox) => {
      const [meta] = await store.mail.listMessages(inbox);
      await assert.rejects(store.mail.getBody(meta!.bodyId), (e: unknown) => e instanceof StoreError && e.code === 'corrupt');
    });
    await writeFile(segment, original);
    // The row claims the unpacked form (v2): the record's associated data says otherwise.
    const db = openDatabase(dir, key);
    try {
      db.prepare('UPDATE bodies SET seg_length = NULL WHERE segment IS NOT NULL').run();
    } finally {
      db.close();
    }
    await withStore(dir, key, async (store, inbox) => {
      const [meta] = await store.mail.listMessages(inbox);
      await assert.rejects(store.mail.getBody(meta!.bodyId), (e: unknown) => e instanceof StoreError && e.code === 'corrupt');
      assert.equal((await store.verify()).ok, false);
    });
  });
});
