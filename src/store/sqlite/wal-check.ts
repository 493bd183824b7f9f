// Refuses to open a store whose write-ahead log holds damaged frames of committed transactions.
//
// Why: when a process stops without closing the store (kill -9, power loss), the next open replays the WAL
// (SQLite's recovery). Recovery reads frames while their checksums chain, and stops at the first one that
// fails, taking it for the torn tail of a write the crash interrupted. So one flipped bit in an early frame
// silently drops every transaction after it: acknowledged mail gone, and `verify` sees nothing wrong, since
// what is left is consistent. (Found by flipping bits in a WAL left by kill -9: every flip went unnoticed.)
//
// A torn tail can only be the last transaction: with synchronous=FULL the WAL is fsync'd at every COMMIT,
// and the one writer starts the next transaction only after that. So a damaged frame is proof of damage, not
// of a crash, when
// - the WAL index (store.db-shm, which survives kill -9) says the frame was committed: SQLite updates its
//   header, with the last committed frame, only after the frames are written and synced; or
// - a later transaction committed after the damaged frame's own: frames after the damage still chain from
//   the checksum stored in the damaged frame, so they can be checked, and their commit frames counted.
// Neither holds for a damaged frame in the last transaction after a power loss that also lost the index:
// that case is indistinguishable from a torn write, and SQLite's choice (drop it) stands.
//
// Formats (https://www.sqlite.org/fileformat2.html, "WAL file format" and "WAL-index format"): the WAL has a
// 32-byte header, then frames of a 24-byte header and one page. SQLite3MultipleCiphers encrypts the page
// before SQLite checksums the frame, so the checksums are over the bytes on disk and need no key.
import { closeSync, existsSync, fstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { StoreError } from '../types.ts';

const WAL_HEADER_BYTES = 32;
const FRAME_HEADER_BYTES = 24;
const MAGIC_LITTLE_ENDIAN = 0x377f0682;
const MAGIC_BIG_ENDIAN = 0x377f0683;
const WAL_FORMAT_VERSION = 3007000;
/** One copy of the WAL-index header (the -shm file holds two, one after the other). */
const INDEX_HEADER_BYTES = 48;
/** Rescans before a damaged frame is reported: another process may be writing the WAL while this one reads
 * it, and a frame read half-written looks damaged. A real flip is still there the next time. */
const CONFIRMATIONS = 3;
const CONFIRM_PAUSE_MS = 50;

type Checksum = [number, number];

interface WalHeader {
  bigEndian: boolean;
  pageSize: number;
  salt: Buffer;
  checksum: Checksum;
}

/** What a scan found: nothing wrong, or a frame that committed data depends on. */
export type WalVerdict = { ok: true } | { ok: false; frame: number; keepBytes: number; evidence: string };

/** SQLite's WAL checksum: pairs of 32-bit words, in the byte order the magic number names. */
function checksum(data: Buffer, bigEndian: boolean, seed: Checksum): Checksum {
  let s0 = seed[0];
  let s1 = seed[1];
  for (let i = 0; i + 8 <= data.length; i += 8) {
    const a = bigEndian ? data.readUInt32BE(i) : data.readUInt32LE(i);
    const b = bigEndian ? data.readUInt32BE(i + 4) : data.readUInt32LE(i + 4);
    s0 = (s0 + a + s1) >>> 0;
    s1 = (s1 + b + s0) >>> 0;
  }
  return [s0, s1];
}

function readAt(fd: number, length: number, position: number): Buffer | null {
  const buffer = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const read = readSync(fd, buffer, done, length - done, position + done);
    if (read === 0) return null;
    done += read;
  }
  return buffer;
}

function parseWalHeader(header: Buffer): WalHeader | null {
  const magic = header.readUInt32BE(0);
  if (magic !== MAGIC_LITTLE_ENDIAN && magic !== MAGIC_BIG_ENDIAN) return null;
  const bigEndian = magic === MAGIC_BIG_ENDIAN;
  if (header.readUInt32BE(4) !== WAL_FORMAT_VERSION) return null;
  const pageSize = header.readUInt32BE(8) === 1 ? 65536 : header.readUInt32BE(8);
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) return null;
  const computed = checksum(header.subarray(0, 24), bigEndian, [0, 0]);
  if (computed[0] !== header.readUInt32BE(24) || computed[1] !== header.readUInt32BE(28)) return null;
  return { bigEndian, pageSize, salt: Buffer.from(header.subarray(16, 24)), checksum: computed };
}

/** The last committed frame the WAL index records for a WAL with `salt`, or 0 when the index is missing,
 * not initialised, inconsistent, or about another WAL. Native byte order (the index is a memory image). */
function committedFrameInIndex(dir: string, salt: Buffer): number {
  const path = join(dir, 'store.db-shm');
  if (!existsSync(path)) return 0;
  const fd = openSync(path, 'r');
  try {
    const copies = readAt(fd, INDEX_HEADER_BYTES * 2, 0);
    if (!copies) return 0;
    const first = copies.subarray(0, INDEX_HEADER_BYTES);
    // SQLite writes the two copies in turn; they differ only while a writer is changing them.
    if (!first.equals(copies.subarray(INDEX_HEADER_BYTES))) return 0;
    const little = first.readUInt32LE(0) === WAL_FORMAT_VERSION;
    const big = first.readUInt32BE(0) === WAL_FORMAT_VERSION;
    if ((!little && !big) || first[12] !== 1) return 0;
    const computed = checksum(first.subarray(0, 40), big && !little, [0, 0]);
    const read = (offset: number) => (little ? first.readUInt32LE(offset) : first.readUInt32BE(offset));
    if (computed[0] !== read(40) || computed[1] !== read(44)) return 0;
    if (!first.subarray(32, 40).equals(salt)) return 0;
    return read(16);
  } finally {
    closeSync(fd);
  }
}

