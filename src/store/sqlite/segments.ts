// Body segments: message bodies above SEGMENT_THRESHOLD_BYTES live outside the database, in append-only
// files `bodies/seg-NNNNNN.dat` of the data directory, each body sealed as one record with AES-256-GCM.
//
// Why: a body inside SQLite is written and encrypted twice (into the WAL at commit, into the database file
// at checkpoint), and a 100 KB body is ~7 pages of each. Appended to a segment it is written once, and a
// batch of deliveries costs one fdatasync of the segment plus the (small) WAL commit. bench:store measures it.
//
// Order of durability (the writer worker, writer-worker.ts): a batch's records are appended and fdatasync'd,
// and only THEN the SQLite transaction that references them (bodies.segment, bodies.seg_offset,
// bodies.size, bodies.seg_nonce) commits. A crash in between leaves bytes no row references, never a row
// that references missing bytes. At open, the writer deletes segment files no row references (those a live
// process may still be filling only when they are old, or the opener is alone); each writer appends only to
// files it created itself (SegmentWriter).
//
// Record: nonce (12 random bytes) || ciphertext || GCM tag (16 bytes). The ciphertext is the body (size bytes)
// or, for a body with base64 parts, its packed form (bodies.seg_length bytes; body-packing.ts). The key is
// derived from the store key with HKDF-SHA256 (info "mailstack store-bodies v1"), so it is used for nothing
// else. The nonce is random rather than (segment, offset) because an offset can be written twice: the tail cut
// back after a crash is appended to again, and reusing a GCM nonce under one key would leak the authentication
// key. 96 random bits allow 2^32 records per key before the collision risk matters (NIST SP 800-38D 8.3).
//
// A record is bound to its row, so that a record copied over another, or moved, is refused instead of being
// served as a different message. Three forms:
// - v2 and v3 (written now; v3 holds a packed body): the row stores the record's nonce (bodies.seg_nonce),
//   and the associated data is the body size (v3: and the packed length). A record found at the row's place
//   with another nonce was put there by someone else; the tag then authenticates the bytes under the nonce
//   the row expects. The nonce is known before the row id, so a body is sealed and written as soon as it
//   reaches the writer thread, while the batch before it waits for its fsyncs (prepared-bodies.ts), instead
//   of inside its own batch. The form is in segment-record.mjs.
// - v1 (rows from before, seg_nonce NULL): the associated data is (segment, offset, body id, size).
//
// Space: a body whose last reference goes has its row deleted; its bytes stay in the segment until compaction
// (compaction.ts) copies the segment's live records to the end of the current one, points their rows at the
// copies, commits once the copies are durable, and then deletes the file. A crash before the commit leaves
// copies no row references (at the end of a newer segment); a crash after it leaves a file no row references,
// which the next open deletes. Compaction merges small files the same way (one per short-lived writer).
import { createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { closeSync, fstatSync, fsyncSync, mkdirSync, openSync, readdirSync, readSync, statSync, unlinkSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import { StoreError } from '../types.ts';
import { isNoSpaceCode } from './connection.ts';
import { NONCE_BYTES, recordAssociatedData, TAG_BYTES } from './segment-record.mjs';
import { unpackBody } from './body-packing.ts';

/** Bodies at least this large go to a segment. Below it, a body is a few SQLite pages and the per-record
 * overhead (28 bytes, a separate file write) is not worth it; 8 KiB measured with bench:store (1 KB
 * deliveries stay in SQLite either way). */
export const SEGMENT_THRESHOLD_BYTES = 8 * 1024;
/** A segment is closed and a new one started beyond this size: bounds the file a compaction has to
 * rewrite, and keeps the number of files small (one per 64 MiB of mail). */
export const SEGMENT_MAX_BYTES = 64 * 1024 * 1024;
export const SEGMENTS_DIR = 'bodies';
export const RECORD_OVERHEAD_BYTES = NONCE_BYTES + TAG_BYTES;
const KEY_INFO = 'mailstack store-bodies v1';
/** Age after which an unreferenced segment file can no longer be one another process is filling (its
 * records are committed within a batch, milliseconds; an hour is far beyond any batch). */
const ORPHAN_SEGMENT_MIN_AGE_MS = 60 * 60 * 1000;
/** Nonces drawn from the RNG at once. */
const NONCE_POOL = 256;
const SEGMENT_NAME = /^seg-(\d{6,10})\.dat$/;
/** Segment ids fit the 4 bytes they take in the associated data. */
const MAX_SEGMENT_ID = 0xffff_ffff;

/** Whether a segment file last written at `modifiedMs` may be one another process is still appending to (a
 * `mailstack deliver` or an import beside this one): a file of its own, which it alone may add records to. */
export function mayBeFilledByAnotherWriter(modifiedMs: number, nowMs: number): boolean {
  return nowMs - modifiedMs < ORPHAN_SEGMENT_MIN_AGE_MS;
}

export function deriveBodyKey(storeKey: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', storeKey, Buffer.alloc(0), KEY_INFO, 32));
}

export function segmentPath(dir: string, segment: number): string {
  return join(dir, SEGMENTS_DIR, `seg-${String(segment).padStart(6, '0')}.dat`);
}

/** Segment ids of the files present, ascending. */
export function listSegments(dir: string): number[] {
  let names: string[];
  try {
    names = readdirSync(join(dir, SEGMENTS_DIR));
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return [];
    throw error;
  }
  const ids: number[] = [];
  for (const name of names) {
    const match = SEGMENT_NAME.exec(name);
    if (match) ids.push(Number(match[1]));
  }
  return ids.sort((a, b) => a - b);
}

/** v1 records (rows without seg_nonce): bound to their place and row id. */
function associatedDataV1(segment: number, offset: number, bodyId: number, size: number): Buffer {
  const ad = Buffer.alloc(4 + 8 + 8 + 8);
  ad.writeUInt32BE(segment, 0);
  ad.writeBigUInt64BE(BigInt(offset), 4);
  ad.writeBigUInt64BE(BigInt(bodyId), 12);
  ad.writeBigUInt64BE(BigInt(size), 20);
  return ad;
}

/** Fresh random nonces, cut from a pool filled NONCE_POOL at a time (one RNG call instead of 256). */
class NoncePool {
  private pool = Buffer.alloc(0);
  private used = 0;

  next(): Buffer {
    if (this.used >= this.pool.length) {
      this.pool = randomBytes(NONCE_BYTES * NONCE_POOL);
      this.used = 0;
    }
    // A copy: the nonce is also stored in the row, and must not alias the pool. In memory of its own: a small
    // Buffer is cut from Node's shared 8 KiB slab, and posting it to the I/O thread would copy the whole slab
    // (~5 µs more per record, measured with a loop of postMessage calls).
    const nonce = Buffer.allocUnsafeSlow(NONCE_BYTES);
    this.pool.copy(nonce, 0, this.used, this.used + NONCE_BYTES);
    this.used += NONCE_BYTES;
    return nonce;
  }
}

/** What a record holds: a body of `size` bytes as `bytes`, which are the body itself (`packedLength` null) or
 * its packed form of `packedLength` bytes (body-packing.ts). */
export interface RecordContent {
  bytes: Uint8Array;
  size: number;
  packedLength: number | null;
}

export interface SegmentRef {
  segment: number;
  offset: number;
}

/** Where an appended record went, and its place in the order of appends (for durable()). */
export interface SegmentTicket extends SegmentRef {
  seq: number;
}

interface DurableWait {
  seq: number;
  resolve(): void;
  reject(error: Error): void;
}

/**
 * The writer worker's side. Records are appended as requests arrive (append()); the segment I/O thread
 * (segment-io.mjs) seals and writes each at once and fdatasyncs them, again and again while there is more; the
 * writer commits a batch once durable() says its records are on disk. So the disk is kept busy with the next
 * records while the writer parses bodies and runs a batch's SQL and its COMMIT, instead of each batch waiting
 * for its own segment write and then its own commit in turn (bench:store, 100 KB at 32 writers).
 *
 * Records are appended outside the database's write lock, so two processes on one data directory (a CLI
 * racing the server) must never append to the same file: a writer appends only to segment files it created
 * itself ('wx'), starting a new one at its first record. Another writer may delete a segment no committed
 * row references (at its open, under the write lock); deletedOf() lets the writer find that out under the
 * write lock, before it commits rows that reference the segment.
 */
export class SegmentWriter {
  /** The segment appended to now; -1 until the first record. */
  private fd = -1;
  private segment = 0;
  private position = 0;
  /** Segment files this writer created and appends to or appended to (fd kept open until they are durable). */
  private readonly fds = new Map<number, number>();
  /** The last record appended to each open segment file (closed once that is durable). */
  private readonly lastSeqOf = new Map<number, number>();
  /** The inode of every segment file this writer created (deletedOf()). */
  private readonly inodes = new Map<number, number>();
  private nextSeq = 1;
  private durableSeq = 0;
  private waits: DurableWait[] = [];
  /** The segment I/O thread (segment-io.mjs). */
  private readonly io: Worker;
  private ioClosed: Promise<void> | null = null;
  private resolveIoClosed: (() => void) | null = null;
  /** Records whose write failed, as seq ranges: never reported durable, even after later records are. */
  private readonly lost: { from: number; to: number; error: Error }[] = [];
  private readonly nonces = new NoncePool();

  /** `bodyKey`: deriveBodyKey() of the store key; the I/O thread seals with it. */
  constructor(
    private readonly dir: string,
    bodyKey: Buffer,
  ) {
    this.io = new Worker(new URL('./segment-io.mjs', import.meta.url), { workerData: { key: new Uint8Array(bodyKey) } });
    this.io.on('message', (message: { type: string; seq?: number; message?: string; code?: string }) => {
      if (message.type === 'durable') this.onDurable(message.seq as number);
      else if (message.type === 'failed') this.fail(Object.assign(new Error(message.message), { code: message.code }));
      else if (message.type === 'closed') this.resolveIoClosed?.();
    });
    this.io.on('error', (error) => this.fail(error));
    this.io.on('exit', () => {
      if (!this.ioClosed) this.fail(new Error('the segment I/O thread stopped'));
      this.resolveIoClosed?.();
    });
  }

  /**
   * At open, inside a write transaction (BEGIN IMMEDIATE): deletes the segment files no committed row
   * references (`referenced`). Those hold only records of requests that never committed: a crash between
   * a segment write and its commit, or a request that failed. Unless `exclusive` (no other process uses the
   * data directory), only files older than ORPHAN_SEGMENT_MIN_AGE_MS: a younger one may be another process's,
   * filling now. Should one be deleted anyway, its writer finds out in deletedOf() and fails its batch with
   * a temporary error. Unreferenced bytes in a referenced segment stay until compaction (TODO below).
   */
  open(referenced: ReadonlySet<number>, exclusive = false): void {
    mkdirSync(join(this.dir, SEGMENTS_DIR), { recursive: true, mode: 0o700 });
    const now = Date.now();
    for (const id of listSegments(this.dir)) {
      if (referenced.has(id)) continue;
      const path = segmentPath(this.dir, id);
      // Another process may be filling this file right now, its COMMIT a few milliseconds away: several
      // `mailstack deliver` run side by side when an MTA pipes to it. Deleting it failed that delivery (14%
      // of them with 8 at a time). A file left by a crash is as unreferenced, and older: it goes at a later
      // open, or at once when the caller is alone on the data directory (serve).
      if (!exclusive && mayBeFilledByAnotherWriter(statSync(path).mtimeMs, now)) continue;
      unlinkSync(path);
    }
  }

  /**
   * Appends a body of `content.size` bytes as a record: the segment I/O thread seals it and writes it in the
   * background. The record holds `content.bytes` (the body, or its packed form when `packedLength` is a number:
   * body-packing.ts). The ticket says where it goes; the nonce, which the row stores, names it. The I/O thread
   * reads the bytes until the record is written: their memory must not change before durable() covers the
   * ticket. The writer's bodies (and their packed forms) are in shared memory (buffer-pool.ts), so they reach
   * that thread without a copy.
   */
  append(content: RecordContent): { ticket: SegmentTicket; nonce: Buffer } {
    if (this.ioClosed) throw new StoreError('unavailable', 'body segments are closed');
    const length = (content.packedLength ?? content.size) + RECORD_OVERHEAD_BYTES;
    if (this.fd < 0 || (this.position > 0 && this.position + length > SEGMENT_MAX_BYTES)) this.startSegment();
    const seq = this.nextSeq++;
    const ticket = { segment: this.segment, offset: this.position, seq };
    const nonce = this.nonces.next();
    const { bytes, size, packedLength } = content;
    this.io.postMessage({ type: 'record', fd: this.fd, position: this.position, seq, nonce, bytes, size, packedLength });
    this.lastSeqOf.set(this.segment, seq);
    this.position += length;
    return { ticket, nonce };
  }

  /** Whether this writer appends to `segment` now, or has records in it not yet durable: compaction leaves
   * such a file alone. */
  isBusy(segment: number): boolean {
    return segment === this.segment || this.fds.has(segment);
  }

  /**
   * Deletes segment files no committed row references any more (compaction.ts, after its COMMIT), and makes
   * the deletions durable with one fsync of the directory (a merge deletes up to hundreds at once). Returns
   * those gone; a file this writer is using, or one that cannot be deleted now, stays (the next open deletes
   * it: no row references it). Should the fsync fail, the files are gone all the same, and readers must let
   * go of them: a crash may bring them back, unreferenced, for the next open to delete.
   */
  remove(segments: readonly number[]): number[] {
    const removed = segments.filter((segment) => this.unlinkUnused(segment));
    if (removed.length === 0) return removed;
    try {
      const directory = openSync(join(this.dir, SEGMENTS_DIR), 'r');
      try {
        fsyncSync(directory);
      } finally {
        closeSync(directory);
      }
    } catch {
      /* see above */
    }
    return removed;
  }

  private unlinkUnused(segment: number): boolean {
    if (this.isBusy(segment)) return false;
    try {
      unlinkSync(segmentPath(this.dir, segment));
    } catch (error) {
      if ((error as { code?: string }).code !== 'ENOENT') return false;
    }
    this.inodes.delete(segment);
    return true;
  }

  /** The seq of the last record appended so far (0: none). */
  get lastSeq(): number {
    return this.nextSeq - 1;
  }

  /** Settles when every record up to `seq` is written and fdatasync'd; rejects if writing failed. */
  durable(seq: number): Promise<void> {
    const lost = this.lost.find((range) => seq >= range.from && seq <= range.to);
    if (lost) return Promise.reject(lost.error);
    if (seq <= this.durableSeq) return Promise.resolve();
    return new Promise((resolve, reject) => this.waits.push({ seq, resolve, reject }));
  }

  /**
   * Under the write lock: the segments of `segments` that another writer's open() deleted (they held no
   * committed record then). Records in them are lost, and this writer stops appending to them: the next
   * record goes to a new file.
   */
  deletedOf(segments: Iterable<number>): number[] {
    const deleted: number[] = [];
    for (const segment of segments) {
      const inode = this.inodes.get(segment);
      // By path, with the inode this writer created: the file of a deleted id may since have been created
      // anew by another writer (its own records, not ours).
      let current: number | null = null;
      try {
        current = statSync(segmentPath(this.dir, segment)).ino;
      } catch {
        /* gone */
      }
      if (inode === undefined || current !== inode) deleted.push(segment);
    }
    for (const segment of deleted) {
      if (segment === this.segment) this.fd = -1;
      this.inodes.delete(segment);
    }
    return deleted;
  }

  private onDurable(seq: number): void {
    this.durableSeq = Math.max(this.durableSeq, seq);
    this.closeFinishedSegments();
    const waiting = this.waits;
    this.waits = [];
    for (const wait of waiting) {
      if (wait.seq <= this.durableSeq) wait.resolve();
      else this.waits.push(wait);
    }
  }

  /** Everything appended and not yet durable is lost (a failed fsync may have dropped the dirty pages, and
   * the kernel does not report it twice): those records are never reported durable. */
  private fail(cause: unknown): void {
    const code = isNoSpaceCode((cause as { code?: unknown }).code) ? 'no_space' : 'unavailable';
    const error = new StoreError(code, `writing message bodies to disk: ${(cause as Error).message}`);
    this.lost.push({ from: this.durableSeq + 1, to: this.lastSeq, error });
    for (const wait of this.waits) wait.reject(error);
    this.waits = [];
    // New records go to a new file; this one may have lost written pages.
    this.fd = -1;
  }

  /** Closes segments this writer no longer appends to, once all their records are durable. */
  private closeFinishedSegments(): void {
    for (const [segment, fd] of this.fds) {
      if (fd === this.fd || (this.lastSeqOf.get(segment) ?? 0) > this.durableSeq) continue;
      closeSync(fd);
      this.fds.delete(segment);
      this.lastSeqOf.delete(segment);
    }
  }

  private startSegment(): void {
    // 'wx': a file of this writer's own, never one another writer created (and may append to) meanwhile.
    let id = Math.max(this.segment, ...listSegments(this.dir)) + 1;
    let fd: number;
    for (;;) {
      if (id > MAX_SEGMENT_ID) throw new StoreError('unavailable', 'no segment ids left');
      try {
        fd = openSync(segmentPath(this.dir, id), 'wx', 0o600);
        break;
      } catch (error) {
        if ((error as { code?: string }).code !== 'EEXIST') throw error;
        id = Math.max(id, ...listSegments(this.dir)) + 1;
      }
    }
    // The new file's directory entry must be durable before a commit refers to the file.
    const directory = openSync(join(this.dir, SEGMENTS_DIR), 'r');
    try {
      fsyncSync(directory);
    } finally {
      closeSync(directory);
    }
    this.fd = fd;
    this.fds.set(id, fd);
    this.inodes.set(id, fstatSync(fd).ino);
    this.segment = id;
    this.position = 0;
  }

  /** Lets the I/O thread write and sync what is still queued, then closes the files (store close). */
  async close(): Promise<void> {
    this.ioClosed ??= new Promise<void>((resolve) => {
      this.resolveIoClosed = resolve;
      this.io.postMessage({ type: 'close' });
    });
    await this.ioClosed;
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
    this.fd = -1;
  }
}

/** Reads and authenticates records; used on the main thread (getBody, verify). */
export class SegmentReader {
  private readonly fds = new Map<number, number>();

  constructor(
    private readonly dir: string,
    private readonly key: Buffer,
  ) {}

  private fdOf(segment: number): number {
    let fd = this.fds.get(segment);
    if (fd === undefined) {
      try {
        fd = openSync(segmentPath(this.dir, segment), 'r');
      } catch (error) {
        if ((error as { code?: string }).code === 'ENOENT') throw new StoreError('corrupt', `${segmentPath(this.dir, segment)} is missing`);
        throw new StoreError('unavailable', `opening ${segmentPath(this.dir, segment)}: ${(error as Error).message}`);
      }
      this.fds.set(segment, fd);
    }
    return fd;
  }

  /** The body of row `bodyId`; StoreError 'corrupt' when the record is missing, short, is not the one the row
   * names (v2, v3: `nonce`, from the row) or fails its tag. `nonce` null: a v1 record. `packedLength` (from
   * the row): the record holds the body's packed form of that length (v3, body-packing.ts). */
  read(segment: number, offset: number, bodyId: number, size: number, nonce: Uint8Array | null, packedLength: number | null = null): Buffer {
    const plain = this.readStored(segment, offset, bodyId, size, nonce, packedLength);
    return packedLength === null ? plain : unpackBody(plain, size);
  }

  /** What the record holds, authenticated: the body, or its packed form when `packedLength` is a number
   * (compaction moves it as it is). */
  readStored(segment: number, offset: number, bodyId: number, size: number, nonce: Uint8Array | null, packedLength: number | null): Buffer {
    if (packedLength !== null && nonce === null) throw new StoreError('corrupt', `body #${bodyId} names a packed record without its nonce`);
    const path = segmentPath(this.dir, segment);
    const stored = packedLength ?? size;
    const record = Buffer.allocUnsafe(stored + RECORD_OVERHEAD_BYTES);
    let got = 0;
    try {
      const fd = this.fdOf(segment);
      while (got < record.length) {
        const n = readSync(fd, record, got, record.length - got, offset + got);
        if (n === 0) break;
        got += n;
      }
    } catch (error) {
      if (error instanceof StoreError) throw error;
      throw new StoreError('unavailable', `reading body #${bodyId} from ${path}: ${(error as Error).message}`);
    }
    if (got < record.length) throw new StoreError('corrupt', `body #${bodyId} is cut short in ${path} (offset ${offset})`);
    const recordNonce = record.subarray(0, NONCE_BYTES);
    if (nonce !== null && !recordNonce.equals(nonce)) {
      throw new StoreError('corrupt', `body #${bodyId} in ${path} (offset ${offset}) fails authentication: it is not the record its row names (altered or moved)`);
    }
    const decipher = createDecipheriv('aes-256-gcm', this.key, recordNonce);
    decipher.setAAD(nonce !== null ? recordAssociatedData(size, packedLength) : associatedDataV1(segment, offset, bodyId, size));
    decipher.setAuthTag(record.subarray(NONCE_BYTES + stored));
    const plain = decipher.update(record.subarray(NONCE_BYTES, NONCE_BYTES + stored));
    try {
      decipher.final();
    } catch {
      // Nothing of `plain` leaves this function: altered bytes are never served.
      throw new StoreError('corrupt', `body #${bodyId} in ${path} (offset ${offset}) fails authentication: it was altered or moved`);
    }
    return plain;
  }

  /** Closes the descriptors of segments that compaction deleted: an open descriptor would keep the file's
   * blocks allocated. A read of a row moved meanwhile opens the new segment (reader.ts retries once). */
  forget(segments: Iterable<number>): void {
    for (const segment of segments) {
      const fd = this.fds.get(segment);
      if (fd === undefined) continue;
      this.fds.delete(segment);
      try {
        closeSync(fd);
      } catch {
        /* closing anyway */
      }
    }
  }

  close(): void {
    for (const fd of this.fds.values()) {
      try {
        closeSync(fd);
      } catch {
        /* closing anyway */
      }
    }
    this.fds.clear();
  }
}
