// Body segments: message bodies above SEGMENT_THRESHOLD_BYTES live outside the database, in append-only
// files `bodies/seg-NNNNNN.dat` of the data directory, each body sealed as one record with AES-256-GCM.
//
// Why: a body inside SQLite is written and encrypted twice (into the WAL at commit, into the database file
// at checkpoint), and a 100 KB body is ~7 pages of each. Appended to a segment it is written once, and a
// batch of deliveries costs one fdatasync of the segment plus the (small) WAL commit. bench:store measures it.
//
// Order of durability (the writer worker, writer-worker.ts): all records of a batch are appended, the
// segment is fdatasync'd, and only THEN the SQLite transaction that references them (bodies.segment,
// bodies.seg_offset, bodies.size) commits. A crash in between leaves bytes no row references, never a row
// that references missing bytes. At open, the writer cuts the current segment back to the end of its last
// referenced record, and deletes older segments no row references any more.
//
// Record: nonce (12 random bytes) || ciphertext (size bytes) || GCM tag (16 bytes). The key is derived from
// the store key with HKDF-SHA256 (info "mailstack store-bodies v1"), so it is used for nothing else. The
// nonce is random rather than (segment, offset) because an offset can be written twice: the tail cut back
// after a crash is appended to again, and reusing a GCM nonce under one key would leak the authentication
// key. 96 random bits allow 2^32 records per key before the collision risk matters (NIST SP 800-38D 8.3).
//
// A record is bound to its row, so that a record copied over another, or moved, is refused instead of being
// served as a different message. Two forms:
// - v2 (written now): the row stores the record's nonce (bodies.seg_nonce), and the associated data is the
//   body size. A record found at the row's place with another nonce was put there by someone else; the tag
//   then authenticates the bytes under the nonce the row expects. The nonce is known before the row id or the
//   place, so a body can be sealed as soon as it reaches the writer thread, while the batch before it waits
//   for its fsyncs (prepared-bodies.ts), instead of inside its own batch.
// - v1 (rows from before, seg_nonce NULL): the associated data is (segment, offset, body id, size).
//
// Space: a body whose last reference goes has its row deleted; its bytes stay until the segment holds no
// live record (then the file is deleted at the next open). TODO: a compaction that rewrites segments whose
// live ratio is low (copy live records to the current segment, update the rows, commit, delete the file).
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { closeSync, fdatasync, fdatasyncSync, fstatSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, readSync, unlinkSync, writev, writevSync } from 'node:fs';
import { join } from 'node:path';
import { StoreError } from '../types.ts';

/** Bodies at least this large go to a segment. Below it, a body is a few SQLite pages and the per-record
 * overhead (28 bytes, a separate file write) is not worth it; 8 KiB measured with bench:store (1 KB
 * deliveries stay in SQLite either way). */
export const SEGMENT_THRESHOLD_BYTES = 8 * 1024;
/** A segment is closed and a new one started beyond this size: bounds the file a compaction has to
 * rewrite, and keeps the number of files small (one per 64 MiB of mail). */
export const SEGMENT_MAX_BYTES = 64 * 1024 * 1024;
export const SEGMENTS_DIR = 'bodies';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
export const RECORD_OVERHEAD_BYTES = NONCE_BYTES + TAG_BYTES;
const KEY_INFO = 'mailstack store-bodies v1';
/** Nonces drawn from the RNG at once. */
const NONCE_POOL = 256;
const SEGMENT_NAME = /^seg-(\d{6,10})\.dat$/;
/** Segment ids fit the 4 bytes they take in the associated data. */
const MAX_SEGMENT_ID = 0xffff_ffff;

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

/** v2 records: the row holds the nonce; the associated data carries the size and the format. */
function associatedDataV2(size: number): Buffer {
  const ad = Buffer.alloc(1 + 8);
  ad.writeUInt8(2, 0);
  ad.writeBigUInt64BE(BigInt(size), 1);
  return ad;
}

/** A body sealed for a segment, before it has a place: the record's three parts. */
export interface SealedBody {
  nonce: Buffer;
  sealed: Buffer;
  tag: Buffer;
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
    // A copy: the nonce is also stored in the row, and must not alias the pool.
    const nonce = Buffer.from(this.pool.subarray(this.used, this.used + NONCE_BYTES));
    this.used += NONCE_BYTES;
    return nonce;
  }
}

/** Seals bodies for segment records (v2). */
export class BodySealer {
  private readonly nonces = new NoncePool();

  constructor(private readonly key: Buffer) {}

