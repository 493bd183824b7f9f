// The main thread's side of the writer worker: sends requests, resolves each promise after its batch
// committed, and hands the batch's changes to the change feed in commit order.
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import { CIPHER, CIPHER_ALGORITHM, DATABASE_FILE } from './connection.ts';
import type { Logger } from '../../log/index.ts';
import type { MailboxChange } from '../types.ts';
import { StoreError } from '../types.ts';
import type { FromWorker, SerializedError, ToWorker, WorkerInit } from './protocol.ts';
import type { WriteOpName, WriteOps } from './write-ops.ts';
import { SharedBufferPool } from './buffer-pool.ts';

type Method<K extends WriteOpName> = WriteOps[K] extends (...args: infer A) => infer R ? { args: A; result: R } : never;

interface Waiting {
  resolve(value: unknown): void;
  reject(error: Error): void;
  /** The request's message bytes (buffer-pool.ts), back to the pool with its outcome. */
  buffers: SharedArrayBuffer[];
}

export interface WriterStats {
  batches: number;
  requests: number;
  /** Time the worker spent running batches, start of transaction to end of COMMIT. */
  busyMs: number;
}

/** Committed bytes after which the checkpointer copies the WAL into the database: small enough that
 * checkpoints stay short, large enough that the database file is not fsync'd for every batch. */
const CHECKPOINT_AFTER_BYTES = 8 * 1024 * 1024;
/** What a request without message data adds to the WAL, roughly (a few b-tree pages). */
const REQUEST_OVERHEAD_BYTES = 2048;

export class Writer {
  private checkpointer: Worker | null = null;
  private readonly verifications = new Map<number, (problems: string[] | null) => void>();
  private nextVerification = 1;
  private checkpointing = false;
  private uncheckpointedBytes = 0;
  private nextId = 1;
  private readonly waiting = new Map<number, Waiting>();
  private failure: StoreError | null = null;
  private closed: Promise<void> | null = null;
  private resolveClosed: (() => void) | null = null;
  private readonly buffers = new SharedBufferPool();
  readonly stats: WriterStats = { batches: 0, requests: 0, busyMs: 0 };
  /** Told which segment files compaction deleted, so that readers close their descriptors of them. */
  onSegmentsRemoved: ((segments: number[]) => void) | null = null;

  private constructor(
    private readonly worker: Worker,
    private readonly onChanges: (changes: MailboxChange[]) => void,
    private readonly log: Logger | undefined,
  ) {}

  /** Starts the worker; resolves once it has opened (and if needed created and migrated) the database. */
  static start(init: WorkerInit, onChanges: (changes: MailboxChange[]) => void, log?: Logger): Promise<Writer> {
    const worker = new Worker(new URL('./worker-bootstrap.mjs', import.meta.url), { workerData: init });
    const writer = new Writer(worker, onChanges, log);
    return new Promise((resolve, reject) => {
      let started = false;
      worker.on('message', (message: FromWorker) => {
        if (message.type === 'ready') {
          started = true;
          writer.startCheckpointer(init);
          resolve(writer);
        } else if (message.type === 'open-failed') {
          reject(new StoreError(message.error.code, message.error.message));
        } else {
          writer.onMessage(message);
        }
      });
      worker.on('error', (error) => {
        const failure = new StoreError('unavailable', `store writer failed: ${error.message}`);
        if (!started) reject(failure);
        writer.fail(failure);
      });
      worker.on('exit', (code) => {
        if (!started) reject(new StoreError('unavailable', `store writer exited with code ${code} before opening`));
        else if (!writer.closed) log?.error({ code }, 'store writer stopped unexpectedly; writes fail until the store is reopened');
        writer.fail(new StoreError('unavailable', 'store writer has stopped'));
        writer.resolveClosed?.();
      });
    });
  }

