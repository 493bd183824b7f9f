// Messages between the store (main thread) and its writer worker.
import type { MailboxChange, StoreErrorCode } from '../types.ts';
import type { WriteOpName } from './write-ops.ts';

export interface WorkerInit {
  dir: string;
  key: Uint8Array;
  /** No other process uses the data directory (OpenStoreOptions.exclusive). */
  exclusive?: boolean;
}

export type ToWorker =
  | { type: 'request'; id: number; op: WriteOpName; args: unknown[] }
  | { type: 'close' };

export type FromWorker =
  | { type: 'ready' }
  | { type: 'open-failed'; error: SerializedError }
  | {
      type: 'batch';
      results: RequestOutcome[];
      changes: MailboxChange[];
      requests: number;
      commitMs: number;
      bytes: number;
      /** Segment files compaction deleted after this COMMIT: readers close their descriptors of them. */
      removedSegments?: number[];
    }
  | { type: 'closed'; error?: SerializedError };

export type RequestOutcome = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: SerializedError };

export interface SerializedError {
  code: StoreErrorCode;
  message: string;
}