/** One pass over the WAL file of `dir`. */
export function scanWal(dir: string): WalVerdict {
  const path = join(dir, 'store.db-wal');
  if (!existsSync(path)) return { ok: true };
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const headerBytes = size >= WAL_HEADER_BYTES ? readAt(fd, WAL_HEADER_BYTES, 0) : null;
    if (!headerBytes) return { ok: true };
    const header = parseWalHeader(headerBytes);
    if (!header) {
      // No valid header: SQLite ignores the whole file. An empty or reset WAL looks like this too; but if the
      // index records committed frames under this header's salt (or under the first frame's, should the
      // header's own salt bytes be what changed), the header was damaged over committed data.
      const firstFrameSalt = readAt(fd, 8, WAL_HEADER_BYTES + 8);
      const committed = Math.max(committedFrameInIndex(dir, headerBytes.subarray(16, 24)), firstFrameSalt ? committedFrameInIndex(dir, firstFrameSalt) : 0);
      if (committed > 0) return { ok: false, frame: 0, keepBytes: 0, evidence: `its header fails its checksum while the WAL index (store.db-shm) records ${committed} committed frames` };
      return { ok: true };
    }
    const frameBytes = FRAME_HEADER_BYTES + header.pageSize;
    const frames = Math.floor((size - WAL_HEADER_BYTES) / frameBytes);
    // Read first: it also says where the log must not end (a frame it records cannot be "another generation").
    const committed = committedFrameInIndex(dir, header.salt);
    let seed = header.checksum;
    /** After a damaged frame, the checksum computed for it: if the damage was in its stored checksum, the
     * next frame chains from this one instead. */
    let altSeed: Checksum | null = null;
    let damaged = 0;
    /** Commit frames after the damaged one's transaction ended, whose checksums chain. */
    let laterCommits = 0;
    let damagedTransactionEnded = false;
    for (let frame = 1; frame <= frames; frame++) {
      const position = WAL_HEADER_BYTES + (frame - 1) * frameBytes;
      const bytes = readAt(fd, frameBytes, position);
      if (!bytes) break;
      // Another salt: a frame of an earlier generation of the WAL, overwritten no further, and the log ends
      // here; unless the index records this frame as committed (the salt is not under the checksum, so a
      // flipped salt bit shows only this way).
      if (!bytes.subarray(8, 16).equals(header.salt)) {
        if (frame <= committed && damaged === 0) damaged = frame;
        break;
      }
      const stored: Checksum = [bytes.readUInt32BE(16), bytes.readUInt32BE(20)];
      const frameChecksum = (from: Checksum): Checksum => checksum(bytes.subarray(FRAME_HEADER_BYTES), header.bigEndian, checksum(bytes.subarray(0, 8), header.bigEndian, from));
      const matches = (computed: Checksum) => computed[0] === stored[0] && computed[1] === stored[1];
      const computed = frameChecksum(seed);
      const intact = matches(computed) || (altSeed !== null && matches(frameChecksum(altSeed)));
      const isCommit = bytes.readUInt32BE(4) !== 0;
      altSeed = null;
      if (!intact && damaged === 0) {
        damaged = frame;
        damagedTransactionEnded = isCommit;
        altSeed = computed;
      } else if (damaged > 0 && intact && isCommit) {
        if (damagedTransactionEnded) laterCommits++;
        else damagedTransactionEnded = true;
      } else if (!intact && damaged > 0) {
        // A second break after the first: past it nothing is evidence.
        break;
      }
      // Onward from what the frame says its checksum is, so frames after a damaged one can still be checked.
      seed = stored;
    }
    if (damaged === 0) return { ok: true };
    const keepBytes = WAL_HEADER_BYTES + (damaged - 1) * frameBytes;
    if (committed >= damaged) {
      return { ok: false, frame: damaged, keepBytes, evidence: `the WAL index (store.db-shm) records ${committed} committed frames` };
    }
    if (laterCommits > 0) {
      return { ok: false, frame: damaged, keepBytes, evidence: `${laterCommits} transaction(s) committed after it` };
    }
    return { ok: true };
  } finally {
    closeSync(fd);
  }
}

/**
 * Before the store is opened: throws StoreError('corrupt') when the WAL has a damaged frame that committed
 * transactions depend on (see the top of this file), instead of letting recovery drop them unnoticed.
 */
export async function checkWal(dir: string): Promise<void> {
  let verdict = scanWal(dir);
  for (let attempt = 1; !verdict.ok && attempt < CONFIRMATIONS; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, CONFIRM_PAUSE_MS));
    const again = scanWal(dir);
    verdict = again.ok || again.frame !== verdict.frame ? { ok: true } : again;
  }
  if (verdict.ok) return;
  const wal = join(dir, 'store.db-wal');
  throw new StoreError(
    'corrupt',
    `${wal}: ${verdict.frame === 0 ? 'the log' : `frame ${verdict.frame}`} is damaged, and ${verdict.evidence}; opening the store would ` +
      `silently drop every change from that frame on, acknowledged mail included. Restore the data directory from a ` +
      `backup. To accept the loss instead, keep a copy of the directory, then cut the log before the damaged frame ` +
      `and remove its index: truncate -s ${verdict.keepBytes} ${wal} && rm ${join(dir, 'store.db-shm')}`,
  );
}
