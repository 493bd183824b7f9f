// The main thread's side of the writer worker: sends requests, resolves each promise after its batch
// committed, and hands the batch's changes to the change feed in commit order.
import { Worker } from 'node:worker_threads';
import type { Logger } from '../../log/index.ts';
import type { MailboxChange } from '../types.ts';
import { StoreError } from '../types.ts';
import type { FromWorker, SerializedError, ToWorker, WorkerInit } from './protocol.ts';
import type { WriteOpName, WriteOps } from './write-ops.ts';

type Method<K extends WriteOpName> = WriteOps[K] extends (...args: infer A) => infer R ? { args: A; result: R } : never;

interface Waiting {
  resolve(value: unknown): void;
  reject(error: Error): void;
}

export interface WriterStats {
  batches: number;
  requests: number;
}

export class Writer {
  private nextId = 1;
  private readonly waiting = new Map<number, Waiting>();
  private failure: StoreError | null = null;
  private closed: Promise<void> | null = null;
  private resolveClosed: (() => void) | null = null;
  readonly stats: WriterStats = { batches: 0, requests: 0 };

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
      this.waiting.set(id, { resolve: resolve as (value: unknown) => void, reject });
      const message: ToWorker = { type: 'request', id, op, args };
      this.worker.postMessage(message);
    });
  }

  /** Waits for every request already sent, then closes the worker's connection and stops it. */
  close(): Promise<void> {
    if (this.closed) return this.closed;
    this.closed = new Promise<void>((resolve) => {
      this.resolveClosed = resolve;
    });
    if (this.failure) this.resolveClosed?.();
    else this.worker.postMessage({ type: 'close' } satisfies ToWorker);
    return this.closed;
  }

  private onMessage(message: FromWorker): void {
    if (message.type === 'batch') {
      this.stats.batches++;
      this.stats.requests += message.requests;
      // Publish before resolving: whoever awaited the write then finds its own change already delivered.
      if (message.changes.length > 0) this.onChanges(message.changes);
      for (const outcome of message.results) {
        const waiting = this.waiting.get(outcome.id);
        if (!waiting) continue;
        this.waiting.delete(outcome.id);
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

function toError(error: SerializedError): StoreError {
  return new StoreError(error.code, error.message);
}
