// Opening the encrypted SQLite database, and turning SQLite's errors into StoreErrors.
//
// Cipher: SQLite3MultipleCiphers' "aegis" with AEGIS-256, an AES-based AEAD: every page (in the database
// file and in the WAL) is encrypted with its own nonce and carries an authentication tag checked on every
// read, so a flipped bit reads as SQLITE_CORRUPT instead of as altered data. Measured against the other
// authenticated choice, "chacha20" (ChaCha20-Poly1305, sqleet): AEGIS-256 writes a 100 KB message about 5x
// faster and checkpoints it about 5x faster here (AES instructions), which is what group commit needs.
// The key is given raw (`x'<64 hex>'`): the vault already derived it, so no key derivation runs at open.
//
// The first 24 bytes of the file stay plaintext (SQLite reads the page size before decrypting) and with a
// raw key the cipher does not authenticate them; they are recorded with a MAC beside the database
// (HEADER_FILE) so that a change there is detected too.
import Database from 'better-sqlite3-multiple-ciphers';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, readSync, statSync, writeFileSync, openSync, fsyncSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { StoreError } from '../types.ts';

export type SqliteDatabase = Database.Database;
export type SqliteStatement = Database.Statement<unknown[], unknown>;

export const DATABASE_FILE = 'store.db';
/** A MAC of a fixed string under the key: tells a wrong key (locked) from a damaged first page (corrupt). */
export const KEY_CHECK_FILE = 'store.keycheck';
const KEY_CHECK_LABEL = 'mailstack store key check v1';
/** The authenticated record of the database file's plaintext header bytes. */
export const HEADER_FILE = 'store.header';
const HEADER_LABEL = 'mailstack store header v1';
/** Bytes of page 1 that SQLite keeps unencrypted: 16 salt/magic bytes and the page-size/format fields. */
const PLAINTEXT_HEADER_BYTES = 24;
export const CIPHER = 'aegis';
export const CIPHER_ALGORITHM = 'aegis-256';
export const KEY_BYTES = 32;
/** How long a statement waits on a lock held by the other connection before failing as 'unavailable'. */
const BUSY_TIMEOUT_MS = 10_000;
/** 16 KiB pages: a 100 KB message is 7 overflow pages instead of 25 (less per-page cipher and pager work,
 * cheaper checkpoints); measured with bench:store. */
export const PAGE_SIZE = 16384;

function keyCheck(key: Buffer): Buffer {
  return createHmac('sha256', key).update(KEY_CHECK_LABEL).digest();
}

/** The key check file's whole content: 64 hex digits and a newline. */
const KEY_CHECK_FORMAT = /^[0-9a-f]{64}\n$/;

/**
 * Tells a wrong key (StoreError 'locked') from a damaged store. Writes the key check file on first use; a
 * database without one (it was deleted, or the store predates it) gets it back from openSqliteStore once the
 * database has opened with this key (writeKeyCheck).
 */
export function checkKey(dir: string, key: Buffer): void {
  if (key.length !== KEY_BYTES) throw new StoreError('invalid', `store key must be ${KEY_BYTES} bytes, got ${key.length}`);
  const path = join(dir, KEY_CHECK_FILE);
  if (existsSync(path)) {
    const content = readFileSync(path, 'latin1');
    // Exactly the form written: a flipped bit anywhere, the newline included, is damage, not another key.
    if (!KEY_CHECK_FORMAT.test(content)) {
      throw new StoreError('corrupt', `${path} is damaged (it is not 64 hex digits and a newline). ${KEY_CHECK_REPAIR}`);
    }
    const stored = Buffer.from(content.slice(0, 64), 'hex');
    if (timingSafeEqual(stored, keyCheck(key))) return;
    // A different MAC: a wrong key, or a check file damaged into other hex digits. The database decides.
    if (hasDatabase(dir) && opensWithKey(dir, key)) {
      throw new StoreError('corrupt', `${path} is damaged: the database opens with this key, but the check file does not match it. ${KEY_CHECK_REPAIR}`);
    }
    throw new StoreError('locked', `the store in ${dir} does not open with this key: wrong passphrase, or a vault that belongs to another data directory`);
  }
  if (existsSync(join(dir, DATABASE_FILE))) return;
  writeKeyCheck(dir, key);
}

const KEY_CHECK_REPAIR = `It only tells a wrong passphrase from damage; delete it, and the next open with the right passphrase writes it again.`;

