// Data at rest: nothing readable in the data directory, a flipped byte is detected and never served, a
// wrong key fails cleanly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { cp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openStore, StoreError, type Store } from '../../src/store/index.ts';
import { tempDir } from './helpers.ts';
import { deriveBodyKey, SEGMENT_THRESHOLD_BYTES } from '../../src/store/sqlite/segments.ts';
import { openDatabase } from '../../src/store/sqlite/connection.ts';

const SUBJECT = 'Quarterly merger plans ZEBRA-7781';
const BODY_LINE = 'The vault combination is ORCHID-4412-PLAINTEXT';
const ADDRESS = 'secret.person@hidden-domain.test';
const PASSWORD_HASH = '$2b$12$KnownHashForGrepTestOnlyXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX';

function knownMessage(): Buffer {
  return Buffer.from(
    `From: Someone <someone@example.org>\r\nTo: ${ADDRESS}\r\nSubject: ${SUBJECT}\r\nMessage-ID: <grep-test@example.org>\r\n\r\n` +
      `${BODY_LINE}\r\n${'filler line to make the body span pages\r\n'.repeat(200)}`,
  );
}

/** Every file under dir, with its bytes. */
async function readAll(dir: string): Promise<{ name: string; bytes: Buffer }[]> {
  const out: { name: string; bytes: Buffer }[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    out.push({ name: path.slice(dir.length + 1), bytes: await readFile(path) });
  }
  return out;
}

function assertNoPlaintext(files: { name: string; bytes: Buffer }[], when: string): void {
  const needles = [SUBJECT, BODY_LINE, ADDRESS, PASSWORD_HASH, 'hidden-domain', 'ZEBRA-7781', 'ORCHID-4412'];
  for (const file of files) {
    for (const needle of needles) {
      for (const encoding of ['utf8', 'utf16le'] as const) {
        assert.equal(file.bytes.includes(Buffer.from(needle, encoding)), false, `${when}: "${needle}" (${encoding}) found in ${file.name}`);
      }
    }
  }
}

async function populate(store: Store): Promise<{ userId: number; inboxId: number }> {
  await store.accounts.addDomain('hidden-domain.test');
  const user = await store.accounts.addUser({ address: ADDRESS, passwordHash: PASSWORD_HASH });
  const inbox = (await store.mail.getMailbox(user.id, 'INBOX'))!;
  await store.mail.deliver({ raw: knownMessage(), targets: [{ userId: user.id }] });
  await store.mail.append(inbox.id, { raw: knownMessage(), flags: ['\\Seen'] });
  await store.queue.enqueue({ sender: ADDRESS, recipients: [`other-${ADDRESS}`], raw: knownMessage() });
  return { userId: user.id, inboxId: inbox.id };
}

