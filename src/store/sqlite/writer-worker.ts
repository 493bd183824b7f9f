// The store's one writer, on its own thread. Requests arrive as messages; whatever is waiting when the
// thread is free becomes one transaction (group commit): one fsync of the WAL for many deliveries, and
// that fsync never blocks the main event loop. Each request runs in its own SAVEPOINT, so one failing
// request rolls back alone. Results and change-feed events go back only after COMMIT returned, that is,
// after the data is on stable storage (synchronous=FULL).
//
// Bodies of SEGMENT_THRESHOLD_BYTES and more are parsed and appended to a segment file as their request
// reaches this thread (prepared-bodies.ts); the segment I/O thread seals, writes and fdatasyncs them in the
// background (segments.ts). A batch runs its SQL while its records are still being written, and waits for
// them only before COMMIT: so the disk writes while this thread parses bodies and runs SQL.
import { parentPort, workerData } from 'node:worker_threads';
import { StoreError } from '../types.ts';
import { openDatabase, recordHeader, toStoreError, type SqliteDatabase } from './connection.ts';
import type { FromWorker, RequestOutcome, SerializedError, ToWorker, WorkerInit } from './protocol.ts';
import { migrate } from './schema.ts';
import { WriteOps, type WriteOpName } from './write-ops.ts';
import { asBuffer } from './rows.ts';
import { deriveBodyKey, SEGMENT_THRESHOLD_BYTES, SegmentReader, SegmentWriter } from './segments.ts';
import { BodyPreparer } from './prepared-bodies.ts';
import type { MailboxChange } from '../types.ts';

/** Requests per transaction: bounds the work (and memory) behind one commit. */
const MAX_BATCH_REQUESTS = 512;
/** Bytes of message data per transaction: a batch of huge appends should not hold gigabytes. */
const MAX_BATCH_BYTES = 64 * 1024 * 1024;
/** WAL pages before the writer checkpoints by itself. Normally the checkpointer thread (checkpointer.mjs)
 * keeps the WAL short and this never triggers; it bounds the WAL (64 MiB with 16 KiB pages) should the
 * checkpointer fall behind. The WAL is truncated at close. */
const WAL_AUTOCHECKPOINT_PAGES = 4096;

type Request = Extract<ToWorker, { type: 'request' }>;

const port = parentPort;
if (!port) throw new Error('writer-worker must run as a worker thread');
const init = workerData as WorkerInit;

function serialize(error: unknown, doing: string): SerializedError {
  const storeError = error instanceof StoreError ? error : toStoreError(error, doing);
  return { code: storeError.code, message: storeError.message };
}

function post(message: FromWorker): void {
  port!.postMessage(message);
}

type BatchOutcome = Omit<Extract<FromWorker, { type: 'batch' }>, 'type'>;

/** Posts a batch's outcome. The requests' message bytes go back to the main thread's pool with it
 * (buffer-pool.ts): nothing here reads them afterwards (prepared bodies were taken, SQLite copied what it
 * stores, and the batch waited until the segment I/O thread wrote its records). */
function postBatch(outcome: BatchOutcome): void {
  post({ type: 'batch', ...outcome });
}

let db: SqliteDatabase;
let ops: WriteOps;
let segments: SegmentWriter;
let bodies: BodyPreparer;
/** Reads records for compaction (compaction.ts). */
let segmentReader: SegmentReader;
try {
  db = openDatabase(init.dir, asBuffer(init.key));
  migrate(db);
  recordHeader(init.dir, asBuffer(init.key));
  db.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
  const bodyKey = deriveBodyKey(asBuffer(init.key));
  segments = new SegmentWriter(init.dir, bodyKey);
  segmentReader = new SegmentReader(init.dir, bodyKey);
  bodies = new BodyPreparer(segments);
  // Segment files no committed row references hold only bytes of requests that never committed. Under the
  // write lock, so that what is deleted cannot become referenced meanwhile (SegmentWriter.open).
  db.transaction(() => {
    const rows = db.prepare('SELECT DISTINCT segment FROM bodies WHERE segment IS NOT NULL').all() as { segment: number }[];
    segments.open(new Set(rows.map((r) => r.segment)), init.exclusive === true);
  }).immediate();
  ops = new WriteOps(db, bodies, { writer: segments, reader: segmentReader, dir: init.dir, inFlight: segmentsInFlight });
  post({ type: 'ready' });
} catch (error) {
  post({ type: 'open-failed', error: serialize(error, 'opening the store for writing') });
  process.exit(0);
}

