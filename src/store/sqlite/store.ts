// The embedded Store: one encrypted SQLite database in the data directory, written by one worker thread
// (writer.ts, writer-worker.ts), read on the main thread (reader.ts).
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { statfs } from 'node:fs/promises';
import type { Logger } from '../../log/index.ts';
import type {
  AccountStore,
  BanStore,
  ChangeFeed,
  CompactionReport,
  MailboxChange,
  MailStore,
  QueueStore,
  SecretStore,
  Store,
} from '../types.ts';
import { StoreError } from '../types.ts';
import { checkHeader, checkKey, DATABASE_FILE, KEY_CHECK_FILE, openDatabase, toStoreError, writeKeyCheck, type SqliteDatabase } from './connection.ts';
import { Reader } from './reader.ts';
import { checkWal } from './wal-check.ts';
import { Writer } from './writer.ts';
import { asBuffer } from './rows.ts';
import { deriveBodyKey, SegmentReader } from './segments.ts';
import { COMPACTION_FILES_PER_REQUEST, planCompaction, type CompactionStep } from './compaction.ts';

/** Segment records verify() authenticates between two turns of the event loop. */
const VERIFY_RECORDS_PER_TURN = 64;
/** Problems verify() lists one by one; beyond, a count (a wholly damaged segment is one story, not 10^5). */
const MAX_LISTED_PROBLEMS = 100;
/** How often an open store compacts its body files by itself (compaction.ts), and the share of dead bytes
 * that makes a file worth rewriting: half, so that every byte rewritten frees at least one. */
const COMPACT_EVERY_MS = 60 * 60 * 1000;
const COMPACT_MIN_DEAD_RATIO = 0.5;
/** Compaction requests for one file at most (each moves up to 256 bodies or 32 MiB): a 64 MiB file of small
 * bodies takes a few dozen. */
const MAX_STEPS_PER_FILE = 10_000;

function countStep(report: CompactionReport, step: CompactionStep, how: 'rewritten' | 'merged'): void {
  report.bodiesMoved += step.moved;
  report.bytesMoved += step.movedBytes;
  if (!step.removed) return;
  report.files++;
  report.bytesFreed += step.fileBytes;
  if (how === 'merged') report.filesMerged++;
}

export interface SqliteStoreOptions {
  dir: string;
  /** 32 bytes, derived by the vault. */
  key: Buffer;
  log?: Logger;
  /** Compaction by itself every so many ms (default COMPACT_EVERY_MS); 0: only when compact() is called. */
  compactEveryMs?: number;
  /** See OpenStoreOptions.exclusive. */
  exclusive?: boolean;
}

/** Subscribers per mailbox; changes arrive in commit order from the writer. */
class Feed implements ChangeFeed {
  private readonly listeners = new Map<number, Set<(change: MailboxChange) => void>>();

  constructor(private readonly log: Logger | undefined) {}

  subscribe(mailboxId: number, listener: (change: MailboxChange) => void): () => void {
    let set = this.listeners.get(mailboxId);
    if (!set) {
      set = new Set();
      this.listeners.set(mailboxId, set);
    }
    set.add(listener);
    return () => {
      const current = this.listeners.get(mailboxId);
      if (!current) return;
      current.delete(listener);
      if (current.size === 0) this.listeners.delete(mailboxId);
    };
  }

  publish(changes: MailboxChange[]): void {
    for (const change of changes) {
      const set = this.listeners.get(change.mailboxId);
      if (!set) continue;
      for (const listener of [...set]) {
        try {
          listener(change);
        } catch (error) {
          // A broken subscriber must not keep others from their updates, nor fail the write.
          this.log?.error({ err: error, mailboxId: change.mailboxId }, 'change feed listener threw');
        }
      }
    }
  }
}

export async function openSqliteStore(options: SqliteStoreOptions): Promise<Store> {
  mkdirSync(options.dir, { recursive: true, mode: 0o700 });
  // Before any connection opens (checkKey may open one): the first runs SQLite's recovery, which would drop
  // damaged frames.
  await checkWal(options.dir);
  checkKey(options.dir, options.key);
  checkHeader(options.dir, options.key);
  ownerOnly(options.dir);
  const feed = new Feed(options.log);
  const writer = await Writer.start({ dir: options.dir, key: options.key, exclusive: options.exclusive === true }, (changes) => feed.publish(changes), options.log);
  let db: SqliteDatabase;
  try {
    db = openDatabase(options.dir, options.key, { readonly: true });
  } catch (error) {
    await writer.close();
    throw error;
  }
  if (!existsSync(join(options.dir, KEY_CHECK_FILE))) writeKeyCheck(options.dir, options.key);
  return new SqliteStore(options, db, writer, feed);
}

