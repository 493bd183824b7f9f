// Buffers that carry message bytes to the writer thread and come back with the batch's results, to be used
// again. A fresh 100 KB allocation per message costs far more than the copy into it: the allocator returns
// freed memory to the kernel and every new buffer page-faults (measured with --cpu-prof at 32 writers: ~100 µs
// per 100 KB message on a quiet machine, several times that under load, against ~10 µs for a reused buffer).

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

export class TransferBufferPool {
  private readonly free = new Map<number, ArrayBuffer[]>();
  private pooledBytes = 0;

  /** A copy of `bytes` in a buffer that can be moved to another thread (its own ArrayBuffer). */
  copy(bytes: Uint8Array): Buffer {
    const size = bytes.byteLength;
    let buffer: ArrayBuffer | undefined;
    if (size <= MAX_CLASS_BYTES) {
      const bucket = this.free.get(classOf(size));
      buffer = bucket?.pop();
      if (buffer) this.pooledBytes -= buffer.byteLength;
      else buffer = new ArrayBuffer(classOf(size));
    } else {
      buffer = new ArrayBuffer(size);
    }
    const copy = Buffer.from(buffer, 0, size);
    copy.set(bytes);
    return copy;
  }

  /** Takes back a buffer that copy() made (and that came back from the other thread). */
  release(buffer: ArrayBuffer): void {
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
