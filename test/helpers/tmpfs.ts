// A small tmpfs of its own for tests that fill a disk: the store's behaviour when writes fail with ENOSPC.
// Mounting needs root (CAP_SYS_ADMIN); where it is refused the caller skips, saying why.
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { openSync, writeSync, closeSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface SmallDisk {
  dir: string;
  unmount(): Promise<void>;
}

/** Mounts a tmpfs of `bytes` on a fresh directory; null (and why) when this process may not mount. */
export async function mountSmallDisk(bytes: number): Promise<SmallDisk | { refused: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'mailstack-small-disk-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes},mode=0700`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    return { refused: `mounting a tmpfs needs root: ${String((error as { stderr?: Buffer }).stderr ?? error).trim()}` };
  }
  return {
    dir,
    async unmount() {
      execFileSync('umount', [dir]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Writes a file of zeros until the file system is full; returns its path (delete it to free the space). */
export function fillDisk(dir: string): string {
  const path = join(dir, 'filler');
  const fd = openSync(path, 'wx');
  const chunk = Buffer.alloc(64 * 1024);
  try {
    for (;;) {
      try {
        writeSync(fd, chunk);
      } catch (error) {
        if ((error as { code?: string }).code === 'ENOSPC') break;
        throw error;
      }
    }
    // The last partial chunk: tmpfs takes whole pages, so a smaller write may still fit.
    for (let size = 32 * 1024; size >= 1; size = Math.floor(size / 2)) {
      try {
        writeSync(fd, chunk, 0, size);
      } catch {
        /* full at this size; try smaller */
      }
    }
  } finally {
    closeSync(fd);
  }
  return path;
}

export function freeDisk(filler: string): void {
  unlinkSync(filler);
}
