// bench:store — durable deliveries per second into the embedded store, against the reference: one Maildir
// file per message with fsync (write to tmp/, fsync, rename into new/, fsync the directory), as Dovecot
// delivers. Same sizes, same concurrency, same file system, in the same run.
//
// Usage: npm run bench:store [-- --duration-ms 2000 --rounds 3 --cell '100 KB/32' --table-only]
// After the table: body SEARCH over a mailbox, and compaction (the space of expunged mail given back).
// `--cell SIZE/WRITERS` (repeatable) runs only those cells of the table, and `--table-only` leaves out SEARCH and
// compaction: for trying a change on one cell, many rounds, alternating with the reference as the table does.
// The Maildir reference uses fs.promises, so its fsyncs overlap on libuv's thread pool; the pool is sized
// to the largest concurrency (UV_THREADPOOL_SIZE, set by re-running this script) so the reference is not
// held back by Node's default of 4 threads.
// Each run starts after the files of the run before are flushed and the disk has had a second's rest
// (settle()), so neither contender pays for the other's clean-up.
// The reference's Maildirs are deleted only at the end: on ext4 without a journal, creating a file within
// minutes of deleting many costs several times the CPU (file-system.ts), and deleting each run's Maildir at once
// slowed every later run of the reference 3-4x. The output says when the data directory is on such a file
// system, where a bench started soon after `npm test` or another bench still shows the reference too slow.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { mkdtemp, mkdir, open, rename, rm } from 'node:fs/promises';
import { hostname, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openStore, type Store } from '../src/store/index.ts';
import { unjournaledExt4Note } from './file-system.ts';

const WRITER_COUNTS = [1, 32];
const SIZES = [
  { label: '1 KB', bytes: 1024 },
  { label: '100 KB', bytes: 100 * 1024 },
];
const THREADPOOL = String(Math.max(...WRITER_COUNTS));

if (process.env['UV_THREADPOOL_SIZE'] !== THREADPOOL) {
  const self = fileURLToPath(import.meta.url);
  const result = spawnSync(process.execPath, [...process.execArgv, self, ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, UV_THREADPOOL_SIZE: THREADPOOL },
  });
  process.exit(result.status ?? 1);
}

const durationArg = process.argv.indexOf('--duration-ms');
const DURATION_MS = durationArg > 0 ? Number(process.argv[durationArg + 1]) : 2000;
/** Pause after each run's files are flushed (settle()). */
const SETTLE_MS = 1000;
const roundsArg = process.argv.indexOf('--rounds');
const ROUNDS = roundsArg > 0 ? Number(process.argv[roundsArg + 1]) : 3;
const CELLS = process.argv.flatMap((arg, i) => (arg === '--cell' ? [process.argv[i + 1] ?? ''] : []));
const TABLE_ONLY = process.argv.includes('--table-only');
for (const cell of CELLS) {
  if (!SIZES.some((size) => WRITER_COUNTS.some((writers) => cell === `${size.label}/${writers}`))) {
    console.error(`bench:store: no cell "${cell}"; the cells are ${SIZES.flatMap((size) => WRITER_COUNTS.map((writers) => `'${size.label}/${writers}'`)).join(', ')}`);
    process.exit(64);
  }
}

/**
 * Realistic messages of about `bytes` octets: a 1 KB message is plain text; a 100 KB message is what mail of
 * that size usually is, a short text part and a base64 attachment (random bytes, so nothing compresses).
 */
