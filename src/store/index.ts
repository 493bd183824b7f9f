// store: everything mailstack keeps (accounts, mailboxes and messages, the outbound queue, bans, small
// secrets), behind the Store interface of types.ts, with one embedded implementation: an SQLite database
// encrypted page by page with AEGIS-256 (SQLite3MultipleCiphers), written by one worker thread
// with group commit (sqlite/).
//
// Owns: the schema and its migrations, durability (a promise resolves only after its data is fsync'd),
// IMAP's bookkeeping (UIDVALIDITY, UIDNEXT, MODSEQ, tombstones), the change feed, integrity checks.
// Must never: import a protocol or service module (smtp, imap, queue...), see the passphrase (the vault
// hands it a derived key), log message content or secrets, or return data that failed authentication.
//
// Files in the data directory: store.db (the database, every page AEGIS-256 encrypted and authenticated),
// store.db-wal and store.db-shm (SQLite's write-ahead log, encrypted the same way, and its index, which
// holds no data), store.keycheck (a MAC telling a wrong key from a damaged file), store.header (a MAC of the
// database's 24 plaintext header bytes), bodies/seg-NNNNNN.dat (message bodies of 8 KiB and more, each an
// AES-256-GCM record, appended and fdatasync'd before the commit that references them: sqlite/segments.ts;
// compaction, hourly and on `compact()`, rewrites the files that are mostly expunged mail and merges small
// ones: sqlite/compaction.ts).
// A consistent copy (backup) is the closed store's files, bodies/ included; the WAL must go with the
// database file. (The SQLite backup API alone no longer copies every body.)
//
// Threads: the writer (sqlite/writer-worker.ts, every mutation, group commit), the segment writer
// (sqlite/segment-io.mjs: seals, writes and fdatasyncs body records as they are appended), the checkpointer
// (sqlite/checkpointer.mjs: WAL checkpoints and verify()), and reads on the caller's thread (sqlite/reader.ts).
//
// Implementation notes:
// - All writes go through the writer worker; never write with the main-thread connection (it is opened
//   read-only in spirit: only SELECTs go through Reader).
// - Change-feed listeners run on the main thread before the write's promise resolves; they must not
//   throw and must not block.
import type { Logger } from '../log/index.ts';
import type { Store } from './types.ts';
import { openSqliteStore } from './sqlite/store.ts';

export * from './types.ts';

export interface OpenStoreOptions {
  /** The data directory; created (mode 0700) when missing. */
  dir: string;
  /** 32 random-looking bytes from the vault. */
  key: Buffer;
  log?: Logger;
  /** Body-file compaction by itself every so many ms (default: hourly); 0 turns it off. */
  compactEveryMs?: number;
  /** No other process uses this data directory while the store is open (`serve` holds its exclusive lock,
   * store/data-dir-lock.ts). Then every body file no committed row references is removed at open; without
   * it only those old enough that no live writer can still be filling them (sqlite/segments.ts). */
  exclusive?: boolean;
}

/**
 * Opens (and on first use creates) the store in `dir`. Throws StoreError 'locked' for a key that does not
 * match this store, 'corrupt' when the database does not decrypt, 'unavailable' for I/O problems.
 */
export function openStore(options: OpenStoreOptions): Promise<Store> {
  return openSqliteStore({
    dir: options.dir,
    key: options.key,
    ...(options.log ? { log: options.log } : {}),
    ...(options.compactEveryMs !== undefined ? { compactEveryMs: options.compactEveryMs } : {}),
    ...(options.exclusive ? { exclusive: true } : {}),
  });
}

export { lockDataDir, lockDataDirForServer, dataDirHeldByServer, DataDirLockedError, DataDirLockUnusableError, LOCK_FILE, type DataDirLock, type DataDirLockMode } from './data-dir-lock.ts';