/** Writes the key check file (mode 0600, fsync'd). */
export function writeKeyCheck(dir: string, key: Buffer): void {
  const fd = openSync(join(dir, KEY_CHECK_FILE), 'w', 0o600);
  try {
    writeFileSync(fd, keyCheck(key).toString('hex') + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** A database file with pages in it (an empty one opens with any key). */
function hasDatabase(dir: string): boolean {
  try {
    return statSync(join(dir, DATABASE_FILE)).size > 0;
  } catch {
    return false;
  }
}

/** Whether the database's schema reads with this key (read-only; the caller checked the WAL already). */
function opensWithKey(dir: string, key: Buffer): boolean {
  try {
    openDatabase(dir, key, { readonly: true }).close();
    return true;
  } catch {
    return false;
  }
}

function readPlaintextHeader(dir: string): Buffer | null {
  const path = join(dir, DATABASE_FILE);
  if (!existsSync(path)) return null;
  const fd = openSync(path, 'r');
  try {
    const header = Buffer.alloc(PLAINTEXT_HEADER_BYTES);
    const read = readSync(fd, header, 0, PLAINTEXT_HEADER_BYTES, 0);
    return read === PLAINTEXT_HEADER_BYTES ? header : null;
  } finally {
    closeSync(fd);
  }
}

function headerMac(key: Buffer, header: Buffer): Buffer {
  return createHmac('sha256', key).update(HEADER_LABEL).update(header).digest();
}

/** Records the database's plaintext header bytes with a MAC, once the database exists in WAL mode. */
export function recordHeader(dir: string, key: Buffer): void {
  const path = join(dir, HEADER_FILE);
  if (existsSync(path)) return;
  const header = readPlaintextHeader(dir);
  if (!header) return;
  const fd = openSync(path, 'w', 0o600);
  try {
    writeFileSync(fd, `${header.toString('hex')} ${headerMac(key, header).toString('hex')}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Throws StoreError('corrupt') when the plaintext header bytes differ from their recorded value. */
export function checkHeader(dir: string, key: Buffer): void {
  const path = join(dir, HEADER_FILE);
  if (!existsSync(path)) return;
  const [headerHex = '', macHex = ''] = readFileSync(path, 'utf8').trim().split(' ');
  const recorded = Buffer.from(headerHex, 'hex');
  const mac = Buffer.from(macHex, 'hex');
  const expectedMac = headerMac(key, recorded);
  if (mac.length !== expectedMac.length || !timingSafeEqual(mac, expectedMac)) {
    throw new StoreError('corrupt', `${path} fails authentication: it was altered`);
  }
  const actual = readPlaintextHeader(dir);
  if (!actual || !actual.equals(recorded)) {
    throw new StoreError('corrupt', `the header of ${join(dir, DATABASE_FILE)} was altered (it differs from ${HEADER_FILE})`);
  }
}

/** Opens and keys one connection. Throws StoreError('locked'|'corrupt'|'unavailable'). */
export function openDatabase(dir: string, key: Buffer, options: { readonly?: boolean } = {}): SqliteDatabase {
  const path = join(dir, DATABASE_FILE);
  let db: SqliteDatabase;
  try {
    db = new Database(path, { fileMustExist: options.readonly === true });
  } catch (error) {
    throw toStoreError(error, `opening ${path}`);
  }
  try {
    db.pragma(`cipher = '${CIPHER}'`);
    db.pragma(`algorithm = '${CIPHER_ALGORITHM}'`);
    // Raw key syntax: no key derivation at open (the vault derived this key with scrypt already).
    db.pragma(`key = "x'${key.toString('hex')}'"`);
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    // Reading the schema forces the first page through the cipher: a wrong key fails here.
    db.prepare('SELECT count(*) FROM sqlite_master').get();
    db.pragma('temp_store = MEMORY'); // no plaintext temporary files
    // Takes effect only when the database is created (before WAL mode is set); a no-op afterwards.
    db.pragma(`page_size = ${PAGE_SIZE}`);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL'); // fsync the WAL at every commit: a resolved promise is on disk
    db.pragma('foreign_keys = ON');
    // A mailbox's metadata rows are small, bodies large: 64 KiB of cache pages per MiB is plenty.
    db.pragma('cache_size = -16384');
  } catch (error) {
    try {
      db.close();
    } catch {
      /* already failing */
    }
    const code = (error as { code?: string }).code;
    if (code === 'SQLITE_NOTADB') {
      throw new StoreError('corrupt', `${path} does not decrypt: its first page is damaged or it was written with another key`);
    }
    throw toStoreError(error, `opening ${path}`);
  }
  return db;
}

/** Maps a thrown error from SQLite to a StoreError; StoreErrors pass through unchanged. */
/** The errno codes of a full file system (ENOSPC) or a used-up file system quota (EDQUOT): 'no_space'. */
export function isNoSpaceCode(code: unknown): boolean {
  return code === 'ENOSPC' || code === 'EDQUOT';
}

export function toStoreError(error: unknown, doing: string): StoreError {
  if (error instanceof StoreError) return error;
  const code = String((error as { code?: unknown }).code ?? '');
  const message = error instanceof Error ? error.message : String(error);
  if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB') {
    return new StoreError('corrupt', `stored data failed authentication or is damaged while ${doing}: ${message}`);
  }
  if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') return new StoreError('exists', `${doing}: ${message}`);
  if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY') return new StoreError('not_found', `${doing}: it refers to something that does not exist (${message})`);
  if (code.startsWith('SQLITE_CONSTRAINT')) return new StoreError('invalid', `${doing}: ${message}`);
  if (code.startsWith('SQLITE_FULL') || isNoSpaceCode(code)) {
    return new StoreError('no_space', `the file system holding the store is full while ${doing} (${code}): ${message}`);
  }
  // Growing the WAL index (the -shm file) failed: SQLite's documentation names a full volume as the usual cause.
  if (code === 'SQLITE_IOERR_SHMSIZE') {
    return new StoreError('no_space', `the file system holding the store is probably full: the WAL index could not grow while ${doing} (${code})`);
  }
  if (code.startsWith('SQLITE_IOERR') || code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED') || code.startsWith('SQLITE_CANTOPEN') || code.startsWith('SQLITE_READONLY') || code.startsWith('SQLITE_NOMEM')) {
    return new StoreError('unavailable', `storage unavailable while ${doing} (${code}): ${message}`);
  }
  return new StoreError('unavailable', `unexpected storage error while ${doing} (${code || 'no code'}): ${message}`);
}

/** Prepared statements by SQL text: each is compiled once per connection and reused. */
export function statementCache(db: SqliteDatabase): (text: string) => SqliteStatement {
  const statements = new Map<string, SqliteStatement>();
  return (text) => {
    let statement = statements.get(text);
    if (!statement) {
      statement = db.prepare<unknown[], unknown>(text);
      statements.set(text, statement);
    }
    return statement;
  };
}