function makeMessage(bytes: number, n: number): Buffer {
  const header =
    `Return-Path: <sender@example.org>\r\nReceived: from mail.example.org (mail.example.org [192.0.2.10])\r\n\tby mx.example.test with ESMTPS id ${n}\r\n` +
    `From: Sender Name <sender@example.org>\r\nTo: user@example.test\r\nSubject: Benchmark message ${n}\r\n` +
    `Date: Mon, 2 Mar 2026 10:00:00 +0000\r\nMessage-ID: <${n}.${Date.now()}@example.org>\r\nMIME-Version: 1.0\r\n`;
  const text = 'Hello,\r\n\r\nthis is a line of an ordinary message body, as people write them.\r\n';
  if (bytes <= 4096) {
    let body = text;
    while (header.length + body.length + 50 < bytes) body += 'Another line of ordinary text, to reach the size wanted.\r\n';
    return Buffer.from(`${header}Content-Type: text/plain; charset=utf-8\r\n\r\n${body}`);
  }
  const boundary = `b${n}`;
  const head = `${header}Content-Type: multipart/mixed; boundary="${boundary}"\r\n\r\n--${boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${text}\r\n` +
    `--${boundary}\r\nContent-Type: application/pdf; name="report.pdf"\r\nContent-Disposition: attachment; filename="report.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n`;
  const tail = `\r\n--${boundary}--\r\n`;
  const base64Bytes = bytes - head.length - tail.length;
  const attachment = randomBytes(Math.floor((base64Bytes * 76) / 78 / 4) * 3).toString('base64').replace(/.{76}/g, '$&\r\n');
  return Buffer.from(head + attachment + tail);
}

/** Runs `writers` loops for DURATION_MS; each loop awaits one durable write at a time. */
async function runLoops(writers: number, write: (n: number) => Promise<void>): Promise<{ count: number; seconds: number; cpuMicros: number }> {
  let count = 0;
  let next = 0;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const deadline = started + DURATION_MS;
  await Promise.all(
    Array.from({ length: writers }, async () => {
      while (performance.now() < deadline) {
        await write(next++);
        count++;
      }
    }),
  );
  const cpu = process.cpuUsage(cpuBefore);
  // Process CPU time (user + system, every thread: main, writer, checkpointer, libuv pool) per write.
  return { count, seconds: (performance.now() - started) / 1000, cpuMicros: (cpu.user + cpu.system) / Math.max(1, count) };
}

async function benchStore(bytes: number, writers: number): Promise<{ rate: number; perBatch: number; cpuMicros: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'mailstack-bench-store-'));
  let store: Store | null = null;
  try {
    store = await openStore({ dir, key: randomBytes(32) });
    await store.accounts.addDomain('example.test');
    const user = await store.accounts.addUser({ address: 'user@example.test', passwordHash: 'x' });
    const messages = Array.from({ length: 64 }, (_, i) => makeMessage(bytes, i));
    const s = store;
    // Warm-up, unmeasured: a server runs for days, so the writer thread's JIT-compiled code is what counts.
    await Promise.all(Array.from({ length: 200 }, (_, i) => s.mail.deliver({ raw: messages[i % messages.length] as Buffer, targets: [{ userId: user.id }] })));
    const before = (s as unknown as { writerStats: { batches: number; requests: number } }).writerStats;
    const { count, seconds, cpuMicros } = await runLoops(writers, async (n) => {
      await s.mail.deliver({ raw: messages[n % messages.length] as Buffer, targets: [{ userId: user.id }] });
    });
    const after = (s as unknown as { writerStats: { batches: number; requests: number } }).writerStats;
    return { rate: count / seconds, perBatch: (after.requests - before.requests) / Math.max(1, after.batches - before.batches), cpuMicros };
  } finally {
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** The reference's Maildirs, deleted when the bench exits (see the top of this file), also after an error or
 * Ctrl-C. */
const maildirs: string[] = [];
process.on('exit', () => {
  for (const dir of maildirs) rmSync(dir, { recursive: true, force: true });
});
process.once('SIGINT', () => process.exit(130));

async function benchMaildir(bytes: number, writers: number): Promise<{ rate: number; cpuMicros: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'mailstack-bench-maildir-'));
  maildirs.push(dir);
  await mkdir(join(dir, 'tmp'));
  await mkdir(join(dir, 'new'));
  await mkdir(join(dir, 'cur'));
  const messages = Array.from({ length: 64 }, (_, i) => makeMessage(bytes, i));
  const host = hostname();
  const { count, seconds, cpuMicros } = await runLoops(writers, async (n) => {
    const name = `${Date.now()}.M${n}P${process.pid}.${host}`;
    const tmpPath = join(dir, 'tmp', name);
    const file = await open(tmpPath, 'wx');
    try {
      await file.writeFile(messages[n % messages.length] as Buffer);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(tmpPath, join(dir, 'new', name));
    const directory = await open(join(dir, 'new'), 'r');
    try {
      await directory.sync();
    } finally {
      await directory.close();
    }
  });
  return { rate: count / seconds, cpuMicros };
}

