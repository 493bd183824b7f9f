// The work on a message body that needs no database: its MIME summary, its search text and, for a body that
// goes to a segment, its sealed record. The writer worker does it when a request reaches the thread, which
// is mostly while the batch before waits for its segment writes and fdatasync on the thread pool; so that
// CPU work overlaps the I/O, and the next batch's transaction only inserts rows and queues records.
// bench:store measures the effect at 32 writers with 100 KB messages.
//
// (Sealing with WebCrypto, which runs on the thread pool, was tried: its job set-up cost several times the
// encryption itself on this thread, measured with --cpu-prof.)
import { extractSearchText, summarizeMessage } from '../../mime/index.ts';
import { StoreError } from '../types.ts';
import { SEGMENT_THRESHOLD_BYTES, type BodySealer, type SealedBody } from './segments.ts';

/** The store refuses bodies above this size (a sanity bound well over any SMTP SIZE limit). */
export const MAX_STORED_MESSAGE_BYTES = 512 * 1024 * 1024;

export interface PreparedBody {
  summaryJson: string;
  /** Search text, lower-cased as body_text stores it. */
  headerText: string;
  bodyText: string;
  /** The segment record, for bodies of SEGMENT_THRESHOLD_BYTES and more; null below. */
  sealed: SealedBody | null;
}

interface Entry {
  raw: Uint8Array;
  prepared: PreparedBody | null;
  failure: unknown;
}

function describe(raw: Buffer): Omit<PreparedBody, 'sealed'> {
  if (raw.length > MAX_STORED_MESSAGE_BYTES) throw new StoreError('invalid', `message of ${raw.length} bytes is larger than the store accepts`);
  const summary = summarizeMessage(raw);
  const text = extractSearchText(raw, summary);
  return { summaryJson: JSON.stringify(summary), headerText: text.header.toLowerCase(), bodyText: text.body.toLowerCase() };
}

export class BodyPreparer {
  /** By the bytes' ArrayBuffer: a request's body arrives in a buffer of its own (moved or cloned to this
   * thread), and the WriteOps method sees a Buffer view of it, not the same object. */
  private readonly entries = new WeakMap<ArrayBufferLike, Entry>();

  constructor(private readonly sealer: BodySealer | null) {}

  /** Does the work on `raw` now, for take() to find; what it throws, take() throws in its request. */
  prepare(raw: Uint8Array): void {
    if (this.entries.has(raw.buffer)) return;
    const entry: Entry = { raw, prepared: null, failure: null };
    this.entries.set(raw.buffer, entry);
    try {
      const bytes = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
      entry.prepared = { ...describe(bytes), sealed: this.sealer && raw.byteLength >= SEGMENT_THRESHOLD_BYTES ? this.sealer.seal(bytes) : null };
    } catch (error) {
      entry.failure = error;
    }
  }

  /** The prepared body of `raw`, done now if it was not prepared ahead; throws what preparing threw. */
  take(raw: Buffer, segment: boolean): PreparedBody {
    const entry = this.entries.get(raw.buffer);
    if (entry && entry.raw.byteOffset === raw.byteOffset && entry.raw.byteLength === raw.byteLength) {
      this.entries.delete(raw.buffer);
      if (entry.failure) throw entry.failure;
      const prepared = entry.prepared!;
      if (segment && !prepared.sealed) prepared.sealed = this.sealNow(raw);
      return prepared;
    }
    return { ...describe(raw), sealed: segment ? this.sealNow(raw) : null };
  }

  private sealNow(raw: Buffer): SealedBody {
    if (!this.sealer) throw new StoreError('unavailable', 'body segments are not open');
    return this.sealer.seal(raw);
  }
}