// Transaction control as prepared statements: parsed once, not per request.
const begin = db.prepare('BEGIN IMMEDIATE');
const savepoint = db.prepare('SAVEPOINT request');
const release = db.prepare('RELEASE request');
const rollbackToSavepoint = db.prepare('ROLLBACK TO request');
const commit = db.prepare('COMMIT');

const pending: Request[] = [];
/** The batch running now (taken from pending). */
let runningBatch: readonly Request[] = [];
let scheduled = false;
let running = false;
let closing = false;

port.on('message', (message: ToWorker) => {
  if (message.type === 'request') {
    pending.push(message);
    for (const raw of storedBodies(message)) bodies.prepare(raw);
  } else {
    closing = true;
  }
  if (!scheduled && !running) {
    scheduled = true;
    // setImmediate runs after every message already queued on the port was delivered: they all join
    // this batch.
    setImmediate(runBatches);
  }
});

/** The message bodies a request carries (deliver, append, importMessage: a `raw` field of an argument). */
function messageBytes(request: Request): Uint8Array[] {
  const found: Uint8Array[] = [];
  for (const arg of request.args) {
    if (arg instanceof Uint8Array) found.push(arg);
    else if (arg && typeof arg === 'object' && 'raw' in arg && (arg as { raw: unknown }).raw instanceof Uint8Array) found.push((arg as { raw: Uint8Array }).raw);
  }
  return found;
}

/** Operations that store their message as a mailbox body; the others carrying one (the queue's enqueue
 * keeps its copy in the queue table) need no summary, search text or segment record of it. Preparing those
 * too wrote a segment record no row would reference (100 KB of dead bytes per queued 100 KB message). */
const BODY_STORING_OPS: ReadonlySet<WriteOpName> = new Set<WriteOpName>(['deliver', 'append', 'importMessage']);

/** The bodies a request stores in mailboxes (prepared ahead, their records awaited before COMMIT). */
function storedBodies(request: Request): Uint8Array[] {
  return BODY_STORING_OPS.has(request.op) ? messageBytes(request) : [];
}

/** The outbound copy a delivery queues in the same transaction (DeliveryInput.enqueue): kept in the queue table. */
function queuedCopyBytes(request: Request): number {
  if (request.op !== 'deliver') return 0;
  const enqueue = (request.args[0] as { enqueue?: { raw?: unknown } } | undefined)?.enqueue;
  return enqueue?.raw instanceof Uint8Array ? enqueue.raw.byteLength : 0;
}

function requestBytes(request: Request): number {
  let bytes = queuedCopyBytes(request);
  for (const raw of messageBytes(request)) bytes += raw.byteLength;
  return bytes;
}

/** Segments that records of uncommitted requests went to (compaction.ts must not delete them). A function
 * declaration: WriteOps gets it before the requests exist. */
function segmentsInFlight(): Set<number> {
  const found = new Set<number>();
  for (const list of [pending, runningBatch]) {
    for (const request of list) for (const raw of storedBodies(request)) {
      const ticket = bodies.ticketOf(raw);
      if (ticket) found.add(ticket.segment);
    }
  }
  return found;
}

/** The seq of the last segment record a request's bodies were appended as (0: none). */
function recordSeq(request: Request): number {
  let seq = 0;
  for (const raw of storedBodies(request)) seq = Math.max(seq, bodies.ticketOf(raw)?.seq ?? 0);
  return seq;
}

/** The waiting requests from the front, as one batch. (Taking only those whose records are durable already,
 * so that they commit while the records behind them are written, was tried: batches of ~8 instead of ~20 cost
 * twice the CPU per delivery in COMMITs and halved the rate, bench:store at 100 KB and 32 writers.) */
