// The work on a message body that needs no database: its MIME summary, its search text and, for a body that
// goes to a segment, its record, appended to the segment at once (segments.ts: another thread seals it,
// writes it and syncs it in the background). The writer worker does it when a request reaches the thread,
// which is mostly while a batch before it waits for its records or its COMMIT; so that CPU work and the disk
// writes overlap the batches, and a batch's transaction only inserts rows. bench:store measures the effect at
// 32 writers with 100 KB messages.
//
// (Sealing with WebCrypto, which runs on the thread pool, was tried: its job set-up cost several times the
// encryption itself, measured with --cpu-prof. The segment I/O thread seals with node:crypto instead.)
import { extractSearchText, renderEnvelope, summarizeMessage } from '../../mime/index.ts';
import { StoreError } from '../types.ts';
import { SEGMENT_THRESHOLD_BYTES, type SegmentTicket, type SegmentWriter } from './segments.ts';
import { packBody } from './body-packing.ts';
import { SharedBufferPool } from './buffer-pool.ts';

/** The store refuses bodies above this size (a sanity bound well over any SMTP SIZE limit). */
export const MAX_STORED_MESSAGE_BYTES = 512 * 1024 * 1024;

export interface PreparedBody {
  summaryJson: string;
  /** ENVELOPE in IMAP syntax when it is the same with and without UTF8=ACCEPT; else null (schema 4). */
  envelope: string | null;
  /** Search text, lower-cased as body_text stores it. */
  headerText: string;
  bodyText: string;
  /** The body's segment record, for bodies of SEGMENT_THRESHOLD_BYTES and more; null below. `packedLength`:
   * the record holds the body's packed form of that length (body-packing.ts); null, the body as it is. */
  record: { ticket: SegmentTicket; nonce: Buffer; packedLength: number | null } | null;
}

interface Entry {
  raw: Uint8Array;
  prepared: PreparedBody | null;
  failure: unknown;
  /** Where its packed form is, until release(). */
  packedMemory: SharedArrayBuffer | null;
}

export class BodyPreparer {
  /** By the bytes' ArrayBuffer: a request's body arrives in a buffer of its own (moved or cloned to this
   * thread), and the WriteOps method sees a Buffer view of it, not the same object. */
  private readonly entries = new WeakMap<ArrayBufferLike, Entry>();

  /** Packed forms (body-packing.ts), in shared memory that the segment I/O thread reads without a copy, used
   * again from one request to the next: a fresh buffer per body page-faults (buffer-pool.ts). */
  private readonly packedMemory = new SharedBufferPool();

  /** Without segments every body stays in SQLite. */
  constructor(private readonly segments: SegmentWriter | null) {}

  /** Does the work on `raw` now, for take() to find; what it throws, take() throws in its request. */
  prepare(raw: Uint8Array): void {
    if (this.entries.has(raw.buffer)) return;
    const entry: Entry = { raw, prepared: null, failure: null, packedMemory: null };
    this.entries.set(raw.buffer, entry);
    try {
      entry.prepared = this.work(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength), entry);
    } catch (error) {
      entry.failure = error;
    }
  }

  /** The segment record's ticket of a prepared body, if it has one (the batch waits until it is durable). */
  ticketOf(raw: Uint8Array): SegmentTicket | null {
    return this.entries.get(raw.buffer)?.prepared?.record?.ticket ?? null;
  }

  /** The prepared body of `raw`, done now if it was not prepared ahead; throws what preparing threw. The entry
   * stays (it goes with the request's buffer): a batch that runs again after a failing request (writer-worker.ts)
   * finds the same body, and the same segment record. */
  take(raw: Buffer): PreparedBody {
    const entry = this.entries.get(raw.buffer);
    if (entry && entry.raw.byteOffset === raw.byteOffset && entry.raw.byteLength === raw.byteLength) {
      if (entry.failure) throw entry.failure;
      return entry.prepared!;
    }
    return this.work(raw);
  }

  /** Once the request of `raw` is answered: the memory of its packed form can be used again. (Its record was
   * durable before a success was posted; a request that failed may leave a record being sealed from memory
   * used again, which no row references, as any failed request's record.) */
  release(raw: Uint8Array): void {
    const entry = this.entries.get(raw.buffer);
    if (!entry?.packedMemory) return;
    this.packedMemory.release(entry.packedMemory);
    entry.packedMemory = null;
  }

  /** Memory for a packed form: pooled for a body prepared ahead (its request releases it); a body prepared
   * only when its batch runs gets a buffer of its own. */
  private allocate(length: number, entry: Entry | null): Buffer {
    if (!entry) return Buffer.allocUnsafe(length);
    const view = this.packedMemory.allocate(length);
    entry.packedMemory = view.buffer as SharedArrayBuffer;
    return view;
  }

  private work(raw: Buffer, entry: Entry | null = null): PreparedBody {
    if (raw.length > MAX_STORED_MESSAGE_BYTES) throw new StoreError('invalid', `message of ${raw.length} bytes is larger than the store accepts`);
    const summary = summarizeMessage(raw);
    const text = extractSearchText(raw, summary);
    let record: PreparedBody['record'] = null;
    // Sealed and written by the segment I/O thread while this one goes on with the next body.
    if (this.segments && raw.length >= SEGMENT_THRESHOLD_BYTES) {
      const packed = packBody(raw, (length) => this.allocate(length, entry));
      const packedLength = packed?.length ?? null;
      record = { ...this.segments.append({ bytes: packed ?? raw, size: raw.length, packedLength }), packedLength };
    }
    const envelope = renderEnvelope(summary.envelope, false);
    // A line break in it means a literal: 8-bit text (or CR, LF, NUL), which UTF8=ACCEPT may render otherwise.
    // Without one, both renderings are the same string.
    const sameForUtf8 = !envelope.includes('\r\n') || envelope === renderEnvelope(summary.envelope, true);
    return {
      summaryJson: JSON.stringify(summary),
      envelope: sameForUtf8 ? envelope : null,
      headerText: text.header.toLowerCase(), bodyText: text.body.toLowerCase(),
      record,
    };
  }
}