  seal(raw: Uint8Array): SealedBody {
    const nonce = this.nonces.next();
    const cipher = createCipheriv('aes-256-gcm', this.key, nonce);
    cipher.setAAD(associatedDataV2(raw.byteLength));
    // Ciphertext and tag as two parts of the record (written with writev): no copy into one buffer.
    const sealed = cipher.update(raw);
    cipher.final();
    return { nonce, sealed, tag: cipher.getAuthTag() };
  }
}

function writevAsync(fd: number, parts: Buffer[], position: number): Promise<number> {
  return new Promise((resolve, reject) => writev(fd, parts, position, (error, written) => (error ? reject(error) : resolve(written))));
}

function fdatasyncAsync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fdatasync(fd, (error) => (error ? reject(error) : resolve())));
}

/** What is left of `parts` after the first `skip` bytes (a short writev). */
function remainder(parts: Buffer[], skip: number): Buffer[] {
  const left: Buffer[] = [];
  let offset = skip;
  for (const part of parts) {
    if (offset >= part.length) {
      offset -= part.length;
      continue;
    }
    left.push(offset > 0 ? part.subarray(offset) : part);
    offset = 0;
  }
  return left;
}

export interface SegmentRef {
  segment: number;
  offset: number;
}

/** What the writer needs to know about the rows at open: the end of the last referenced record per segment. */
export interface SegmentUsage {
  segment: number;
  end: number;
}

/** The writer worker's side: appends records, syncs them before the commit that references them. */
export class SegmentWriter {
  private fd = -1;
  private segment = 0;
  private position = 0;
  /** Segments written since the last sync (the current one and, after a rollover, none: a rollover syncs). */
  private dirty = false;
  /** Record bytes appended since the store opened (the writer tells the WAL's share from the segments'). */
  bytesWritten = 0;
  /** Records of the current batch, written by flush(): parts in order, starting at queuedAt. */
  private queued: Buffer[] = [];
  private queuedAt = 0;

  constructor(private readonly dir: string) {}

  /**
   * Opens the current segment for appending. `usage` comes from the committed rows: the current (highest)
   * segment is cut back to its last referenced record (a crash may have left unreferenced bytes there), and
   * older segments with no referenced record are deleted. Must run inside a write transaction (BEGIN
   * IMMEDIATE), so that no other writer has records written and not yet committed.
   */
  open(usage: readonly SegmentUsage[]): void {
    mkdirSync(join(this.dir, SEGMENTS_DIR), { recursive: true, mode: 0o700 });
    const ends = new Map(usage.map((u) => [u.segment, u.end]));
    const present = listSegments(this.dir);
    const highest = Math.max(0, ...present, ...usage.map((u) => u.segment));
    for (const id of present) {
      if (id !== highest && !ends.has(id)) unlinkSync(segmentPath(this.dir, id));
    }
    if (highest === 0) {
      this.startSegment(1);
      return;
    }
    this.segment = highest;
    // 'a+' would create a missing file, but its writes ignore the position; 'r+' then 'w' when missing.
    try {
      this.fd = openSync(segmentPath(this.dir, highest), 'r+');
    } catch (error) {
      if ((error as { code?: string }).code !== 'ENOENT') throw error;
      this.fd = openSync(segmentPath(this.dir, highest), 'wx', 0o600);
    }
    const size = fstatSync(this.fd).size;
    const end = ends.get(highest) ?? 0;
    // A segment shorter than its rows need was damaged (truncated, or lost): the store still opens, new
    // records go after the missing ones, and reading a missing record fails as 'corrupt' (verify() lists
    // them), so one damaged file does not take the mail of every account offline.
    if (size > end) {
      ftruncateSync(this.fd, end);
      fsyncSync(this.fd);
    }
    this.position = end;
  }

  /**
   * Called at the start of every batch, inside its BEGIN IMMEDIATE (the database's write lock). Only one
   * writer is meant to run, but should a second process open the same data directory (a CLI racing the
   * server), both hold the write lock in turn: this re-reads where the segment ends, so records are never
   * written over another writer's, and moves on when the segment was deleted by another writer's open().
   */
  claim(): void {
    if (this.fd < 0) return;
    const stat = fstatSync(this.fd);
    if (stat.nlink === 0) {
      closeSync(this.fd);
      this.fd = -1;
      this.dirty = false;
      this.startSegment(Math.max(this.segment, ...listSegments(this.dir)) + 1);
      return;
    }
    if (stat.size !== this.position) this.position = stat.size;
  }