function takeBatch(): Request[] {
  const batch: Request[] = [];
  let bytes = 0;
  while (pending.length > 0 && batch.length < MAX_BATCH_REQUESTS) {
    const next = pending[0] as Request;
    const size = requestBytes(next);
    if (batch.length > 0 && bytes + size > MAX_BATCH_BYTES) break;
    batch.push(next);
    pending.shift();
    bytes += size;
  }
  return batch;
}

async function runBatches(): Promise<void> {
  scheduled = false;
  running = true;
  try {
    while (pending.length > 0) {
      const batch = takeBatch();
      runningBatch = batch;
      try {
        await runBatch(batch);
      } finally {
        for (const request of batch) for (const raw of storedBodies(request)) bodies.release(raw);
      }
    }
  } finally {
    running = false;
    runningBatch = [];
  }
  if (closing) await close();
}

/** Fails every request of a batch with one error (nothing of it committed). */
function failBatch(batch: readonly Request[], error: unknown, doing: string): void {
  const failure = serialize(error, doing);
  postBatch({ results: batch.map((r) => ({ id: r.id, ok: false as const, error: failure })), changes: [], requests: batch.length, commitMs: 0, bytes: 0 });
}

type RequestsRun =
  | { kind: 'done'; outcomes: RequestOutcome[]; changes: MailboxChange[] }
  /** Nothing of the batch can commit; these are the results to post. */
  | { kind: 'failed'; results: RequestOutcome[] };

/**
 * Runs a batch's requests inside one transaction (BEGIN IMMEDIATE; the caller commits or rolls back).
 * `isolated`: each request in a SAVEPOINT of its own, so that a failing one rolls back alone. A run without
 * them that meets a failing request rolls the transaction back and runs the batch again isolated. Most
 * batches are deliveries that do not fail, and a savepoint per request costs each one two statements plus a
 * copy of every page it touches into the statement journal (16 KiB pages).
 */
function runRequests(batch: readonly Request[], isolated: boolean): RequestsRun {
  ops.recordsUsed = { maxSeq: 0, segments: new Set() };
  ops.removeAfterCommit = [];
  try {
    begin.run();
  } catch (error) {
    if (db.inTransaction) {
      try {
        db.exec('ROLLBACK');
      } catch {
        /* the batch fails with the original error below */
      }
    }
    const failure = serialize(error, 'starting a transaction');
    return { kind: 'failed', results: batch.map((r) => ({ id: r.id, ok: false, error: failure })) };
  }
  const outcomes: RequestOutcome[] = [];
  const changes: MailboxChange[] = [];
  for (const request of batch) {
    if (isolated) savepoint.run();
    ops.beginRequest();
    const removalsBefore = ops.removeAfterCommit.length;
    try {
      const method = ops[request.op] as (...args: unknown[]) => unknown;
      const value = method.apply(ops, request.args);
      if (isolated) release.run();
      outcomes.push({ id: request.id, ok: true, value });
      // A loop, not push(...): a STORE on 50,000 messages would pass 50,000 arguments in one call.
      for (const change of ops.changes) changes.push(change);
    } catch (error) {
      if (!isolated) {
        try {
          if (db.inTransaction) db.exec('ROLLBACK');
        } catch {
          /* the isolated run starts a new transaction or reports why it cannot */
        }
        return runRequests(batch, true);
      }
      outcomes.push({ id: request.id, ok: false, error: serialize(error, `running ${request.op}`) });
      if (db.inTransaction) {
        rollbackToSavepoint.run();
        release.run();
        // What the request rolled back no longer lets a file go.
        ops.removeAfterCommit.length = removalsBefore;
        continue;
      }
      // SQLite rolled the whole transaction back (disk full, I/O error): what ran before is undone, and
      // what comes after must not run outside a transaction. Fail them all; callers answer 4xx.
      const failure = serialize(error, `running ${request.op}`);
      return { kind: 'failed', results: batch.map((r) => ({ id: r.id, ok: false as const, error: failure })) };
    }
  }
  return { kind: 'done', outcomes, changes };
}