/**
 * The database, its WAL and its index readable by the owner only. SQLite creates the WAL and the index with
 * the database file's mode, and the database file with the umask's (0644 usually); the directory is 0700
 * already, so this is defence in depth, as for every other file of the store.
 */
function ownerOnly(dir: string): void {
  const database = join(dir, DATABASE_FILE);
  if (!existsSync(database)) closeSync(openSync(database, 'a', 0o600));
  for (const suffix of ['', '-wal', '-shm']) {
    const path = database + suffix;
    try {
      if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
    } catch (error) {
      if ((error as { code?: string }).code !== 'ENOENT') throw error;
    }
  }
}

class SqliteStore implements Store {
  readonly accounts: AccountStore;
  readonly mail: MailStore;
  readonly queue: QueueStore;
  readonly bans: BanStore;
  readonly secrets: SecretStore;
  private closing: Promise<void> | null = null;
  private readonly segments: SegmentReader;
  private readonly reader: Reader;
  private compacting: Promise<CompactionReport> | null = null;
  private readonly compactTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly options: SqliteStoreOptions,
    private readonly db: SqliteDatabase,
    private readonly writer: Writer,
    readonly changes: Feed,
  ) {
    this.segments = new SegmentReader(options.dir, deriveBodyKey(options.key));
    const reader = new Reader(db, this.segments);
    this.reader = reader;
    writer.onSegmentsRemoved = (segments) => this.segments.forget(segments);
    const every = options.compactEveryMs ?? COMPACT_EVERY_MS;
    if (every > 0) {
      this.compactTimer = setInterval(() => {
        this.compact().catch((error: unknown) => options.log?.warn({ err: (error as Error).message }, 'store compaction failed'));
      }, every);
      this.compactTimer.unref();
    }
    // Reads are synchronous SQLite calls wrapped as promises: the interface is async so that a networked
    // backend (PostgreSQL) fits the same contract.
    const read = <T>(fn: () => T): Promise<T> => {
      if (this.closing) return Promise.reject(new StoreError('unavailable', 'the store is closed'));
      try {
        return Promise.resolve(fn());
      } catch (error) {
        return Promise.reject(toStoreError(error, 'reading'));
      }
    };
    const w = writer;
    this.accounts = {
      addDomain: (name) => w.call('addDomain', name),
      deleteDomain: (name, opts) => w.call('deleteDomain', name, opts),
      listDomains: () => read(() => reader.listDomains()),
      hasDomain: (name) => read(() => reader.hasDomain(name)),
      addUser: (user) => w.call('addUser', user),
      updateUser: (address, update) => w.call('updateUser', address, update),
      deleteUser: (address) => w.call('deleteUser', address),
      getUser: (address) => read(() => reader.getUser(address)),
      getUserById: (id) => read(() => reader.getUserById(id)),
      listUsers: (domain) => read(() => reader.listUsers(domain)),
      addAlias: (source, destination) => w.call('addAlias', source, destination),
      deleteAlias: (source, destination) => w.call('deleteAlias', source, destination),
      listAliases: (domain) => read(() => reader.listAliases(domain)),
      aliasTargets: (source) => read(() => reader.aliasTargets(source)),
    };
    this.mail = {
      listMailboxes: (userId) => read(() => reader.listMailboxes(userId)),
      getMailbox: (userId, name) => read(() => reader.getMailbox(userId, name)),
      getMailboxById: (id) => read(() => reader.getMailboxById(id)),
      createMailbox: (userId, name, opts) => w.call('createMailbox', userId, name, opts),
      deleteMailbox: (id) => w.call('deleteMailbox', id),
      renameMailbox: (id, newName) => w.call('renameMailbox', id, newName),
      setSubscribed: (userId, name, subscribed) => w.call('setSubscribed', userId, name, subscribed),
      listSubscriptions: (userId) => read(() => reader.listSubscriptions(userId)),
      mailboxStatus: (id) => read(() => reader.mailboxStatus(id)),
      listMessages: (id) => read(() => reader.listMessages(id)),
      getMessages: (id, uids) => read(() => reader.getMessages(id, uids)),
      getEnvelopes: (id, uids) => read(() => reader.getEnvelopes(id, uids)),
      getBody: (bodyId) => read(() => reader.getBody(bodyId)),
      changedSince: (id, modseq) => read(() => reader.changedSince(id, modseq)),
      expungedSince: (id, modseq) => read(() => reader.expungedSince(id, modseq)),
      searchText: (id, field, needle, uids) => read(() => reader.searchText(id, field, needle, uids)),
      append: (id, input) => w.call('append', id, input),
      setUidValidity: (id, uidValidity) => w.call('setUidValidity', id, uidValidity),
      importMessage: (id, input) => w.call('importMessage', id, input),
      deliver: (input) => w.call('deliver', input),
      updateFlags: (id, uids, operation, flags, opts) => w.call('updateFlags', id, uids, operation, flags, opts),
      expunge: (id, uids) => w.call('expunge', id, uids),
      copy: (source, uids, target) => w.call('copy', source, uids, target),
      move: (source, uids, target) => w.call('move', source, uids, target),
      quotaUsage: (userId) => read(() => reader.quotaUsage(userId)),
    };
    this.queue = {
      enqueue: (input) => w.call('enqueue', input),
      list: () => read(() => reader.listQueue()),
      get: (id) => read(() => reader.getQueueEntry(id)),
      getRaw: (id) => read(() => reader.getQueueRaw(id)),
      due: (now) => read(() => reader.dueQueue(now)),
      updateRecipients: (id, updates, meta) => w.call('updateRecipients', id, updates, meta),
      retryAll: (id) => w.call('retryAll', id),
      delete: (id) => w.call('deleteQueueEntry', id),
    };
    this.bans = {
      put: (ban) => w.call('putBan', ban),
      delete: (target) => w.call('deleteBan', target),
      list: (now) => read(() => reader.listBans(now)),
      get: (target) => read(() => reader.getBan(target)),
      flush: () => w.call('flushBans'),
    };
    this.secrets = {
      get: (name) => read(() => reader.getSecret(name)),
      put: (name, value) => w.call('putSecret', name, value),
      delete: (name) => w.call('deleteSecret', name),
      list: (prefix) => read(() => reader.listSecrets(prefix)),
    };
  }

  /** Group-commit statistics: how many batches carried how many requests. */
  get writerStats(): { batches: number; requests: number; busyMs: number } {
    return { ...this.writer.stats };
  }

  async verify(): Promise<{ ok: boolean; problems: string[] }> {
    const problems: string[] = [];
    // A fresh connection, so no page comes from a cache: every page is read from disk (database file or
    // WAL) and its Poly1305 tag checked.
    let db: SqliteDatabase | null = null;
    try {
      checkHeader(this.options.dir, this.options.key);
    } catch (error) {
      problems.push(toStoreError(error, 'verifying').message);
    }
    problems.push(...(await this.verifySegments()));
    const offThread = await this.writer.verifyOffThread();
    if (offThread) {
      problems.push(...offThread);
      return { ok: problems.length === 0, problems };
    }
    // No checkpointer thread: the same check here, blocking the event loop while it runs.
    try {
      db = openDatabase(this.options.dir, this.options.key, { readonly: true });
      // integrity_check walks every b-tree page and every overflow page (the bodies).
      const rows = db.pragma('integrity_check') as { integrity_check: string }[];
      for (const row of rows) if (row.integrity_check !== 'ok') problems.push(...row.integrity_check.split('\n'));
      const badRefs = db.prepare('SELECT count(*) AS n FROM bodies b WHERE refs != (SELECT count(*) FROM messages m WHERE m.body_id = b.id)').get() as { n: number };
      if (badRefs.n > 0) problems.push(`${badRefs.n} message bodies have a wrong reference count`);
      const badSizes = db.prepare('SELECT count(*) AS n FROM bodies WHERE segment IS NULL AND size != length(raw)').get() as { n: number };
      if (badSizes.n > 0) problems.push(`${badSizes.n} message bodies differ from their recorded size`);
    } catch (error) {
      problems.push(toStoreError(error, 'verifying').message);
    } finally {
      try {
        db?.close();
      } catch {
        /* reported above */
      }
    }
    return { ok: problems.length === 0, problems };
  }

  async freeSpace(): Promise<number> {
    try {
      const fs = await statfs(this.options.dir);
      // bavail, not bfree: the blocks ext4 keeps for root are not the store's to count on.
      return fs.bavail * fs.bsize;
    } catch (error) {
      throw toStoreError(error, 'reading the free space of the data directory');
    }
  }

  compact(options: { minDeadRatio?: number } = {}): Promise<CompactionReport> {
    const ratio = options.minDeadRatio ?? COMPACT_MIN_DEAD_RATIO;
    if (!(ratio >= 0 && ratio <= 1)) return Promise.reject(new StoreError('invalid', `minDeadRatio must be between 0 and 1, got ${String(ratio)}`));
    // One at a time: a second call (the timer, the CLI) gets the report of the one running.
    this.compacting ??= this.compactFiles(ratio).finally(() => {
      this.compacting = null;
    });
    return this.compacting;
  }

  private async compactFiles(ratio: number): Promise<CompactionReport> {
    const report: CompactionReport = { files: 0, filesMerged: 0, bytesFreed: 0, bodiesMoved: 0, bytesMoved: 0 };
    const usage = await this.writer.call('segmentUsage');
    const plan = planCompaction(usage, { minDeadRatio: ratio, exclusive: this.options.exclusive === true, nowMs: Date.now() });
    for (const segment of plan.rewrite) {
      if (this.closing) break;
      await this.rewriteFile(segment, report);
    }
    if (!this.closing) await this.mergeFiles(plan.merge, report);
    if (report.files > 0) this.options.log?.info({ ...report }, 'store compacted body files');
    return report;
  }

  private async rewriteFile(segment: number, report: CompactionReport): Promise<void> {
    for (let step = 0; step < MAX_STEPS_PER_FILE && !this.closing; step++) {
      const [done] = await this.writer.call('compactSegments', [segment]);
      if (!done) return;
      countStep(report, done, 'rewritten');
      if (done.busy || done.removed || done.moved === 0) return;
    }
  }

  /** Several files per request; the file a request's budget ran out in comes first in the next one. */
  private async mergeFiles(segments: readonly number[], report: CompactionReport): Promise<void> {
    let waiting = segments;
    while (waiting.length > 0 && !this.closing) {
      const steps = await this.writer.call('compactSegments', waiting.slice(0, COMPACTION_FILES_PER_REQUEST));
      for (const step of steps) countStep(report, step, 'merged');
      const settled = new Set(steps.filter((step) => step.busy || step.removed).map((step) => step.segment));
      const progressed = settled.size > 0 || steps.some((step) => step.moved > 0);
      if (!progressed) return;
      waiting = waiting.filter((segment) => !settled.has(segment));
    }
  }

  /** Reads and authenticates every live body record in the segment files (segments.ts). */
  private async verifySegments(): Promise<string[]> {
    const problems: string[] = [];
    let failed = 0;
    let ids: number[];
    try {
      ids = this.db.prepare('SELECT id FROM bodies WHERE segment IS NOT NULL ORDER BY segment, seg_offset').pluck().all() as number[];
    } catch (error) {
      return [toStoreError(error, 'listing body records').message];
    }
    for (let i = 0; i < ids.length; i++) {
      if (this.closing) break;
      const id = ids[i]!;
      try {
        // Read where the row says the record is now: between two turns, compaction may have moved it (getBody
        // follows), or the body may have gone with its last message.
        this.reader.getBody(id);
      } catch (error) {
        if (error instanceof StoreError && error.code === 'not_found') continue;
        failed++;
        if (problems.length < MAX_LISTED_PROBLEMS) problems.push(toStoreError(error, `verifying body #${id}`).message);
      }
      if (i % VERIFY_RECORDS_PER_TURN === VERIFY_RECORDS_PER_TURN - 1) await new Promise<void>((resolve) => setImmediate(resolve));
    }
    if (failed > problems.length) problems.push(`${failed - problems.length} more message bodies fail authentication`);
    return problems;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.compactTimer) clearInterval(this.compactTimer);
      await this.compacting?.catch(() => undefined);
      await this.writer.close();
      this.db.close();
      this.segments.close();
    })();
    return this.closing;
  }
}

export { asBuffer };