/**
 * Between two runs: flush what the one before left (a store run deletes its ~300 MB of segments; with the
 * `discard` mount option their blocks are trimmed) and let the disk go quiet, so that a run does not pay for
 * the one before it. Without this, each Maildir run started right after a store run ran 10-25% slower
 * (bench:store, three runs each way, 2026-12-02).
 */
async function settle(): Promise<void> {
  spawnSync('sync');
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

// The machine is shared: each cell runs ROUNDS times, alternating the two contenders, and the table shows
// the median of each.
const rows: string[][] = [];
const perRound: string[] = [];
for (const size of SIZES) {
  for (const writers of WRITER_COUNTS) {
    if (CELLS.length > 0 && !CELLS.includes(`${size.label}/${writers}`)) continue;
    const maildirRates: number[] = [];
    const maildirCpu: number[] = [];
    const storeRates: number[] = [];
    const storeCpu: number[] = [];
    const perBatch: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      await settle();
      const maildir = await benchMaildir(size.bytes, writers);
      maildirRates.push(maildir.rate);
      maildirCpu.push(maildir.cpuMicros);
      await settle();
      const store = await benchStore(size.bytes, writers);
      storeRates.push(store.rate);
      storeCpu.push(store.cpuMicros);
      perBatch.push(store.perBatch);
    }
    // Each round's two rates beside its ratio: on a shared host either side can move, and the ratio alone does
    // not say which one did.
    const rounds = storeRates.map((rate, i) => {
      const maildir = maildirRates[i] as number;
      return `${(rate / maildir).toFixed(1)} (${rate.toFixed(0)}/${maildir.toFixed(0)})`;
    });
    perRound.push(`${size.label}/${writers} ${rounds.join(' ')}`);
    const storeRate = median(storeRates);
    const maildirRate = median(maildirRates);
    rows.push([
      size.label,
      String(writers),
      storeRate.toFixed(0),
      maildirRate.toFixed(0),
      (storeRate / maildirRate).toFixed(1) + 'x',
      median(perBatch).toFixed(1),
      median(storeCpu).toFixed(0),
      median(maildirCpu).toFixed(0),
    ]);
  }
}

