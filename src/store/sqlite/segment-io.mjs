// The thread that writes body segment records and fdatasyncs them (segments.ts, SegmentWriter). It exists so
// that this I/O never waits for the writer thread: with the writes and fsyncs driven from the writer's own
// event loop, each step's completion waited until the writer finished whatever batch SQL or MIME parsing it
// was doing (measured: pwritev itself ~0.4 ms for 1.4 MB, the same write seen from the writer's loop 6 ms).
// Here the calls are blocking and back to back: write everything that came, fdatasync each file touched,
// report durable, repeat.
//
// Plain JavaScript on purpose, like checkpointer.mjs: no TypeScript loader, so it starts in milliseconds.
// The file descriptors are the writer's (one process, one descriptor table); the writer opens and closes
// them, and closes one only after every record written to it was reported durable.
//
// In:  { type: 'write', fd, position, parts: Uint8Array[], lastSeq } | { type: 'close' }
// Out: { type: 'durable', seq } | { type: 'failed', seq, message } | { type: 'closed' }
import { fdatasyncSync, writevSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';

const port = parentPort;
const queue = [];
let scheduled = false;
let closing = false;

port.on('message', (message) => {
  if (message.type === 'write') queue.push(message);
  else if (message.type === 'close') closing = true;
  schedule();
});

function schedule() {
  if (scheduled) return;
  scheduled = true;
  // After the port's waiting messages were delivered: a cycle takes everything that came meanwhile.
  setImmediate(cycle);
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

function cycle() {
  scheduled = false;
  if (queue.length > 0) {
    const group = queue.splice(0);
    const seq = group[group.length - 1].lastSeq;
    try {
      for (const write of group) writeAll(write.fd, write.parts, write.position);
      for (const fd of new Set(group.map((write) => write.fd))) fdatasyncSync(fd);
      port.postMessage({ type: 'durable', seq });
    } catch (error) {
      port.postMessage({ type: 'failed', seq, message: error instanceof Error ? error.message : String(error) });
    }
  }
  if (queue.length > 0) schedule();
  else if (closing) {
    port.postMessage({ type: 'closed' });
    port.close();
  }
}