async function runBatch(batch: Request[]): Promise<void> {
  // The batch's body records were appended as its requests arrived; its SQL runs while they are written, and
  // it commits only once they are durable. Meanwhile this thread takes in (and prepares) the requests that
  // arrive. (Waiting before BEGIN instead, holding no lock while the disk works, put the SQL after the disk
  // on every round: ~3 ms of ~20 per round of 32 deliveries of 100 KB.)
  let needed = 0;
  for (const request of batch) needed = Math.max(needed, recordSeq(request));
  const started = performance.now();
  const run = runRequests(batch, false);
  if (run.kind === 'failed') {
    postBatch({ results: run.results, changes: [], requests: batch.length, commitMs: 0, bytes: 0 });
    return;
  }
  const { outcomes, changes } = run;
  try {
    // Every record of the batch durable, including those of bodies prepared only now (not ahead). The write
    // lock is held meanwhile: another process's write waits (busy timeout). And the files must still be
    // there: another writer's open() deletes segments no committed row references (checked under the write
    // lock, which is held until COMMIT).
    await segments.durable(Math.max(needed, ops.recordsUsed.maxSeq));
    const deleted = segments.deletedOf(ops.recordsUsed.segments);
    if (deleted.length > 0) {
      throw new StoreError('unavailable', `body segment ${deleted.join(', ')} was removed by another process opening the store; try again`);
    }
  } catch (error) {
    try {
      db.exec('ROLLBACK');
    } catch {
      /* reported below */
    }
    failBatch(batch, error, 'writing message bodies');
    return;
  }
  try {
    commit.run();
  } catch (error) {
    if (db.inTransaction) {
      try {
        db.exec('ROLLBACK');
      } catch {
        /* the connection reports the original error below */
      }
    }
    const failure = serialize(error, 'committing');
    postBatch({ results: batch.map((r) => ({ id: r.id, ok: false, error: failure })), changes: [], requests: batch.length, commitMs: 0, bytes: 0 });
    return;
  }
  // What went to the WAL (and will be checkpointed): the bodies kept in SQLite, and queued messages (the queue
  // table holds them whatever their size).
  let bytes = 0;
  for (const request of batch) {
    bytes += queuedCopyBytes(request);
    const storesBodies = BODY_STORING_OPS.has(request.op);
    for (const raw of messageBytes(request)) if (!storesBodies || raw.byteLength < SEGMENT_THRESHOLD_BYTES) bytes += raw.byteLength;
  }
  const removedSegments = removeCompactedSegments();
  postBatch({ results: outcomes, changes, requests: batch.length, commitMs: performance.now() - started, bytes, ...(removedSegments.length > 0 ? { removedSegments } : {}) });
}

/** After COMMIT: deletes the segment files compaction emptied. One that cannot be deleted now is no row's
 * any more, and the next open deletes it. */
function removeCompactedSegments(): number[] {
  const emptied = ops.removeAfterCommit;
  ops.removeAfterCommit = [];
  if (emptied.length === 0) return [];
  segmentReader.forget(emptied);
  return segments.remove(emptied);
}

async function close(): Promise<void> {
  let error: SerializedError | undefined;
  try {
    // Fold the WAL into the database so a closed store is one file plus an empty WAL, when nobody else is
    // using it. Without waiting: TRUNCATE waits (busy timeout, 10 s) until no other connection reads or
    // writes, so with `mailstack deliver` run by an MTA several at a time, each one's close held the others'
    // writes back until they failed as busy. Another process's connection checkpoints later anyway.
    db.pragma('busy_timeout = 0');
    const [result] = db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
    if (result?.busy) db.pragma('wal_checkpoint(PASSIVE)');
  } catch (e) {
    error = serialize(e, 'checkpointing at close');
  }
  try {
    db.close();
  } catch (e) {
    error ??= serialize(e, 'closing');
  }
  segmentReader.close();
  try {
    await segments.close();
  } catch (e) {
    error ??= serialize(e, 'closing body segments');
  }
  post(error ? { type: 'closed', error } : { type: 'closed' });
  port!.close();
}
