// A WAL left by kill -9 with a damaged frame: the store refuses to open rather than let SQLite's recovery drop
// committed transactions unnoticed (src/store/sqlite/wal-check.ts). Each test crashes a child process that
// delivered one message per transaction, then damages a copy of what it left.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openStore } from '../../src/store/index.ts';
import { StoreError } from '../../src/store/types.ts';
import { tempDir } from './helpers.ts';
import { walTestMessage } from './wal-message.ts';

const CHILD = new URL('./wal-child.ts', import.meta.url).pathname;
const DELIVERIES = 6;
const WAL_HEADER_BYTES = 32;
const FRAME_HEADER_BYTES = 24;

interface Crashed {
  dir: string;
  key: Buffer;
}

/** A store whose writer was killed after DELIVERIES acknowledged deliveries, one per transaction. */
async function crashedStore(): Promise<Crashed> {
  const dir = await tempDir('mailstack-wal-');
  const key = randomBytes(32);
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir, key.toString('hex'), String(DELIVERIES)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('DONE')) child.kill('SIGKILL');
    });
    child.on('exit', (code, signal) => (signal === 'SIGKILL' ? resolve() : reject(new Error(`child exited ${code}`))));
  });
  assert.ok(existsSync(join(dir, 'store.db-wal')) && existsSync(join(dir, 'store.db-shm')), 'the crash left a WAL and its index');
  return { dir, key };
}

/** The WAL's frames: where each starts, and whether it ends a transaction. */
function frames(dir: string): { offset: number; commit: boolean }[] {
  const wal = readFileSync(join(dir, 'store.db-wal'));
  const frameBytes = FRAME_HEADER_BYTES + wal.readUInt32BE(8);
  const found: { offset: number; commit: boolean }[] = [];
  for (let offset = WAL_HEADER_BYTES; offset + frameBytes <= wal.length; offset += frameBytes) {
    found.push({ offset, commit: wal.readUInt32BE(offset + 4) !== 0 });
  }
  return found;
}

/** Flips one bit in the page data of `frame`. */
function damage(dir: string, frame: { offset: number }): void {
  const path = join(dir, 'store.db-wal');
  const wal = readFileSync(path);
  wal[frame.offset + FRAME_HEADER_BYTES + 1000]! ^= 0x10;
  writeFileSync(path, wal);
}

async function messageSubjects(crashed: Crashed): Promise<string[]> {
  const store = await openStore({ dir: crashed.dir, key: crashed.key, compactEveryMs: 0 });
  try {
    const user = await store.accounts.getUser('wal@example.test');
    if (!user) return [];
    const inbox = (await store.mail.getMailbox(user.id, 'INBOX'))!;
    const subjects: string[] = [];
    for (const message of await store.mail.listMessages(inbox.id)) {
      const body = await store.mail.getBody(message.bodyId);
      subjects.push(/^Subject: (.*)\r\n/.exec(body.toString())![1]!);
      const n = Number(subjects.at(-1)!.split(' ').at(-1));
      assert.deepEqual(body, walTestMessage(n), `message ${n} byte for byte`);
    }
    assert.deepEqual(await store.verify(), { ok: true, problems: [] });
    return subjects;
  } finally {
    await store.close();
  }
}

async function refusedAsCorrupt(crashed: Crashed): Promise<StoreError> {
  const error = await openStore({ dir: crashed.dir, key: crashed.key, compactEveryMs: 0 }).then(
    async (store) => {
      await store.close();
      return null;
    },
    (e: unknown) => e,
  );
  assert.ok(error instanceof StoreError, `the store must refuse to open, got ${String(error)}`);
  assert.equal(error.code, 'corrupt');
  assert.match(error.message, /store\.db-wal: (frame \d+|the log) is damaged/);
  return error;
}

const allSubjects = Array.from({ length: DELIVERIES }, (_, n) => `wal test ${n}`);

test('an undamaged WAL left by kill -9 opens with every acknowledged delivery', async () => {
  const crashed = await crashedStore();
  try {
    assert.deepEqual(await messageSubjects(crashed), allSubjects);
  } finally {
    rmSync(crashed.dir, { recursive: true, force: true });
  }
});