  private startSegment(first: number): void {
    // 'wx': never empty a file another writer may have created (and committed records into) meanwhile.
    let id = first;
    for (;;) {
      if (id > MAX_SEGMENT_ID) throw new StoreError('unavailable', 'no segment ids left');
      try {
        this.fd = openSync(segmentPath(this.dir, id), 'wx', 0o600);
        break;
      } catch (error) {
        if ((error as { code?: string }).code !== 'EEXIST') throw error;
        id = Math.max(id, ...listSegments(this.dir)) + 1;
      }
    }
    this.segment = id;
    this.position = 0;
    // The new file's directory entry must be durable before a commit refers to the file.
    const directory = openSync(join(this.dir, SEGMENTS_DIR), 'r');
    try {
      fsyncSync(directory);
    } finally {
      closeSync(directory);
    }
  }

  /** Where the next record of `size` body bytes goes (a new segment when this one is full). */
  reserve(size: number): SegmentRef {
    if (this.fd < 0) throw new StoreError('unavailable', 'body segments are not open');
    if (this.position > 0 && this.position + size + RECORD_OVERHEAD_BYTES > SEGMENT_MAX_BYTES) {
      // The full segment's records must be on disk before the commit, like the current one's.
      this.syncNow();
      closeSync(this.fd);
      this.fd = -1;
      this.startSegment(this.segment + 1);
    }
    return { segment: this.segment, offset: this.position };
  }

  /** Queues a sealed record at the place reserve() gave. Written and made durable by flush() (or syncNow()). */
  writeSealed(ref: SegmentRef, body: SealedBody): void {
    if (ref.segment !== this.segment || ref.offset !== this.position) throw new StoreError('unavailable', 'segment write out of order');
    if (this.queued.length === 0) this.queuedAt = this.position;
    // The parts as they are, written with one positioned writev per batch: no copy into a record buffer.
    this.queued.push(body.nonce, body.sealed, body.tag);
    const length = body.nonce.length + body.sealed.length + body.tag.length;
    this.position += length;
    this.bytesWritten += length;
    this.dirty = true;
  }

  /** Writes the queued records and makes everything written so far durable, on libuv's thread pool: the
   * writer thread's event loop stays free meanwhile (it prepares the next requests). Called before COMMIT. */
  async flush(): Promise<void> {
    if (!this.dirty) return;
    const fd = this.fd;
    const parts = this.queued;
    let position = this.queuedAt;
    this.queued = [];
    let left = parts.reduce((sum, part) => sum + part.length, 0);
    let rest = parts;
    while (left > 0) {
      const written = await writevAsync(fd, rest, position);
      if (written <= 0) throw new Error(`short write to segment ${this.segment}`);
      left -= written;
      position += written;
      if (left > 0) rest = remainder(rest, written);
    }
    await fdatasyncAsync(fd);
    this.dirty = false;
  }

  /** flush() on the calling thread: for a rollover and for close. */
  syncNow(): void {
    if (!this.dirty) return;
    let position = this.queuedAt;
    let rest = this.queued;
    this.queued = [];
    let left = rest.reduce((sum, part) => sum + part.length, 0);
    while (left > 0) {
      const written = writevSync(this.fd, rest, position);
      left -= written;
      position += written;
      if (left > 0) rest = remainder(rest, written);
    }
    fdatasyncSync(this.fd);
    this.dirty = false;
  }

  /** Forgets records queued and not yet written (the batch failed before flush). */
  discardQueued(): void {
    if (this.queued.length === 0) return;
    this.position = this.queuedAt;
    this.queued = [];
  }

  close(): void {
    if (this.fd < 0) return;
    try {
      this.syncNow();
    } finally {
      closeSync(this.fd);
      this.fd = -1;
    }
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
   * names (v2: `nonce`, from the row) or fails its tag. `nonce` null: a v1 record. */
  read(segment: number, offset: number, bodyId: number, size: number, nonce: Uint8Array | null): Buffer {
    const path = segmentPath(this.dir, segment);
    const record = Buffer.allocUnsafe(size + RECORD_OVERHEAD_BYTES);
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
    decipher.setAAD(nonce !== null ? associatedDataV2(size) : associatedDataV1(segment, offset, bodyId, size));
    decipher.setAuthTag(record.subarray(NONCE_BYTES + size));
    const plain = decipher.update(record.subarray(NONCE_BYTES, NONCE_BYTES + size));
    try {
      decipher.final();
    } catch {
      // Nothing of `plain` leaves this function: altered bytes are never served.
      throw new StoreError('corrupt', `body #${bodyId} in ${path} (offset ${offset}) fails authentication: it was altered or moved`);
    }
    return plain;
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
