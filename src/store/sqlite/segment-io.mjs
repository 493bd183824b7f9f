// The thread that seals body segment records, writes them and fdatasyncs them (segments.ts, SegmentWriter).
// It exists so that this work never waits for the writer thread, and the writer thread never does it: the
// writer parses a body (its MIME summary and search text) while this thread seals and writes the one before.
// A record is sealed and written as soon as it arrives; an fdatasync (on libuv's pool, so that sealing goes
// on meanwhile) covers everything written before it started, and when it returns the next one starts if
// more was written meanwhile: group commit of the segment writes, one fdatasync in flight at a time.
//
// Before (the writer sealing and this thread looping write-then-fdatasync), one round of 32 deliveries of
// 100 KB spent ~8.5 ms preparing bodies one after the other on the writer thread and ~6.7 ms more waiting
// for the last records, measured with timestamps in the writer (bench:store, 32 writers).
//
// Plain JavaScript on purpose, like checkpointer.mjs: no TypeScript loader, so it starts in milliseconds. The
// record format (nonce || AES-256-GCM ciphertext || tag, associated data from recordAssociatedData) lives in
// segment-record.mjs, shared with the reader. The file descriptors are the writer's (one process, one
// descriptor table); the writer opens and closes them, and closes one only after every record written to it
// was reported durable. The body bytes (or their packed form, body-packing.ts) arrive in shared memory
// (buffer-pool.ts) and are only read here.
//
// In:  { type: 'record', fd, position, seq, nonce, bytes, size, packedLength } | { type: 'close' }
//      (bytes: the record's plaintext, the body or its packed form when packedLength is a number)
// Out: { type: 'durable', seq } | { type: 'failed', seq, message, code } | { type: 'closed' }
import { createCipheriv } from 'node:crypto';
import { fdatasync, writevSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { recordAssociatedData } from './segment-record.mjs';

const port = parentPort;
const key = Buffer.from(workerData.key);
/** The last record sealed and written (not yet durable, unless a sync covering it returned). */
let writtenSeq = 0;
/** Files written to since the last fdatasync started. */
const dirtyFds = new Set();
let syncing = false;
let closing = false;

port.on('message', (message) => {
  if (message.type === 'record') writeRecord(message);
  else if (message.type === 'close') closing = true;
  syncIfNeeded();
});

function seal(nonce, bytes, size, packedLength) {
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(recordAssociatedData(size, packedLength));
  const sealed = cipher.update(bytes);
  cipher.final();
  return [nonce, sealed, cipher.getAuthTag()];
}

/** A failed write is reported at once: the writer then counts every record it appended and was not told is
 * durable as lost (even if a later sync of the same file succeeds), and appends to a new file. */
function writeRecord({ fd, position, seq, nonce, bytes, size, packedLength }) {
  try {
    writeAll(fd, seal(nonce, bytes, size, packedLength), position);
    dirtyFds.add(fd);
    writtenSeq = seq;
  } catch (error) {
    port.postMessage({ type: 'failed', seq, message: error instanceof Error ? error.message : String(error), code: error?.code });
  }
}

function writeAll(fd, parts, position) {
  let rest = parts;
  let left = parts.reduce((sum, part) => sum + part.byteLength, 0);
  while (left > 0) {
    const written = writevSync(fd, rest, position);
    if (written <= 0) throw new Error('short write');
    left -= written;
    position += written;
    if (left > 0) {
      // Drop what was written: whole parts, then the front of the part cut through.
      let skip = written;
      const next = [];
      for (const part of rest) {
        if (skip >= part.byteLength) {
          skip -= part.byteLength;
          continue;
        }
        next.push(skip > 0 ? part.subarray(skip) : part);
        skip = 0;
      }
      rest = next;
    }
  }
}

/** Starts an fdatasync of everything written so far, unless one is running (then it starts when that returns). */
function syncIfNeeded() {
  if (syncing) return;
  if (dirtyFds.size === 0) {
    if (closing) {
      port.postMessage({ type: 'closed' });
      port.close();
    }
    return;
  }
  syncing = true;
  const seq = writtenSeq;
  const fds = [...dirtyFds];
  dirtyFds.clear();
  let left = fds.length;
  let error = null;
  for (const fd of fds) {
    fdatasync(fd, (e) => {
      error ??= e;
      if (--left > 0) return;
      syncing = false;
      // A failed fdatasync may have dropped the dirty pages, and the kernel does not report it twice: the
      // writer counts every record not reported durable before this one as lost.
      if (error) port.postMessage({ type: 'failed', seq, message: error.message, code: error.code });
      else port.postMessage({ type: 'durable', seq });
      syncIfNeeded();
    });
  }
}
