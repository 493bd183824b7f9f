// Who may work on a data directory: one `serve` alone, or any number of admin commands opening the store
// directly (deliver, import, domain add... when no server answers on the admin socket), never both.
// Two servers on one data directory would both run the queue and compaction on the same store.
//
// Node has no flock(). The lock is SQLite's, on a small plain database file (LOCK_FILE) that holds no
// data: SQLite locks it with POSIX fcntl() byte-range locks, which the kernel drops when the process that
// held them ends, however it ends (kill -9, a crash, a power cut). So there is no stale lock to detect, no
// PID that could be reused by another program, and no lock a dead process leaves behind. A lock file made
// with O_EXCL and a PID needs all three handled; an abstract-namespace socket is Linux-only, is per network
// namespace, and its name can be taken first by any local user.
//   serve        holds an EXCLUSIVE lock (BEGIN EXCLUSIVE, never committed) for its lifetime;
//   direct mode  holds a SHARED lock (an open read transaction) while the command runs.
// The file lives in the data directory (mode 0700), so only its owner can open it to interfere.
import Database from 'better-sqlite3-multiple-ciphers';
import { accessSync, constants, existsSync } from 'node:fs';
import { join } from 'node:path';

export const LOCK_FILE = 'mailstack.lock';

export type DataDirLockMode = 'exclusive' | 'shared';

/** The data directory is held by another process in a mode that excludes the one asked for. */
export class DataDirLockedError extends Error {
  readonly code = 'data_dir_locked';
  constructor(
    readonly dataDir: string,
    readonly mode: DataDirLockMode,
  ) {
    super(`the data directory ${dataDir} is in use by another mailstack process`);
    this.name = 'DataDirLockedError';
  }
}

/** The lock file exists but this user cannot write it, so no lock could be taken. */
export class DataDirLockUnusableError extends Error {
  readonly code = 'data_dir_lock_unusable';
  constructor(readonly path: string) {
    super(`${path} is not writable by this user, so the data directory cannot be locked: give it to the user mailstack runs as (chown), or remove it while no mailstack process runs`);
    this.name = 'DataDirLockUnusableError';
  }
}

export interface DataDirLock {
  release(): void;
}

/** Takes the data directory's lock without waiting; throws DataDirLockedError when another process holds it. */
export function lockDataDir(dataDir: string, mode: DataDirLockMode): DataDirLock {
  // timeout 0: fail at once instead of waiting in SQLite's busy handler.
  const path = join(dataDir, LOCK_FILE);
  // A lock file this user cannot write (created by root in a direct-mode command, `serve` running as the
  // mailstack user) is opened read-only by SQLite without a word, and then BEGIN EXCLUSIVE holds only a read
  // lock: direct commands would open the store beside the server. Refused instead.
  if (existsSync(path)) {
    try {
      accessSync(path, constants.W_OK);
    } catch {
      throw new DataDirLockUnusableError(path);
    }
  }
  const db = new Database(path, { timeout: 0 });
  try {
    if (mode === 'exclusive') {
      db.exec('BEGIN EXCLUSIVE');
    } else {
      db.exec('BEGIN');
      db.prepare('SELECT count(*) FROM sqlite_master').get(); // a read takes the SHARED lock
    }
  } catch (err) {
    db.close();
    if ((err as { code?: string }).code === 'SQLITE_BUSY') throw new DataDirLockedError(dataDir, mode);
    throw err;
  }
  return {
    release() {
      if (db.open) db.close(); // rolls the transaction back: the lock goes with it
    },
  };
}

/** How long serve keeps trying for its exclusive lock: a `mailstack status` probing the lock (below) holds a
 * shared one for a moment, and must not make a server that starts at that instant fail. A direct-mode
 * command holding its lock for longer still keeps serve out, with the usual error. */
const EXCLUSIVE_LOCK_PATIENCE_MS = 3000;
const EXCLUSIVE_LOCK_RETRY_MS = 50;

/** lockDataDir(dataDir, 'exclusive'), retried for a short while when another process holds the lock. */
export async function lockDataDirForServer(dataDir: string): Promise<DataDirLock> {
  const deadline = Date.now() + EXCLUSIVE_LOCK_PATIENCE_MS;
  for (;;) {
    try {
      return lockDataDir(dataDir, 'exclusive');
    } catch (err) {
      if (!(err instanceof DataDirLockedError) || Date.now() >= deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, EXCLUSIVE_LOCK_RETRY_MS));
    }
  }
}

/**
 * Whether a server holds the data directory (its exclusive lock), found by taking a shared lock for an
 * instant. For `status` and `unlock` when nothing answers on the admin socket: a server whose socket file
 * was deleted still runs, and "not running" would send its owner to start a second one. False when the
 * lock file does not exist (no server ever ran here; the probe must not create it) or cannot be probed.
 */
export function dataDirHeldByServer(dataDir: string): boolean {
  if (!existsSync(join(dataDir, LOCK_FILE))) return false;
  try {
    lockDataDir(dataDir, 'shared').release();
    return false;
  } catch (err) {
    return err instanceof DataDirLockedError;
  }
}