test('a flipped bit in an early WAL frame is refused as corrupt, with or without the WAL index; nothing is deleted; the advice given works', async () => {
  const crashed = await crashedStore();
  const withoutIndex = { dir: `${crashed.dir}-copy`, key: crashed.key };
  try {
    const list = frames(crashed.dir);
    assert.ok(list.filter((f) => f.commit).length >= DELIVERIES, 'one transaction per delivery');
    damage(crashed.dir, list[1]!);
    cpSync(crashed.dir, withoutIndex.dir, { recursive: true });
    rmSync(join(withoutIndex.dir, 'store.db-shm'));
    const segments = readdirSync(join(crashed.dir, 'bodies'));
    assert.ok(segments.length > 0);

    const error = await refusedAsCorrupt(crashed);
    assert.match(error.message, /WAL index/);
    // Opening did not clean up body files that only the dropped transactions reference.
    assert.deepEqual(readdirSync(join(crashed.dir, 'bodies')), segments);
    // Without the index (lost with a power cut), the later commits are the evidence.
    assert.match((await refusedAsCorrupt(withoutIndex)).message, /committed after it/);

    // The message's way out: cut the log before the damaged frame and drop the index.
    const advice = /truncate -s (\d+) (\S+) && rm (\S+)$/.exec(error.message);
    assert.ok(advice, error.message);
    truncateSync(advice[2]!, Number(advice[1]));
    rmSync(advice[3]!);
    assert.deepEqual(await messageSubjects(crashed), [], 'the damage was in the first transactions: nothing of the user survives');
  } finally {
    rmSync(crashed.dir, { recursive: true, force: true });
    rmSync(withoutIndex.dir, { recursive: true, force: true });
  }
});

test('a flipped bit in the last transaction is refused while the WAL index records it; without the index it is taken for a torn write', async () => {
  const crashed = await crashedStore();
  const withoutIndex = { dir: `${crashed.dir}-copy`, key: crashed.key };
  try {
    const list = frames(crashed.dir);
    damage(crashed.dir, list.at(-1)!);
    cpSync(crashed.dir, withoutIndex.dir, { recursive: true });
    rmSync(join(withoutIndex.dir, 'store.db-shm'));

    await refusedAsCorrupt(crashed);
    // Without the index this damage looks exactly like a write the crash cut short: SQLite drops that last
    // transaction, and everything before it is there (the limit wal-check.ts states).
    assert.deepEqual(await messageSubjects(withoutIndex), allSubjects.slice(0, -1));
  } finally {
    rmSync(crashed.dir, { recursive: true, force: true });
    rmSync(withoutIndex.dir, { recursive: true, force: true });
  }
});

test('damage outside the page data is caught too: a frame\'s salt, the WAL header, a frame\'s stored checksum', async () => {
  const crashed = await crashedStore();
  const copies: Crashed[] = [];
  const variant = (name: string, change: (wal: Buffer) => void, keepIndex: boolean): Crashed => {
    const copy = { dir: `${crashed.dir}-${name}`, key: crashed.key };
    cpSync(crashed.dir, copy.dir, { recursive: true });
    if (!keepIndex) rmSync(join(copy.dir, 'store.db-shm'));
    const path = join(copy.dir, 'store.db-wal');
    const wal = readFileSync(path);
    change(wal);
    writeFileSync(path, wal);
    copies.push(copy);
    return copy;
  };
  try {
    const second = frames(crashed.dir)[1]!.offset;
    // The salt is not under the frame checksum: only the index tells this frame was committed.
    await refusedAsCorrupt(variant('salt', (wal) => (wal[second + 8]! ^= 0x01), true));
    // A header that fails its checksum makes SQLite ignore the whole log.
    assert.match((await refusedAsCorrupt(variant('header', (wal) => (wal[12]! ^= 0x01), true))).message, /the log is damaged, and its header fails/);
    // The frame's stored checksum itself: without the index, the frames after it still chain from the
    // checksum computed for it, and their commits are the evidence.
    await refusedAsCorrupt(variant('checksum', (wal) => (wal[second + 16]! ^= 0x01), false));
  } finally {
    rmSync(crashed.dir, { recursive: true, force: true });
    for (const copy of copies) rmSync(copy.dir, { recursive: true, force: true });
  }
});