/** Body SEARCH: a mailbox of SEARCH_MESSAGES text messages, a word found in 1% of them. */
const SEARCH_MESSAGES = 5000;
async function benchSearch(): Promise<{ buildSeconds: number; searchMs: number; hits: number; mailboxBytes: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'mailstack-bench-search-'));
  let store: Store | null = null;
  try {
    store = await openStore({ dir, key: randomBytes(32) });
    await store.accounts.addDomain('example.test');
    const user = await store.accounts.addUser({ address: 'user@example.test', passwordHash: 'x' });
    const inbox = (await store.mail.getMailbox(user.id, 'INBOX'))!;
    const words = ['meeting', 'invoice', 'holiday', 'project', 'budget', 'report', 'lunch', 'deadline', 'review', 'travel'];
    const started = performance.now();
    let mailboxBytes = 0;
    const s = store;
    await Promise.all(
      Array.from({ length: SEARCH_MESSAGES }, (_, i) => {
        let body = '';
        for (let line = 0; line < 20 + (i % 40); line++) body += `About the ${words[(i + line) % words.length]} of week ${line}: nothing new, see you soon.\r\n`;
        if (i % 100 === 0) body += 'The Zanzibar arrangement stands.\r\n';
        const raw = Buffer.from(`From: someone@example.org\r\nTo: user@example.test\r\nSubject: note ${i}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${body}`);
        mailboxBytes += raw.length;
        return s.mail.append(inbox.id, { raw });
      }),
    );
    const buildSeconds = (performance.now() - started) / 1000;
    await s.mail.searchText(inbox.id, 'body', 'zanzibar'); // warm the page cache, as a second search would be
    const runs = 5;
    const searchStarted = performance.now();
    let hits = 0;
    for (let run = 0; run < runs; run++) hits = (await s.mail.searchText(inbox.id, 'body', 'ZANZIBAR')).length;
    return { buildSeconds, searchMs: (performance.now() - searchStarted) / runs, hits, mailboxBytes };
  } finally {
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const search = TABLE_ONLY ? null : await benchSearch();

/** Compaction: COMPACT_MESSAGES deliveries of 100 KB, the store reopened (their file is then an old one), three
 * in four expunged, and compact() timed: what it costs to give the space of expunged mail back. */
const COMPACT_MESSAGES = 2000;
async function benchCompaction(): Promise<{ seconds: number; fileMiB: number; movedMiB: number; bodies: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'mailstack-bench-compact-'));
  const key = randomBytes(32);
  let store: Store | null = null;
  try {
    store = await openStore({ dir, key, compactEveryMs: 0 });
    await store.accounts.addDomain('example.test');
    const user = await store.accounts.addUser({ address: 'user@example.test', passwordHash: 'x' });
    const messages = Array.from({ length: 64 }, (_, i) => makeMessage(100 * 1024, i));
    for (let i = 0; i < COMPACT_MESSAGES; i += 32) {
      const s = store;
      await Promise.all(Array.from({ length: 32 }, (_, j) => s.mail.deliver({ raw: messages[(i + j) % 64] as Buffer, targets: [{ userId: user.id }] })));
    }
    await store.close();
    store = await openStore({ dir, key, compactEveryMs: 0 });
    const inbox = (await store.mail.getMailbox(user.id, 'INBOX'))!;
    const uids = (await store.mail.listMessages(inbox.id)).map((m) => m.uid);
    await store.mail.expunge(inbox.id, uids.filter((_, i) => i % 4 !== 0));
    await settle();
    const started = performance.now();
    const report = await store.compact();
    const seconds = (performance.now() - started) / 1000;
    return { seconds, fileMiB: report.bytesFreed / 1024 / 1024, movedMiB: report.bytesMoved / 1024 / 1024, bodies: report.bodiesMoved };
  } finally {
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const compaction = TABLE_ONLY ? null : await benchCompaction();

const header = ['message', 'writers', 'store deliveries/s', 'Maildir+fsync msgs/s', 'store / Maildir', 'deliveries per commit', 'store CPU µs/msg', 'Maildir CPU µs/msg'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
const format = (cells: string[]): string => '| ' + cells.map((c, i) => c.padStart(widths[i] as number)).join(' | ') + ' |';
console.log(
  `bench:store: ${DURATION_MS} ms per run, median of ${ROUNDS} runs per cell, data in ${tmpdir()}, Node ${process.version}, ` +
    `load average at the end ${loadavg().map((l) => l.toFixed(1)).join(' ')}`,
);
console.log(format(header));
console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
for (const row of rows) console.log(format(row));
// Each round's own ratio: on a shared machine the spread says how far to trust the median.
console.log(`\nstore / Maildir in each round, in order (store/s / Maildir/s): ${perRound.join('; ')}`);
const fileSystemNote = unjournaledExt4Note(tmpdir(), 'the Maildir reference');
if (fileSystemNote) console.log(fileSystemNote);
if (search) console.log(
  `\nbody SEARCH (searchText 'body', case-insensitive substring) over ${SEARCH_MESSAGES} messages ` +
    `(${(search.mailboxBytes / 1024 / 1024).toFixed(1)} MiB, appended concurrently in ${search.buildSeconds.toFixed(1)} s): ` +
    `${search.searchMs.toFixed(1)} ms per search, ${((search.searchMs * 1000) / SEARCH_MESSAGES).toFixed(2)} µs per message, ${search.hits} hits`,
);
if (compaction) console.log(
  `compaction of ${COMPACT_MESSAGES} deliveries of 100 KB with three in four expunged: ${compaction.fileMiB.toFixed(0)} MiB of body files deleted, ` +
    `${compaction.bodies} bodies (${compaction.movedMiB.toFixed(1)} MiB) rewritten first, in ${compaction.seconds.toFixed(2)} s ` +
    `(${(compaction.fileMiB / compaction.seconds).toFixed(0)} MiB of files freed per second)`,
);