  call<K extends WriteOpName>(op: K, ...args: Method<K>['args']): Promise<Method<K>['result']> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new StoreError('unavailable', 'the store is closed'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const buffers: SharedArrayBuffer[] = [];
      this.waiting.set(id, { resolve: resolve as (value: unknown) => void, reject, buffers });
      const message: ToWorker = { type: 'request', id, op, args: args.map((arg) => shared(arg, buffers, this.buffers)) };
      this.worker.postMessage(message);
    });
  }

  /** Waits for every request already sent, then closes the worker's connection and stops it. */
  close(): Promise<void> {
    if (this.closed) return this.closed;
    this.closed = (async () => {
      const checkpointer = this.checkpointer;
      this.checkpointer = null;
      if (checkpointer) {
        const exited = new Promise<void>((resolve) => checkpointer.once('exit', () => resolve()));
        checkpointer.postMessage({ type: 'close' });
        await exited;
      }
      const stopped = new Promise<void>((resolve) => {
        this.resolveClosed = resolve;
      });
      if (this.failure) this.resolveClosed?.();
      else this.worker.postMessage({ type: 'close' } satisfies ToWorker);
      await stopped;
    })();
    return this.closed;
  }

  /** The checkpointer thread (checkpointer.mjs): takes WAL-to-database copies out of the writer's commits.
   * Without it (it failed to start) the writer's own automatic checkpoint still bounds the WAL. */
  private startCheckpointer(init: WorkerInit): void {
    const checkpointer = new Worker(new URL('./checkpointer.mjs', import.meta.url), {
      workerData: { path: join(init.dir, DATABASE_FILE), keyHex: Buffer.from(init.key).toString('hex'), cipher: CIPHER, algorithm: CIPHER_ALGORITHM },
    });
    this.checkpointer = checkpointer;
    checkpointer.on('message', (message: { type: string; error?: string; message?: string; id?: number; problems?: string[] }) => {
      if (message.type === 'verified') {
        const done = this.verifications.get(message.id ?? 0);
        this.verifications.delete(message.id ?? 0);
        done?.(message.problems ?? []);
      } else if (message.type === 'done') {
        this.checkpointing = false;
        if (message.error) this.log?.warn({ err: message.error }, 'store checkpoint failed');
        this.maybeCheckpoint();
      } else if (message.type === 'open-failed') {
        this.log?.warn({ err: message.message }, 'store checkpointer did not start; the writer checkpoints by itself');
      }
    });
    checkpointer.on('error', (error) => this.log?.warn({ err: error.message }, 'store checkpointer failed'));
    checkpointer.on('exit', () => {
      if (this.checkpointer === checkpointer) this.checkpointer = null;
      for (const done of this.verifications.values()) done(null);
      this.verifications.clear();
    });
  }

  /** Runs the full page check on the checkpointer thread; null when that thread is not running. */
  verifyOffThread(): Promise<string[] | null> {
    const checkpointer = this.checkpointer;
    if (!checkpointer) return Promise.resolve(null);
    const id = this.nextVerification++;
    return new Promise((resolve) => {
      this.verifications.set(id, resolve);
      checkpointer.postMessage({ type: 'verify', id });
    });
  }

  private maybeCheckpoint(): void {
    if (!this.checkpointer || this.checkpointing || this.uncheckpointedBytes < CHECKPOINT_AFTER_BYTES) return;
    this.checkpointing = true;
    this.uncheckpointedBytes = 0;
    this.checkpointer.postMessage({ type: 'checkpoint' });
  }

  private onMessage(message: FromWorker): void {
    if (message.type === 'batch') {
      this.stats.batches++;
      this.stats.requests += message.requests;
      this.stats.busyMs += message.commitMs;
      this.uncheckpointedBytes += message.bytes + message.requests * REQUEST_OVERHEAD_BYTES;
      this.maybeCheckpoint();
      if (message.removedSegments) this.onSegmentsRemoved?.(message.removedSegments);
      // Publish before resolving: whoever awaited the write then finds its own change already delivered.
      if (message.changes.length > 0) this.onChanges(message.changes);
      for (const outcome of message.results) {
        const waiting = this.waiting.get(outcome.id);
        if (!waiting) continue;
        this.waiting.delete(outcome.id);
        for (const buffer of waiting.buffers) this.buffers.release(buffer);
        if (outcome.ok) waiting.resolve(outcome.value);
        else waiting.reject(toError(outcome.error));
      }
    } else if (message.type === 'closed') {
      if (message.error) this.log?.warn({ err: message.error.message }, 'store writer closed with an error');
    }
  }

  private fail(error: StoreError): void {
    this.failure ??= error;
    for (const waiting of this.waiting.values()) waiting.reject(error);
    this.waiting.clear();
  }
}

/** Copies message bytes into shared memory from the pool: one memcpy, and the worker threads read that memory
 * itself (the structured-clone serializer costs ~10x more for a 100 KB message on the main thread). The
 * caller's Buffer is left untouched. */
function shared(arg: unknown, used: SharedArrayBuffer[], pool: SharedBufferPool): unknown {
  if (arg instanceof Uint8Array) return sharedCopy(arg, used, pool);
  if (arg !== null && typeof arg === 'object' && 'raw' in arg && (arg as { raw: unknown }).raw instanceof Uint8Array) {
    return { ...(arg as Record<string, unknown>), raw: sharedCopy((arg as { raw: Uint8Array }).raw, used, pool) };
  }
  return arg;
}

/** A module function, not a closure made per call (tsx's keepNames wraps each named closure in __name()). */
function sharedCopy(bytes: Uint8Array, used: SharedArrayBuffer[], pool: SharedBufferPool): Uint8Array {
  const view = pool.copy(bytes);
  used.push(view.buffer as SharedArrayBuffer);
  return view;
}

function toError(error: SerializedError): StoreError {
  return new StoreError(error.code, error.message);
}
