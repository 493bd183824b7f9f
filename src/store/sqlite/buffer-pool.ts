// Shared memory that carries message bytes from the main thread to the writer thread and on to the segment
// I/O thread (and, in a pool of the writer's own, packed bodies from the writer to the segment I/O thread),
// used again once the request's outcome is back. Shared, not moved: the writer parses a body while the I/O
// thread seals it, and neither copies it. A fresh 100 KB allocation per message costs far more than the copy
// into it: the allocator returns freed memory to the kernel and every new buffer page-faults (measured with
// --cpu-prof at 32 writers: ~100 µs per 100 KB message on a quiet machine, several times that under load,
// against ~10 µs for a reused buffer).
//
// A buffer goes back to the pool only when its request's outcome has arrived: by then the writer has
// finished with it, and so has the I/O thread for every request that succeeded (the writer commits only
// once the request's records are durable). A request that failed before its record was written may leave
// the I/O thread sealing a buffer already reused; that record is referenced by no row, as any failed
// request's record.

/** Smallest and largest pooled sizes; a message above the largest gets a buffer of its own. */
const MIN_CLASS_BYTES = 4 * 1024;
const MAX_CLASS_BYTES = 4 * 1024 * 1024;
/** What the pool keeps at most, in all: bounds the memory held for deliveries that are not happening. */
const MAX_POOLED_BYTES = 32 * 1024 * 1024;

function classOf(size: number): number {
  let bytes = MIN_CLASS_BYTES;
  while (bytes < size) bytes *= 2;
  return bytes;
}

export class SharedBufferPool {
  private readonly free = new Map<number, SharedArrayBuffer[]>();
  private pooledBytes = 0;

  /** A copy of `bytes` in shared memory (a view of a SharedArrayBuffer that only this copy uses). */
  copy(bytes: Uint8Array): Buffer {
    const copy = this.allocate(bytes.byteLength);
    copy.set(bytes);
    return copy;
  }

  /** `size` bytes of shared memory, their content undefined (a view of a SharedArrayBuffer only it uses). */
  allocate(size: number): Buffer {
    let buffer: SharedArrayBuffer | undefined;
    if (size <= MAX_CLASS_BYTES) {
      const bucket = this.free.get(classOf(size));
      buffer = bucket?.pop();
      if (buffer) this.pooledBytes -= buffer.byteLength;
      else buffer = new SharedArrayBuffer(classOf(size));
    } else {
      buffer = new SharedArrayBuffer(size);
    }
    return Buffer.from(buffer, 0, size);
  }

  /** Takes back a buffer that copy() made, once no thread reads it any more. */
  release(buffer: SharedArrayBuffer): void {
    const size = buffer.byteLength;
    if (size < MIN_CLASS_BYTES || size > MAX_CLASS_BYTES || size !== classOf(size)) return;
    if (this.pooledBytes + size > MAX_POOLED_BYTES) return;
    let bucket = this.free.get(size);
    if (!bucket) {
      bucket = [];
      this.free.set(size, bucket);
    }
    bucket.push(buffer);
    this.pooledBytes += size;
  }
}
