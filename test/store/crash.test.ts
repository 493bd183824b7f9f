// Crash test: kill -9 the writer process at random points under concurrent load, reopen, and check that
// every acknowledged delivery is present and byte-identical and the store verifies clean. The second test
// does the same while messages are expunged and body files compacted beside the deliveries; the third while
// the small body files of earlier runs are merged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openDatabase } from '../../src/store/sqlite/connection.ts';
import { spawn } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { openStore } from '../../src/store/index.ts';
import { tempDir } from './helpers.ts';
import { CRASH_USER, crashId, crashMessage } from './crash-message.ts';
import type { Store } from '../../src/store/index.ts';

const KILLS = 20;
const WRITERS = 8;
const CHECK_EVERY = 4;
const CHILD = fileURLToPath(new URL('./crash-child.ts', import.meta.url));

/** Runs one child, kills it with SIGKILL after it acknowledged `killAfter` deliveries (or, with `killDuring`,
 * that many ms after it first printed that line); returns the acks and the child's other lines. */
function runAndKill(
  dir: string,
  keyHex: string,
  run: number,
  killAfter: number,
  mode = '',
  killDuring?: { line: string; delayMs: number },
): Promise<{ acks: string[]; lines: string[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir, keyHex, String(run), String(WRITERS), ...(mode ? [mode] : [])], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, MAILSTACK_LOG_LEVEL: 'silent' },
    });
    const acks: string[] = [];
    const lines: string[] = [];
    let ready = false;
    let killed = false;
    let pending = '';
    let stderr = '';
    const kill = (): void => {
      if (killed) return;
      killed = true;
      child.kill('SIGKILL');
    };
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      pending += chunk;
      let newline: number;
      while ((newline = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        // Only lines received before the kill count; a line after it was still acknowledged, though.
        if (line === 'READY') ready = true;
        else if (line.startsWith('ACK ')) acks.push(line.slice(4));
        else if (!killed) lines.push(line);
        if (killDuring) {
          if (line === killDuring.line) setTimeout(kill, killDuring.delayMs);
        } else if (ready && acks.length >= killAfter) kill();
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve({ acks, lines });
      else reject(new Error(`child exited by itself (code ${code}): ${stderr}`));
    });
  });
}

/**
 * What a store that killed children left behind must hold: every message one the writers produced, once and
 * byte-identical; every acknowledged delivery, unless an expunge of it was under way (`expunging`); none that
 * was expunged and acknowledged as such (`expunged`); and a clean verify().
 */
async function checkStore(store: Store, acknowledged: Set<string>, run: number, expunges = { expunging: new Set<string>(), expunged: new Set<string>() }): Promise<void> {
  const user = await store.accounts.getUser(CRASH_USER);
  if (!user) {
    assert.equal(acknowledged.size, 0, 'deliveries were acknowledged but the user is gone');
    return;
  }
  const inbox = (await store.mail.getMailbox(user.id, 'INBOX'))!;
  const metas = await store.mail.listMessages(inbox.id);
  const stored = new Set<string>();
  for (const message of await store.mail.getMessages(inbox.id, metas.map((m) => m.uid))) {
    const id = crashId(message.summary.envelope.messageId);
    assert.ok(id, `message ${message.uid} is not one the writers produced`);
    assert.ok(!stored.has(id), `delivery ${id} stored twice`);
    assert.ok(!expunges.expunged.has(id), `delivery ${id} was expunged (and acknowledged as such) but is back after kill ${run}`);
    stored.add(id);
    // Everything stored, acknowledged or not, is intact.
    assert.ok((await store.mail.getBody(message.bodyId)).equals(crashMessage(id)), `delivery ${id} is not byte-identical after kill ${run}`);
  }
  for (const id of acknowledged) {
    if (expunges.expunging.has(id)) continue; // its expunge may or may not have committed before the kill
    assert.ok(stored.has(id), `acknowledged delivery ${id} is missing after kill ${run}`);
  }
  const status = await store.mail.mailboxStatus(inbox.id);
  assert.equal(status.messages, metas.length);
  // Without expunges, UIDNEXT follows the last message: a delivery that did not commit took no UID.
  if (expunges.expunging.size === 0) assert.equal(status.uidNext, (metas.at(-1)?.uid ?? 0) + 1);
  assert.deepEqual(await store.verify(), { ok: true, problems: [] });
}