test('no plaintext in any file of the data directory, while open (WAL) and after close', async () => {
  const dir = await tempDir();
  try {
    const store = await openStore({ dir, key: randomBytes(32) });
    await populate(store);
    const whileOpen = await readAll(dir);
    const wal = whileOpen.find((f) => f.name.endsWith('-wal'));
    assert.ok(wal && wal.bytes.length > 0, 'the WAL holds the data while the store is open');
    // The known message is above the segment threshold: its body is in a segment file, grepped too.
    assert.ok(knownMessage().length >= SEGMENT_THRESHOLD_BYTES);
    assert.ok(whileOpen.some((f) => /^bodies\/seg-\d+\.dat$/.test(f.name) && f.bytes.length > knownMessage().length), 'a segment file holds the bodies');
    assertNoPlaintext(whileOpen, 'while open');
    await store.close();
    const afterClose = await readAll(dir);
    assert.ok(afterClose.some((f) => f.name.endsWith('.db') && f.bytes.length > 8192), 'the database file holds the data after close');
    assertNoPlaintext(afterClose, 'after close');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a wrong key fails cleanly as locked and changes nothing', async () => {
  const dir = await tempDir();
  try {
    const store = await openStore({ dir, key: randomBytes(32) });
    await populate(store);
    await store.close();
    const before = await readAll(dir);
    await assert.rejects(openStore({ dir, key: randomBytes(32) }), (error: unknown) => {
      assert.ok(error instanceof StoreError);
      assert.equal(error.code, 'locked');
      return true;
    });
    assert.deepEqual(await readAll(dir), before);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a flipped byte anywhere in the database file is detected and never served as mail', async () => {
  const dir = await tempDir();
  const key = randomBytes(32);
  const copies: string[] = [];
  try {
    const store = await openStore({ dir, key });
    const { inboxId } = await populate(store);
    // A larger message so that much of the file is body pages.
    const big = Buffer.concat([Buffer.from('Subject: big\r\n\r\n'), Buffer.from(randomBytes(120_000).toString('base64').replace(/.{76}/g, '$&\r\n'))]);
    await store.mail.append(inboxId, { raw: big });
    const expected = new Map<number, Buffer>();
    for (const m of await store.mail.listMessages(inboxId)) expected.set(m.uid, await store.mail.getBody(m.bodyId));
    assert.equal(expected.size, 3);
    await store.close();
    const dbFile = (await readdir(dir)).find((n) => n.endsWith('.db'))!;
    const size = (await stat(join(dir, dbFile))).size;
    const pageSize = 16384;
    // Page 1 (the header page), the end of page 1 (tag and nonce), the middle of the file (body pages),
    // the last byte, and a spread of positions in between.
    const positions = [0, 10, 18, 20, 100, pageSize - 1, pageSize + 50, Math.floor(size / 2), Math.floor(size / 3) + 7, Math.floor((size * 2) / 3) + 3, size - 1];
    for (const position of positions) {
      const copy = await tempDir('mailstack-tamper-');
      copies.push(copy);
      await cp(dir, copy, { recursive: true });
      const path = join(copy, dbFile);
      const bytes = await readFile(path);
      bytes[position] = (bytes[position] as number) ^ 0x01;
      await writeFile(path, bytes);
      let detected = false;
      let tampered: Store;
      try {
        tampered = await openStore({ dir: copy, key });
      } catch (error) {
        assert.ok(error instanceof StoreError, String(error));
        assert.equal(error.code, 'corrupt', `byte ${position}: ${error.message}`);
        continue;
      }
      try {
        // Every read either fails as corrupt or returns exactly what was stored.
        try {
          for (const m of await tampered.mail.listMessages(inboxId)) {
            try {
              const body = await tampered.mail.getBody(m.bodyId);
              assert.ok(body.equals(expected.get(m.uid)!), `byte ${position}: message ${m.uid} served altered`);
            } catch (error) {
              assert.ok(error instanceof StoreError && error.code === 'corrupt', `byte ${position}: ${String(error)}`);
              detected = true;
            }
          }
        } catch (error) {
          assert.ok(error instanceof StoreError && error.code === 'corrupt', `byte ${position}: ${String(error)}`);
          detected = true;
        }
        const report = await tampered.verify();
        assert.equal(report.ok, false, `byte ${position}: verify() did not notice`);
        assert.ok(report.problems.length > 0);
        detected = true;
      } finally {
        await tampered.close().catch(() => undefined);
      }
      assert.ok(detected);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
    for (const copy of copies) await rm(copy, { recursive: true, force: true });
  }
});

/** A store with one user and `sizes.length` appended messages of random base64 text; returns their bodies. */
async function storeWithBodies(dir: string, key: Buffer, sizes: number[]): Promise<{ inboxId: number; bodies: Buffer[] }> {
  const store = await openStore({ dir, key });
  try {
    await store.accounts.addDomain('example.test');
    const user = await store.accounts.addUser({ address: 'bob@example.test', passwordHash: 'h' });
    const inbox = (await store.mail.getMailbox(user.id, 'INBOX'))!;
    const bodies: Buffer[] = [];
    for (const size of sizes) {
      const head = Buffer.from('Subject: big\r\n\r\n');
      const raw = Buffer.concat([head, Buffer.from(randomBytes(size).toString('base64').slice(0, size - head.length))]);
      await store.mail.append(inbox.id, { raw });
      bodies.push(raw);
    }
    return { inboxId: inbox.id, bodies };
  } finally {
    await store.close();
  }
}

const SEGMENT = join('bodies', 'seg-000001.dat');

/** Rewrites the store's one segment record as the first segment format wrote it (v1): associated data =
 * segment (4 bytes), offset (8), body id (8), size (8), big-endian; and no nonce in the row. Returns the record. */
async function rewriteAsV1(dir: string, key: Buffer, raw: Buffer): Promise<Buffer> {
  const db = openDatabase(dir, key);
  const row = db.prepare('SELECT id, segment, seg_offset FROM bodies WHERE segment IS NOT NULL').get() as { id: number; segment: number; seg_offset: number };
  db.prepare('UPDATE bodies SET seg_nonce = NULL WHERE id = ?').run(row.id);
  db.close();
  const ad = Buffer.alloc(28);
  ad.writeUInt32BE(row.segment, 0);
  ad.writeBigUInt64BE(BigInt(row.seg_offset), 4);
  ad.writeBigUInt64BE(BigInt(row.id), 12);
  ad.writeBigUInt64BE(BigInt(raw.length), 20);
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', deriveBodyKey(key), nonce);
  cipher.setAAD(ad);
  const record = Buffer.concat([nonce, cipher.update(raw), cipher.final(), cipher.getAuthTag()]);
  await writeFile(join(dir, SEGMENT), record);
  return record;
}

test('a segment record of the first form (v1: bound to its place and row id, no nonce in the row) is still served, and a flipped byte in it is caught', async () => {
  const dir = await tempDir();
  const key = randomBytes(32);
  try {
    const { inboxId, bodies } = await storeWithBodies(dir, key, [50_000]);
    const raw = bodies[0]!;
    const record = await rewriteAsV1(dir, key, raw);

    let store = await openStore({ dir, key });
    try {
      const [meta] = await store.mail.listMessages(inboxId);
      assert.ok((await store.mail.getBody(meta!.bodyId)).equals(raw), 'the v1 record is read back');
      assert.equal((await store.verify()).ok, true);
    } finally {
      await store.close();
    }
    record[100] = (record[100] as number) ^ 1;
    await writeFile(join(dir, SEGMENT), record);
    store = await openStore({ dir, key });
    try {
      const [meta] = await store.mail.listMessages(inboxId);
      await assert.rejects(store.mail.getBody(meta!.bodyId), (error: unknown) => error instanceof StoreError && error.code === 'corrupt');
    } finally {
      await store.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('compaction rewrites a v1 record as a v2 one (a nonce in the row), byte for byte', async () => {
  const dir = await tempDir();
  const key = randomBytes(32);
  try {
    const { inboxId, bodies } = await storeWithBodies(dir, key, [50_000]);
    const raw = bodies[0]!;
    const record = await rewriteAsV1(dir, key, raw);
    // Dead bytes after the record (as a failed delivery leaves), so that the file is worth compacting.
    await writeFile(join(dir, SEGMENT), Buffer.concat([record, randomBytes(60_000)]));
    const store = await openStore({ dir, key, compactEveryMs: 0 });
    try {
      const report = await store.compact();
      assert.deepEqual([report.files, report.bodiesMoved], [1, 1]);
      await assert.rejects(stat(join(dir, SEGMENT)), { code: 'ENOENT' });
      const [meta] = await store.mail.listMessages(inboxId);
      assert.ok((await store.mail.getBody(meta!.bodyId)).equals(raw));
      assert.deepEqual(await store.verify(), { ok: true, problems: [] });
    } finally {
      await store.close();
    }
    const db = openDatabase(dir, key);
    try {
      const row = db.prepare('SELECT segment, seg_nonce FROM bodies WHERE segment IS NOT NULL').get() as { segment: number; seg_nonce: Buffer | null };
      assert.notEqual(row.segment, 1);
      assert.equal(row.seg_nonce?.length, 12, 'the row names its new record by its nonce');
    } finally {
      db.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a flipped byte in a body segment record (nonce, ciphertext, tag) makes getBody fail as corrupt and verify() report it', async () => {
  const dir = await tempDir();
  const key = randomBytes(32);
  const copies: string[] = [];
  try {
    const { inboxId, bodies } = await storeWithBodies(dir, key, [300_000]);
    const size = (await stat(join(dir, SEGMENT))).size;
    assert.equal(size, bodies[0]!.length + 28, 'one record: 12-byte nonce, the sealed body, 16-byte tag');
    for (const position of [0, 11, 12, Math.floor(size / 2), size - 17, size - 1]) {
      const copy = await tempDir('mailstack-tamper-');
      copies.push(copy);
      await cp(dir, copy, { recursive: true });
      const bytes = await readFile(join(copy, SEGMENT));
      bytes[position] = (bytes[position] as number) ^ 0x80;
      await writeFile(join(copy, SEGMENT), bytes);
      const store = await openStore({ dir: copy, key });
      try {
        const [meta] = await store.mail.listMessages(inboxId);
        await assert.rejects(store.mail.getBody(meta!.bodyId), (error: unknown) => error instanceof StoreError && error.code === 'corrupt', `byte ${position}`);
        const report = await store.verify();
        assert.equal(report.ok, false, `byte ${position}: verify() did not notice`);
        assert.match(report.problems.join('\n'), /fails authentication/);
      } finally {
        await store.close();
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
    for (const copy of copies) await rm(copy, { recursive: true, force: true });
  }
});

test('a segment record copied over another of the same size is detected, not served as the other message', async () => {
  const dir = await tempDir();
  const key = randomBytes(32);
  try {
    const { inboxId, bodies } = await storeWithBodies(dir, key, [20_000, 20_000]);
    const bytes = await readFile(join(dir, SEGMENT));
    const record = bodies[0]!.length + 28;
    assert.equal(bytes.length, 2 * record);
    bytes.copy(bytes, record, 0, record); // the first record, nonce and tag included, over the second
    await writeFile(join(dir, SEGMENT), bytes);
    const store = await openStore({ dir, key });
    try {
      const [first, second] = await store.mail.listMessages(inboxId);
      assert.ok((await store.mail.getBody(first!.bodyId)).equals(bodies[0]!));
      await assert.rejects(store.mail.getBody(second!.bodyId), (error: unknown) => error instanceof StoreError && error.code === 'corrupt');
      assert.equal((await store.verify()).ok, false);
    } finally {
      await store.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a truncated segment: the store opens, the cut body fails as corrupt, the others are served, verify() reports it', async () => {
  const dir = await tempDir();
  const key = randomBytes(32);
  try {
    const { inboxId, bodies } = await storeWithBodies(dir, key, [20_000, 30_000]);
    const bytes = await readFile(join(dir, SEGMENT));
    await writeFile(join(dir, SEGMENT), bytes.subarray(0, bytes.length - 1000));
    const store = await openStore({ dir, key });
    try {
      const [first, second] = await store.mail.listMessages(inboxId);
      assert.ok((await store.mail.getBody(first!.bodyId)).equals(bodies[0]!));
      await assert.rejects(store.mail.getBody(second!.bodyId), (error: unknown) => error instanceof StoreError && error.code === 'corrupt');
      assert.equal((await store.verify()).ok, false);
    } finally {
      await store.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('bytes no committed row references (a crash between segment write and commit) are never served; a segment holding only such bytes is deleted at open', async () => {
  const dir = await tempDir();
  const key = randomBytes(32);
  try {
    const { inboxId, bodies } = await storeWithBodies(dir, key, [20_000]);
    const committed = await readFile(join(dir, SEGMENT));
    // What writers killed after appending and before COMMIT leave: a record no row references at the end of
    // a segment, and a segment file of their own that no row references at all.
    await writeFile(join(dir, SEGMENT), Buffer.concat([committed, randomBytes(50_000)]));
    const orphan = join('bodies', 'seg-000007.dat');
    await writeFile(join(dir, orphan), randomBytes(30_000));
    // Left by a crash two hours ago: a file that young could be another process's, filling now (next test).
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    await utimes(join(dir, orphan), twoHoursAgo, twoHoursAgo);
    let store = await openStore({ dir, key });
    try {
      await assert.rejects(stat(join(dir, orphan)), /ENOENT/, 'the unreferenced segment is deleted at open');
      const raw = Buffer.concat([Buffer.from('Subject: after\r\n\r\n'), Buffer.from(randomBytes(15_000).toString('base64'))]);
      await store.mail.append(inboxId, { raw });
      // The new record goes to a file of this writer's own, never after another writer's bytes.
      assert.equal((await readFile(join(dir, SEGMENT))).subarray(0, committed.length).equals(committed), true);
      assert.equal((await readdir(join(dir, 'bodies'))).length, 2);
      const metas = await store.mail.listMessages(inboxId);
      assert.equal(metas.length, 2);
      assert.ok((await store.mail.getBody(metas[0]!.bodyId)).equals(bodies[0]!));
      assert.ok((await store.mail.getBody(metas[1]!.bodyId)).equals(raw));
      await store.close();
      store = await openStore({ dir, key });
      assert.ok((await store.mail.getBody(metas[1]!.bodyId)).equals(raw));
      assert.deepEqual(await store.verify(), { ok: true, problems: [] });
    } finally {
      await store.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a segment deleted under a writer (another process opening the store) fails that batch with a temporary error, and the writer moves to a new file', async () => {
  const dir = await tempDir();
  const key = randomBytes(32);
  const store = await openStore({ dir, key });
  try {
    await store.accounts.addDomain('example.test');
    const user = await store.accounts.addUser({ address: 'bob@example.test', passwordHash: 'h' });
    const inbox = (await store.mail.getMailbox(user.id, 'INBOX'))!;
    const big = (n: number) => Buffer.concat([Buffer.from(`Subject: ${n}\r\n\r\n`), Buffer.from(randomBytes(12_000).toString('base64'))]);
    // A request that fails after its record was appended: the writer's segment holds no committed record,
    // which is what another process's open() deletes.
    await assert.rejects(store.mail.append(inbox.id + 1000, { raw: big(0) }), (error: unknown) => error instanceof StoreError && error.code === 'not_found');
    const [segment] = await readdir(join(dir, 'bodies'));
    await rm(join(dir, 'bodies', segment!));
    await assert.rejects(store.mail.append(inbox.id, { raw: big(1) }), (error: unknown) => error instanceof StoreError && error.code === 'unavailable');
    const raw = big(2);
    await store.mail.append(inbox.id, { raw });
    const metas = await store.mail.listMessages(inbox.id);
    assert.equal(metas.length, 1, 'the failed append left nothing');
    assert.ok((await store.mail.getBody(metas[0]!.bodyId)).equals(raw));
    assert.deepEqual(await store.verify(), { ok: true, problems: [] });
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('two writers on one data directory (a CLI racing the server) never write over each other in a segment', async () => {
  const dir = await tempDir();
  const key = randomBytes(32);
  try {
    const { inboxId } = await storeWithBodies(dir, key, [10_000]);
    const first = await openStore({ dir, key });
    const second = await openStore({ dir, key });
    try {
      const sent: Buffer[] = [];
      const appends: Promise<unknown>[] = [];
      for (let i = 0; i < 12; i++) {
        const raw = Buffer.concat([Buffer.from(`Subject: ${i}\r\n\r\n`), Buffer.from(randomBytes(9_000 + i * 500).toString('base64'))]);
        sent.push(raw);
        appends.push((i % 2 === 0 ? first : second).mail.append(inboxId, { raw }));
      }
      await Promise.all(appends);
      const metas = await first.mail.listMessages(inboxId);
      assert.equal(metas.length, 13);
      for (const store of [first, second]) {
        const bodies = await Promise.all(metas.slice(1).map((m) => store.mail.getBody(m.bodyId)));
        for (const raw of sent) assert.ok(bodies.some((b) => b.equals(raw)), 'a body was overwritten by the other writer');
      }
      assert.deepEqual(await first.verify(), { ok: true, problems: [] });
    } finally {
      await first.close();
      await second.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the database is AEGIS-256 encrypted under the raw key (no key derivation): a passphrase-style key does not open it', async () => {
  const { default: Database } = await import('better-sqlite3-multiple-ciphers');
  const dir = await tempDir();
  const key = randomBytes(32);
  try {
    const store = await openStore({ dir, key });
    await populate(store);
    await store.close();
    const path = join(dir, 'store.db');
    const raw = new Database(path, { fileMustExist: true });
    try {
      raw.pragma(`cipher = 'aegis'`);
      raw.pragma(`algorithm = 'aegis-256'`);
      raw.pragma(`key = "x'${key.toString('hex')}'"`);
      assert.ok((raw.prepare('SELECT count(*) AS n FROM users').get() as { n: number }).n === 1);
      assert.deepEqual(raw.pragma('cipher'), [{ aegis: 'aegis' }]);
    } finally {
      raw.close();
    }
    // The same 32 bytes given as a passphrase go through the cipher's KDF and yield another key.
    const derived = new Database(path, { fileMustExist: true });
    try {
      derived.pragma(`cipher = 'aegis'`);
      derived.pragma(`key = '${key.toString('hex')}'`);
      assert.throws(() => derived.prepare('SELECT count(*) FROM users').get(), /not a database/);
    } finally {
      derived.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('every file of the store is readable by its owner only, the database, its WAL and its index included', async () => {
  const dir = await tempDir();
  try {
    const store = await openStore({ dir, key: randomBytes(32) });
    await populate(store);
    const modes = async () => {
      const found: string[] = [];
      for (const name of await readdir(dir, { recursive: true })) {
        const mode = (await stat(join(dir, name))).mode & 0o777;
        if ((mode & 0o077) !== 0) found.push(`${name} ${mode.toString(8)}`);
      }
      return found;
    };
    assert.ok((await readdir(dir)).includes('store.db-wal'));
    assert.deepEqual(await modes(), [], 'while open');
    await store.close();
    assert.deepEqual(await modes(), [], 'after close');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a damaged key check file is reported as damage, not as a wrong passphrase; deleted, it is written again', async () => {
  const dir = await tempDir();
  const key = randomBytes(32);
  const checkFile = join(dir, 'store.keycheck');
  const opening = (k: Buffer) =>
    openStore({ dir, key: k }).then(
      async (store) => {
        await store.close();
        return null;
      },
      (error: unknown) => error as StoreError,
    );
  try {
    const store = await openStore({ dir, key });
    await populate(store);
    await store.close();
    const original = await readFile(checkFile);

    // One hex digit changed into another (a flipped bit would turn "a" into "`" and "f" into "g" one run in
    // eight): the database opens with the key, so the check file is what is damaged.
    const digit = Buffer.from(original);
    digit[5] = digit[5] === 0x30 ? 0x31 : 0x30;
    assert.match(digit.toString('latin1'), /^[0-9a-f]{64}\n$/);
    await writeFile(checkFile, digit);
    const damaged = await opening(key);
    assert.equal(damaged?.code, 'corrupt');
    assert.match(damaged.message, /store\.keycheck is damaged/);
    // A wrong key is still told apart: the database does not open with it either.
    assert.equal((await opening(randomBytes(32)))?.code, 'locked');

    // The newline flipped into another whitespace character.
    const newline = Buffer.from(original);
    newline[64] = (newline[64] as number) ^ 0x01;
    await writeFile(checkFile, newline);
    assert.equal((await opening(key))?.code, 'corrupt');

    // Deleted, as the message advises: the next open with the right key writes it again.
    await rm(checkFile);
    assert.equal(await opening(key), null);
    assert.deepEqual(await readFile(checkFile), original);
    assert.equal((await opening(randomBytes(32)))?.code, 'locked');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('at open, a young segment file no row references is left to the process that may be filling it, unless the opener is alone', async () => {
  const dir = await tempDir();
  const key = randomBytes(32);
  try {
    await storeWithBodies(dir, key, [20_000]);
    const young = join(dir, 'bodies', 'seg-000009.dat');
    await writeFile(young, randomBytes(30_000));
    let store = await openStore({ dir, key });
    await store.close();
    assert.ok((await stat(young)).size === 30_000, 'another process may still commit rows that reference it');
    store = await openStore({ dir, key, exclusive: true });
    await store.close();
    await assert.rejects(stat(young), /ENOENT/, 'serve, alone on the data directory, deletes it');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