test(`crash: ${KILLS} SIGKILLs under ${WRITERS} concurrent writers lose no acknowledged delivery`, async () => {
  const dir = await tempDir('mailstack-crash-');
  const key = randomBytes(32);
  const acknowledged = new Set<string>();
  try {
    for (let run = 0; run < KILLS; run++) {
      // Random kill points: right after start, after a few deliveries, or in the middle of heavy load.
      const killAfter = run % 5 === 0 ? 0 : randomInt(1, 100);
      for (const id of (await runAndKill(dir, key.toString('hex'), run, killAfter)).acks) acknowledged.add(id);
      // Every child opens the store its killed predecessor left behind (crash recovery each time); the
      // parent checks the contents after every few kills and after the last, to keep the test short.
      if (run % CHECK_EVERY !== CHECK_EVERY - 1 && run !== KILLS - 1) continue;

      const store = await openStore({ dir, key });
      try {
        await checkStore(store, acknowledged, run);
      } finally {
        await store.close();
      }
    }
    assert.ok(acknowledged.size > KILLS, `only ${acknowledged.size} deliveries were acknowledged in total`);
    // The attachments among them went to disk decoded (packed records): the kills hit those too.
    const db = openDatabase(dir, key);
    try {
      assert.ok((db.prepare('SELECT count(*) FROM bodies WHERE seg_length IS NOT NULL').pluck().get() as number) > 0, 'no body was stored packed');
    } finally {
      db.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

const COMPACTION_KILLS = 12;

test(`crash: ${COMPACTION_KILLS} SIGKILLs while messages are expunged and body files compacted lose no kept delivery`, async () => {
  const dir = await tempDir('mailstack-crash-compact-');
  const key = randomBytes(32);
  const acknowledged = new Set<string>();
  const expunging = new Set<string>();
  const expunged = new Set<string>();
  let compactedFiles = 0;
  try {
    for (let run = 0; run < COMPACTION_KILLS; run++) {
      // Every other run is killed a few ms into a compaction (copies written, rows moved, COMMIT, file
      // deleted: somewhere in there); the others after a random number of deliveries.
      const killDuring = run % 2 === 1 ? { line: 'COMPACTING', delayMs: randomInt(0, 250) } : undefined;
      const killAfter = run % 4 === 0 ? 0 : randomInt(1, 150);
      const { acks, lines } = await runAndKill(dir, key.toString('hex'), run, killAfter, 'compact', killDuring);
      for (const id of acks) acknowledged.add(id);
      for (const line of lines) {
        const [kind, value = ''] = line.split(' ');
        if (kind === 'EXPUNGING') expunging.add(value);
        else if (kind === 'EXPUNGED') expunged.add(value);
        else if (kind === 'COMPACTED') compactedFiles += Number(value);
      }
      if (run % 3 !== 2 && run !== COMPACTION_KILLS - 1) continue;
      const store = await openStore({ dir, key, compactEveryMs: 0 });
      try {
        await checkStore(store, acknowledged, run, { expunging, expunged });
      } finally {
        await store.close();
      }
    }
    // The test is only worth something if the kills met both.
    assert.ok(expunged.size > 0, 'no expunge completed');
    assert.ok(compactedFiles > 0, 'no body file was compacted');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

const MERGE_KILLS = 8;

test(`crash: ${MERGE_KILLS} SIGKILLs while the small body files of earlier runs are merged lose no delivery`, async () => {
  const dir = await tempDir('mailstack-crash-merge-');
  const key = randomBytes(32);
  const acknowledged = new Set<string>();
  let mergedFiles = 0;
  try {
    for (let run = 0; run < MERGE_KILLS; run++) {
      // Each run leaves a small file of its own. From the third on, the runs that start with a merge are
      // killed a few ms into it (copies written, rows moved, COMMIT, files deleted: somewhere in there).
      const killDuring = run >= 2 && run % 2 === 1 ? { line: 'MERGING', delayMs: randomInt(0, 500) } : undefined;
      const { acks, lines } = await runAndKill(dir, key.toString('hex'), run, randomInt(20, 100), 'merge', killDuring);
      for (const id of acks) acknowledged.add(id);
      for (const line of lines) if (line.startsWith('MERGED ')) mergedFiles += Number(line.slice('MERGED '.length));
      if (run % 2 === 0 && run !== MERGE_KILLS - 1) continue;
      const store = await openStore({ dir, key, compactEveryMs: 0 });
      try {
        await checkStore(store, acknowledged, run);
      } finally {
        await store.close();
      }
    }
    assert.ok(mergedFiles > 0, 'no body file was merged');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
