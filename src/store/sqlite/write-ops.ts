// Every mutation of the store, as synchronous functions over the writer's connection. They run only in the
// writer worker (writer-worker.ts), inside the batch transaction, each call in its own SAVEPOINT. A method
// either returns its result or throws (StoreError for the caller's mistakes); the changes it records for
// the change feed are published only after the batch commits.
//
// Implementation notes:
// - UIDNEXT only grows (RFC 9051 2.3.1.1): a UID is never reused, also after expunge and restarts, because
//   uid_next is stored in the same transaction as the message.
// - Modseq (RFC 7162 3.1): each operation takes one new modseq per mailbox it changes, highest_modseq + 1;
//   every message it touches carries that value. Expunged UIDs are kept as tombstones with that modseq.
// - A body row is stored once per delivery; `refs` counts the messages pointing at it, and the row goes
//   when the last one is expunged.
import { randomBytes, randomInt } from 'node:crypto';
import type {
  AppendInput,
  Ban,
  CopyResult,
  DeliveryInput,
  DeliveryResult,
  Domain,
  FlagOperation,
  FlagUpdateResult,
  Mailbox,
  MailboxChange,
  NewUser,
  QueueEntry,
  QueueRecipientState,
  SpecialUse,
  User,
  UserUpdate,
} from '../types.ts';
import { StoreError } from '../types.ts';
import { statementCache, type SqliteDatabase, type SqliteStatement } from './connection.ts';
import { applyFlags, normalizeFlags, sameFlags } from './flags.ts';
import { canonicalName, SEPARATOR, validName } from './names.ts';
import { BodyPreparer } from './prepared-bodies.ts';
import { COMPACTION_FILES_PER_REQUEST, compactSegmentsStep, segmentUsage, type CompactionStep, type SegmentFiles, type SegmentUsage } from './compaction.ts';
import { uidRuns } from './uid-runs.ts';
import {
  asBuffer,
  MAILBOX_COLUMNS,
  toMailbox,
  toQueueEntry,
  toUser,
  type MailboxRow,
  type MessageRow,
  type QueueRecipientRow,
  type QueueRow,
  type UserRow,
} from './rows.ts';

/** RFC 6154 special-use mailboxes every new account gets, with INBOX; all subscribed. */
export const DEFAULT_MAILBOXES: readonly { name: string; specialUse: SpecialUse | null }[] = [
  { name: 'INBOX', specialUse: null },
  { name: 'Drafts', specialUse: '\\Drafts' },
  { name: 'Sent', specialUse: '\\Sent' },
  { name: 'Junk', specialUse: '\\Junk' },
  { name: 'Trash', specialUse: '\\Trash' },
  { name: 'Archive', specialUse: '\\Archive' },
];
const SPECIAL_USES: ReadonlySet<string> = new Set(['\\Drafts', '\\Junk', '\\Trash', '\\Sent', '\\Archive', '\\All', '\\Flagged']);
/** Queue ids: 10 upper-case hex digits (40 random bits), short like Postfix's and unique in practice. */
const QUEUE_ID_BYTES = 5;

/** A body row, and whether the message row about to point at it is already counted in its refs: a body is
 * inserted with refs = 1 for its first message, which saves an UPDATE per delivery. */
interface BodyRef { id: number; size: number; firstRefCounted?: boolean }

export class WriteOps {
  /** Changes recorded by the current request; the worker takes them after each request. */
  changes: MailboxChange[] = [];
  /** Segment records the rows of this batch reference: the worker commits only once they are durable, and
   * only if their files are still there (segments.ts). Reset by the worker per batch. */
  recordsUsed = { maxSeq: 0, segments: new Set<number>() };
  /** Segment files to delete once the batch committed (compaction.ts). Reset by the worker per batch. */
  removeAfterCommit: number[] = [];
  /** The modseq the current request took per mailbox (one per operation and mailbox). */
  private requestModseq = new Map<number, number>();
  private readonly prepared: (text: string) => SqliteStatement;

  constructor(
    db: SqliteDatabase,
    /** Summaries, search text and segment records worked out ahead (prepared-bodies.ts), or here if not;
     * without segments every body stays in SQLite. */
    private readonly bodies: BodyPreparer = new BodyPreparer(null),
    /** The segment files, for compaction; null without segments. */
    private readonly segmentFiles: SegmentFiles | null = null,
  ) {
    this.prepared = statementCache(db);
  }

  /** Called by the worker before each request. */
  beginRequest(): void {
    this.changes = [];
    this.requestModseq.clear();
  }

  private sql(text: string): SqliteStatement {
    return this.prepared(text);
  }

  // ------------------------------------------------------------ accounts

  addDomain(name: string): Domain {
    const domain = normalizeDomain(name);
    if (this.sql('SELECT 1 FROM domains WHERE name = ?').get(domain)) throw new StoreError('exists', `domain ${domain} already exists`);
    const createdAt = Date.now();
    this.sql('INSERT INTO domains (name, created_at) VALUES (?, ?)').run(domain, createdAt);
    return { name: domain, createdAt };
  }

  deleteDomain(name: string, options?: { force?: boolean }): void {
    const domain = normalizeDomain(name);
    if (!this.sql('SELECT 1 FROM domains WHERE name = ?').get(domain)) throw new StoreError('not_found', `domain ${domain} does not exist`);
    const users = this.sql('SELECT id FROM users WHERE domain = ?').all(domain) as { id: number }[];
    const aliases = (this.sql('SELECT count(*) AS n FROM aliases WHERE domain = ?').get(domain) as { n: number }).n;
    if ((users.length > 0 || aliases > 0) && options?.force !== true) {
      throw new StoreError('in_use', `domain ${domain} still has ${users.length} user(s) and ${aliases} alias(es): delete them first, or force`);
    }
    for (const user of users) this.deleteUserById(user.id);
    this.sql('DELETE FROM aliases WHERE domain = ?').run(domain);
    this.sql('DELETE FROM domains WHERE name = ?').run(domain);
  }

  addUser(input: NewUser): User {
    const address = normalizeAddress(input.address);
    const domain = domainOf(address);
    if (!this.sql('SELECT 1 FROM domains WHERE name = ?').get(domain)) {
      throw new StoreError('not_found', `domain ${domain} does not exist: add it first (mailstack domain add ${domain})`);
    }
    if (this.sql('SELECT 1 FROM users WHERE address = ?').get(address)) throw new StoreError('exists', `user ${address} already exists`);
    if (typeof input.passwordHash !== 'string') throw new StoreError('invalid', 'password hash missing');
    const quota = input.quotaBytes ?? 0;
    if (!Number.isSafeInteger(quota) || quota < 0) throw new StoreError('invalid', `invalid quota ${quota}`);
    const createdAt = Date.now();
    const info = this.sql('INSERT INTO users (address, domain, password_hash, quota_bytes, created_at) VALUES (?, ?, ?, ?, ?)').run(
      address,
      domain,
      input.passwordHash,
      quota,
      createdAt,
    );
    const userId = Number(info.lastInsertRowid);
    for (const mailbox of DEFAULT_MAILBOXES) this.insertMailbox(userId, mailbox.name, mailbox.specialUse, true);
    return this.userById(userId);
  }

  updateUser(address: string, update: UserUpdate): User {
    const user = this.userByAddress(address);
    if (update.passwordHash !== undefined) this.sql('UPDATE users SET password_hash = ? WHERE id = ?').run(update.passwordHash, user.id);
    if (update.quotaBytes !== undefined) {
      if (!Number.isSafeInteger(update.quotaBytes) || update.quotaBytes < 0) throw new StoreError('invalid', `invalid quota ${update.quotaBytes}`);
      this.sql('UPDATE users SET quota_bytes = ? WHERE id = ?').run(update.quotaBytes, user.id);
    }
    if (update.sendAs !== undefined) {
      const sendAs = [...new Set(update.sendAs.map((a) => a.trim().toLowerCase()))];
      this.sql('UPDATE users SET send_as = ? WHERE id = ?').run(JSON.stringify(sendAs), user.id);
    }
    if (update.enforceSender !== undefined) this.sql('UPDATE users SET enforce_sender = ? WHERE id = ?').run(update.enforceSender ? 1 : 0, user.id);
    return this.userById(user.id);
  }

  deleteUser(address: string): void {
    this.deleteUserById(this.userByAddress(address).id);
  }

  addAlias(source: string, destination: string): void {
    const from = normalizeAliasSource(source);
    const to = normalizeAddress(destination);
    const domain = domainOf(from);
    if (!this.sql('SELECT 1 FROM domains WHERE name = ?').get(domain)) {
      throw new StoreError('not_found', `domain ${domain} does not exist: add it first (mailstack domain add ${domain})`);
    }
    if (this.sql('SELECT 1 FROM aliases WHERE source = ? AND destination = ?').get(from, to)) throw new StoreError('exists', `alias ${from} -> ${to} already exists`);
    this.sql('INSERT INTO aliases (source, destination, domain) VALUES (?, ?, ?)').run(from, to, domain);
  }

  deleteAlias(source: string, destination?: string): number {
    const from = source.trim().toLowerCase();
    if (destination === undefined) return this.sql('DELETE FROM aliases WHERE source = ?').run(from).changes;
    return this.sql('DELETE FROM aliases WHERE source = ? AND destination = ?').run(from, destination.trim().toLowerCase()).changes;
  }

  // ------------------------------------------------------------ mailboxes

  createMailbox(userId: number, name: string, options?: { specialUse?: SpecialUse | null; subscribe?: boolean }): Mailbox {
    this.userById(userId);
    const canonical = validName(name);
    if (this.mailboxByName(userId, canonical)) throw new StoreError('exists', `mailbox ${canonical} already exists`);
    const specialUse = options?.specialUse ?? null;
    if (specialUse !== null && !SPECIAL_USES.has(specialUse)) throw new StoreError('invalid', `unknown special use ${String(specialUse)}`);
    const id = this.insertMailbox(userId, canonical, specialUse, options?.subscribe === true);
    return this.mailbox(id);
  }

  deleteMailbox(mailboxId: number): void {
    const mailbox = this.mailbox(mailboxId);
    if (mailbox.name === 'INBOX') throw new StoreError('invalid', 'INBOX cannot be deleted');
    this.deleteMailboxRow(mailbox.id);
  }

  renameMailbox(mailboxId: number, newName: string): void {
    const mailbox = this.mailbox(mailboxId);
    const target = validName(newName);
    if (target === mailbox.name) throw new StoreError('exists', `mailbox ${target} already exists`);
    if (mailbox.name === 'INBOX') {
      // RFC 9051 6.3.6: renaming INBOX moves its messages to a new mailbox and leaves INBOX empty; its
      // inferiors stay where they are.
      if (this.mailboxByName(mailbox.userId, target)) throw new StoreError('exists', `mailbox ${target} already exists`);
      const newId = this.insertMailbox(mailbox.userId, target, null, false);
      const uids = (this.sql('SELECT uid FROM messages WHERE mailbox_id = ? ORDER BY uid').all(mailbox.id) as { uid: number }[]).map((r) => r.uid);
      this.transfer(mailbox.id, uids, newId, true, false);
      return;
    }
    if (target === 'INBOX') throw new StoreError('exists', 'INBOX already exists');
    if (target.startsWith(mailbox.name + SEPARATOR)) throw new StoreError('invalid', `cannot rename ${mailbox.name} into itself`);
    const family = this.sql(`SELECT id, name FROM mailboxes WHERE user_id = ? AND (name = ? OR substr(name, 1, ?) = ?)`).all(
      mailbox.userId,
      mailbox.name,
      mailbox.name.length + 1,
      mailbox.name + SEPARATOR,
    ) as { id: number; name: string }[];
    const renamed = family.map((m) => ({ id: m.id, from: m.name, to: canonicalName(target + m.name.slice(mailbox.name.length)) }));
    for (const r of renamed) {
      if (this.mailboxByName(mailbox.userId, r.to)) throw new StoreError('exists', `mailbox ${r.to} already exists`);
    }
    for (const r of renamed) {
      this.sql('UPDATE mailboxes SET name = ?, name_key = ? WHERE id = ?').run(r.to, nameKey(r.to), r.id);
      // Subscriptions follow the mailbox, as Dovecot does, so clients keep seeing it.
      const moved = this.sql('DELETE FROM subscriptions WHERE user_id = ? AND name = ?').run(mailbox.userId, r.from).changes;
      if (moved > 0) this.sql('INSERT OR IGNORE INTO subscriptions (user_id, name) VALUES (?, ?)').run(mailbox.userId, r.to);
    }
  }

  setSubscribed(userId: number, name: string, subscribed: boolean): void {
    this.userById(userId);
    const canonical = validName(name);
    if (subscribed) this.sql('INSERT OR IGNORE INTO subscriptions (user_id, name) VALUES (?, ?)').run(userId, canonical);
    else this.sql('DELETE FROM subscriptions WHERE user_id = ? AND name = ?').run(userId, canonical);
  }

  // ------------------------------------------------------------ messages

  append(mailboxId: number, input: AppendInput): { uid: number; uidValidity: number; modseq: number } {
    const mailbox = this.mailbox(mailboxId);
    const raw = asBuffer(input.raw);
    const flags = normalizeFlags(input.flags ?? []);
    const quota = this.quota(mailbox.userId);
    if (quota.limit > 0 && quota.used + raw.length > quota.limit) {
      throw new StoreError('over_quota', `mailbox ${mailbox.name} is over quota (${quota.used} + ${raw.length} > ${quota.limit} bytes)`);
    }
    const body = this.insertBody(raw);
    const stored = this.insertMessage(mailbox.id, body, flags, input.internalDate ?? Date.now());
    return { uid: stored.uid, uidValidity: mailbox.uidValidity, modseq: stored.modseq };
  }

  /** Import: UIDVALIDITY from the old server; only while the mailbox is empty (or unchanged). */
  setUidValidity(mailboxId: number, uidValidity: number): void {
    const mailbox = this.mailbox(mailboxId);
    if (!Number.isInteger(uidValidity) || uidValidity < 1 || uidValidity > 0xffff_ffff) throw new StoreError('invalid', `invalid UIDVALIDITY ${uidValidity}`);
    if (mailbox.uidValidity === uidValidity) return;
    const { n } = this.sql('SELECT count(*) AS n FROM messages WHERE mailbox_id = ?').get(mailboxId) as { n: number };
    if (n > 0) throw new StoreError('in_use', `mailbox ${mailbox.name} already holds messages: its UIDVALIDITY cannot change`);
    this.sql('UPDATE mailboxes SET uid_validity = ? WHERE id = ?').run(uidValidity, mailboxId);
  }

  /** Import: a message with a given UID (>= UIDNEXT), quota not checked. */
  importMessage(mailboxId: number, input: AppendInput & { uid: number }): { uid: number; modseq: number } {
    const mailbox = this.mailbox(mailboxId);
    if (!Number.isInteger(input.uid) || input.uid < 1 || input.uid > 0xffff_ffff) throw new StoreError('invalid', `invalid UID ${input.uid}`);
    if (input.uid < mailbox.uidNext) throw new StoreError('exists', `UID ${input.uid} is below UIDNEXT ${mailbox.uidNext} of ${mailbox.name}: already imported`);
    this.sql('UPDATE mailboxes SET uid_next = ? WHERE id = ?').run(input.uid, mailboxId);
    const body = this.insertBody(asBuffer(input.raw));
    return this.insertMessage(mailbox.id, body, normalizeFlags(input.flags ?? []), input.internalDate ?? Date.now());
  }

  deliver(input: DeliveryInput): DeliveryResult {
    const raw = asBuffer(input.raw);
    const internalDate = input.internalDate ?? Date.now();
    const result: DeliveryResult = { stored: [], overQuota: [] };
    // Quota counts what this delivery already stored for the same user (two targets, one user).
    const pendingBytes = new Map<number, number>();
    let body: BodyRef | null = null;
    for (const target of input.targets) {
      const user = this.userById(target.userId);
      if (input.ignoreQuota !== true && user.quotaBytes > 0) {
        const used = this.quota(user.id).used + (pendingBytes.get(user.id) ?? 0);
        if (used + raw.length > user.quotaBytes) {
          result.overQuota.push(user.id);
          continue;
        }
      }
      const mailbox = (target.mailbox !== undefined ? this.mailboxByName(user.id, canonicalName(target.mailbox)) : null) ?? this.mailboxByName(user.id, 'INBOX');
      if (!mailbox) throw new StoreError('not_found', `user ${user.address} has no INBOX`);
      body ??= this.insertBody(raw);
      const stored = this.insertMessage(mailbox.id, body, normalizeFlags(target.flags ?? []), internalDate);
      pendingBytes.set(user.id, (pendingBytes.get(user.id) ?? 0) + raw.length);
      result.stored.push({ userId: user.id, mailboxId: mailbox.id, mailbox: mailbox.name, uid: stored.uid });
    }
    if (input.enqueue) result.queued = this.enqueue(input.enqueue);
    return result;
  }

  updateFlags(
    mailboxId: number,
    uids: readonly number[],
    operation: FlagOperation,
    flags: readonly string[],
    options?: { unchangedSince?: number },
  ): FlagUpdateResult {
    this.mailbox(mailboxId);
    if (operation !== 'add' && operation !== 'remove' && operation !== 'set') throw new StoreError('invalid', `unknown flag operation ${String(operation)}`);
    const wanted = normalizeFlags(flags);
    const result: FlagUpdateResult = { updated: [], modseq: 0, modifiedSince: [] };
    const unchangedSince = options?.unchangedSince;
    // Set-based: the messages are read run by run (range scans on the primary key), the new flags worked out
    // once per distinct stored flag text (a mailbox has few), and each (run, old text) group written with one
    // UPDATE over the run's range when the group is every message of that text in the range, else row by row.
    // Messages that already have the outcome are not written and keep their modseq (RFC 7162 3.1.3 allows
    // it: a STORE that changes nothing need not change the modseq), so +FLAGS \Seen on read mail is free.
    const select = this.sql('SELECT uid, modseq, flags FROM messages WHERE mailbox_id = ? AND uid BETWEEN ? AND ? ORDER BY uid').raw(true);
    const distinct = this.sql('SELECT DISTINCT flags FROM messages WHERE mailbox_id = ? AND uid BETWEEN ? AND ?').pluck(true);
    const updateRange = this.sql('UPDATE messages SET flags = ?, seen = ?, deleted = ?, modseq = ? WHERE mailbox_id = ? AND uid BETWEEN ? AND ? AND flags = ?');
    const uidsWithFlags = this.sql('SELECT uid FROM messages WHERE mailbox_id = ? AND uid BETWEEN ? AND ? AND flags = ? ORDER BY uid').pluck(true);
    const updateOne = this.sql('UPDATE messages SET flags = ?, seen = ?, deleted = ?, modseq = ? WHERE mailbox_id = ? AND uid = ?');
    const transitions = new Map<string, { next: string[]; text: string; seen: number; deleted: number } | null>();
    const transition = (text: string) => {
      let t = transitions.get(text);
      if (t === undefined) {
        const current = JSON.parse(text) as string[];
        const next = applyFlags(current, operation, wanted);
        t = sameFlags(current, next) ? null : { next, text: JSON.stringify(next), seen: next.includes('\\Seen') ? 1 : 0, deleted: next.includes('\\Deleted') ? 1 : 0 };
        transitions.set(text, t);
      }
      return t;
    };
    // The UIDs that changed, per new flag text: one feed change and one result group each.
    const changed = new Map<string, { flags: string[]; uids: number[] }>();
    const record = (t: { next: string[]; text: string }, uids: readonly number[]) => {
      let group = changed.get(t.text);
      if (!group) changed.set(t.text, (group = { flags: t.next, uids: [] }));
      for (const uid of uids) group.uids.push(uid);
    };
    let modseq = 0;
    for (const run of uidRuns(sortedUnique(uids))) {
      if (run.wanted === null && unchangedSince === undefined) {
        // Every message of the range is wanted and none can be refused: only UIDs reach JavaScript. Per
        // distinct old flag text, its UIDs are read, then one UPDATE changes them (measured at 50,000
        // messages: ~25% faster than UPDATE ... RETURNING, which SQLite buffers row by row).
        for (const text of distinct.all(mailboxId, run.first, run.last) as string[]) {
          const t = transition(text);
          if (t === null) continue;
          if (modseq === 0) modseq = this.takeModseq(mailboxId);
          record(t, uidsWithFlags.all(mailboxId, run.first, run.last, text) as number[]);
          updateRange.run(t.text, t.seen, t.deleted, modseq, mailboxId, run.first, run.last, text);
        }
        continue;
      }
      const rows = select.all(mailboxId, run.first, run.last) as [uid: number, modseq: number, flags: string][];
      // Per old flag text: how many rows of the range carry it, and which of them change.
      const groups = new Map<string, { inRange: number; changing: number[] }>();
      for (const [uid, rowModseq, text] of rows) {
        let group = groups.get(text);
        if (!group) groups.set(text, (group = { inRange: 0, changing: [] }));
        group.inRange++;
        if (run.wanted !== null && !run.wanted.has(uid)) continue;
        // RFC 7162 3.1.3: a message changed after UNCHANGEDSINCE is left alone and reported.
        if (unchangedSince !== undefined && rowModseq > unchangedSince) {
          result.modifiedSince.push(uid);
          continue;
        }
        if (transition(text) === null) continue;
        if (modseq === 0) modseq = this.takeModseq(mailboxId);
        group.changing.push(uid);
      }
      for (const [text, group] of groups) {
        if (group.changing.length === 0) continue;
        const t = transition(text)!;
        if (group.changing.length === group.inRange) updateRange.run(t.text, t.seen, t.deleted, modseq, mailboxId, run.first, run.last, text);
        else for (const uid of group.changing) updateOne.run(t.text, t.seen, t.deleted, modseq, mailboxId, uid);
        record(t, group.changing);
      }
    }
    for (const group of changed.values()) {
      // Groups gathered from several runs and old texts interleave: sort once.
      if (!ascending(group.uids)) group.uids.sort((a, b) => a - b);
      result.updated.push({ uids: group.uids, flags: group.flags });
      this.changes.push({ kind: 'flags', mailboxId, uids: group.uids, flags: group.flags, modseq });
    }
    result.modseq = modseq;
    return result;
  }

  expunge(mailboxId: number, uids: readonly number[]): { uids: number[]; modseq: number } {
    const mailbox = this.mailbox(mailboxId);
    const expunged = this.removeMessages(mailbox.id, sortedUnique(uids));
    const modseq = expunged.length > 0 ? this.takeModseq(mailbox.id) : mailbox.highestModSeq;
    return { uids: expunged, modseq };
  }

  copy(sourceMailboxId: number, uids: readonly number[], targetMailboxId: number): CopyResult {
    return this.transfer(sourceMailboxId, sortedUnique(uids), targetMailboxId, false, true);
  }

  move(sourceMailboxId: number, uids: readonly number[], targetMailboxId: number): CopyResult {
    return this.transfer(sourceMailboxId, sortedUnique(uids), targetMailboxId, true, true);
  }

  // ------------------------------------------------------------ queue

  enqueue(input: { sender: string; recipients: string[]; raw: Uint8Array; meta?: Record<string, unknown> }): QueueEntry {
    const raw = asBuffer(input.raw);
    if (input.recipients.length === 0) throw new StoreError('invalid', 'a queue entry needs at least one recipient');
    let id: string;
    do id = randomBytes(QUEUE_ID_BYTES).toString('hex').toUpperCase();
    while (this.sql('SELECT 1 FROM queue WHERE id = ?').get(id));
    const now = Date.now();
    this.sql('INSERT INTO queue (id, sender, created_at, size, meta, raw) VALUES (?, ?, ?, ?, ?, ?)').run(id, input.sender, now, raw.length, JSON.stringify(input.meta ?? {}), raw);
    const insert = this.sql('INSERT OR IGNORE INTO queue_recipients (queue_id, position, address, state, next_attempt_at) VALUES (?, ?, ?, ?, ?)');
    input.recipients.forEach((address, position) => insert.run(id, position, address, 'pending', now));
    return this.queueEntry(id);
  }

  updateRecipients(
    id: string,
    updates: { address: string; state: QueueRecipientState; nextAttemptAt?: number; lastError?: string | null; remoteMta?: string | null; status?: string | null; attempted?: boolean }[],
    meta?: Record<string, unknown>,
  ): void {
    if (!this.sql('SELECT 1 FROM queue WHERE id = ?').get(id)) throw new StoreError('not_found', `queue entry ${id} does not exist`);
    for (const u of updates) {
      const row = this.sql('SELECT * FROM queue_recipients WHERE queue_id = ? AND address = ?').get(id, u.address) as QueueRecipientRow | undefined;
      if (!row) throw new StoreError('not_found', `queue entry ${id} has no recipient ${u.address}`);
      this.sql(
        `UPDATE queue_recipients SET state = ?, next_attempt_at = ?, last_error = ?, remote_mta = ?, status = ?, attempts = attempts + ?
         WHERE queue_id = ? AND address = ?`,
      ).run(
        u.state,
        u.nextAttemptAt ?? row.next_attempt_at,
        u.lastError !== undefined ? u.lastError : row.last_error,
        u.remoteMta !== undefined ? u.remoteMta : row.remote_mta,
        u.status !== undefined ? u.status : row.status,
        u.attempted === true ? 1 : 0,
        id,
        u.address,
      );
    }
    if (meta !== undefined) this.sql('UPDATE queue SET meta = ? WHERE id = ?').run(JSON.stringify(meta), id);
  }

  retryAll(id?: string): number {
    const now = Date.now();
    if (id !== undefined) {
      return this.sql(`UPDATE queue_recipients SET next_attempt_at = ? WHERE queue_id = ? AND state IN ('pending', 'deferred')`).run(now, id).changes;
    }
    return this.sql(`UPDATE queue_recipients SET next_attempt_at = ? WHERE state IN ('pending', 'deferred')`).run(now).changes;
  }

  deleteQueueEntry(id: string): boolean {
    return this.sql('DELETE FROM queue WHERE id = ?').run(id).changes > 0;
  }

  // ------------------------------------------------------------ bans and secrets

  putBan(ban: Ban): void {
    this.sql(
      `INSERT INTO bans (target, reason, created_at, expires_at, count) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (target) DO UPDATE SET reason = excluded.reason, created_at = excluded.created_at,
         expires_at = excluded.expires_at, count = excluded.count`,
    ).run(ban.target, ban.reason, ban.createdAt, ban.expiresAt, ban.count);
  }

  deleteBan(target: string): boolean {
    return this.sql('DELETE FROM bans WHERE target = ?').run(target).changes > 0;
  }

  flushBans(): number {
    return this.sql('DELETE FROM bans').run().changes;
  }

  putSecret(name: string, value: Uint8Array): void {
    if (typeof name !== 'string' || name.length === 0) throw new StoreError('invalid', 'secret name is empty');
    this.sql('INSERT INTO secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value').run(name, asBuffer(value));
  }

  deleteSecret(name: string): boolean {
    return this.sql('DELETE FROM secrets WHERE name = ?').run(name).changes > 0;
  }

  // ------------------------------------------------------------ body segments (compaction.ts)

  /** Every segment file not in use by this writer, with the bytes its live records take. */
  segmentUsage(): SegmentUsage[] {
    return this.segmentFiles ? segmentUsage((text) => this.sql(text), this.segmentFiles) : [];
  }

  /** Moves a chunk of the live records of `segments`, in order, to the current segment; a file goes once
   * none is left. One step per file looked at. */
  compactSegments(segments: number[]): CompactionStep[] {
    if (!this.segmentFiles) throw new StoreError('unavailable', 'this store keeps no body segments');
    if (!Array.isArray(segments) || segments.length > COMPACTION_FILES_PER_REQUEST) {
      throw new StoreError('invalid', `compaction takes up to ${COMPACTION_FILES_PER_REQUEST} segments per request`);
    }
    for (const segment of segments) {
      if (!Number.isInteger(segment) || segment < 1) throw new StoreError('invalid', `invalid segment ${String(segment)}`);
    }
    return compactSegmentsStep((text) => this.sql(text), this.segmentFiles, segments, this.recordsUsed, this.removeAfterCommit);
  }

  // ------------------------------------------------------------ internals

  private userById(id: number): User {
    const row = this.sql('SELECT * FROM users WHERE id = ?').get(id) as UserRow | undefined;
    if (!row) throw new StoreError('not_found', `user #${id} does not exist`);
    return toUser(row);
  }

  private userByAddress(address: string): User {
    const row = this.sql('SELECT * FROM users WHERE address = ?').get(address.trim().toLowerCase()) as UserRow | undefined;
    if (!row) throw new StoreError('not_found', `user ${address} does not exist`);
    return toUser(row);
  }

  private mailbox(id: number): Mailbox {
    const row = this.sql(`SELECT ${MAILBOX_COLUMNS} FROM mailboxes m WHERE m.id = ?`).get(id) as MailboxRow | undefined;
    if (!row) throw new StoreError('not_found', `mailbox #${id} does not exist`);
    return toMailbox(row);
  }

  private mailboxByName(userId: number, canonical: string): Mailbox | null {
    const row = this.sql(`SELECT ${MAILBOX_COLUMNS} FROM mailboxes m WHERE m.user_id = ? AND m.name_key = ?`).get(userId, nameKey(canonical)) as MailboxRow | undefined;
    return row ? toMailbox(row) : null;
  }

  private insertMailbox(userId: number, name: string, specialUse: SpecialUse | null, subscribe: boolean): number {
    // RFC 9051 2.3.1.1: UIDVALIDITY must change when a name is reused; a random nonzero 32-bit value
    // makes a collision with the deleted mailbox's value negligible.
    const uidValidity = randomInt(1, 0x1_0000_0000);
    const info = this.sql('INSERT INTO mailboxes (user_id, name, name_key, uid_validity, special_use) VALUES (?, ?, ?, ?, ?)').run(userId, name, nameKey(name), uidValidity, specialUse);
    if (subscribe) this.sql('INSERT OR IGNORE INTO subscriptions (user_id, name) VALUES (?, ?)').run(userId, name);
    return Number(info.lastInsertRowid);
  }

  private deleteMailboxRow(mailboxId: number): void {
    const bodies = this.sql('SELECT body_id, count(*) AS n FROM messages WHERE mailbox_id = ? GROUP BY body_id').all(mailboxId) as { body_id: number; n: number }[];
    this.sql('DELETE FROM messages WHERE mailbox_id = ?').run(mailboxId);
    for (const b of bodies) this.releaseBody(b.body_id, b.n);
    this.sql('DELETE FROM tombstones WHERE mailbox_id = ?').run(mailboxId);
    this.sql('DELETE FROM mailboxes WHERE id = ?').run(mailboxId);
    this.changes.push({ kind: 'deleted', mailboxId });
  }

  private deleteUserById(userId: number): void {
    const mailboxes = this.sql('SELECT id FROM mailboxes WHERE user_id = ?').all(userId) as { id: number }[];
    for (const m of mailboxes) this.deleteMailboxRow(m.id);
    this.sql('DELETE FROM subscriptions WHERE user_id = ?').run(userId);
    this.sql('DELETE FROM users WHERE id = ?').run(userId);
  }

  private quota(userId: number): { used: number; limit: number } {
    const row = this.sql(
      'SELECT u.quota_bytes AS quota, (SELECT coalesce(sum(total_size), 0) FROM mailboxes WHERE user_id = u.id) AS used FROM users u WHERE u.id = ?',
    ).get(userId) as { quota: number; used: number } | undefined;
    if (!row) throw new StoreError('not_found', `user #${userId} does not exist`);
    return { used: row.used, limit: row.quota };
  }

  /** The modseq this request uses for a mailbox: highest_modseq + 1, taken once per request. */
  private takeModseq(mailboxId: number): number {
    let modseq = this.requestModseq.get(mailboxId);
    if (modseq === undefined) {
      const row = this.sql('UPDATE mailboxes SET highest_modseq = highest_modseq + 1 WHERE id = ? RETURNING highest_modseq').get(mailboxId) as { highest_modseq: number };
      modseq = row.highest_modseq;
      this.requestModseq.set(mailboxId, modseq);
    }
    return modseq;
  }

  private insertBody(raw: Buffer): BodyRef {
    // Parsed (and appended to a segment, which the segment thread seals) in the writer thread, mostly before
    // this batch began: never on the main thread.
    const body = this.bodies.take(raw);
    let id: number;
    if (body.record) {
      // The row names its record by the record's nonce (segments.ts, v2 and v3). The worker commits only once the
      // record is durable (recordsUsed); if this request rolls back, the record stays as unreferenced bytes.
      const { ticket, nonce, packedLength } = body.record;
      const info = this.sql("INSERT INTO bodies (size, refs, summary, envelope, raw, segment, seg_offset, seg_nonce, seg_length) VALUES (?, 1, ?, ?, X'', ?, ?, ?, ?)").run(
        raw.length,
        body.summaryJson,
        body.envelope,
        ticket.segment,
        ticket.offset,
        nonce,
        packedLength,
      );
      id = Number(info.lastInsertRowid);
      this.recordsUsed.segments.add(ticket.segment);
      this.recordsUsed.maxSeq = Math.max(this.recordsUsed.maxSeq, ticket.seq);
    } else {
      const info = this.sql('INSERT INTO bodies (size, refs, summary, envelope, raw) VALUES (?, 1, ?, ?, ?)').run(raw.length, body.summaryJson, body.envelope, raw);
      id = Number(info.lastInsertRowid);
    }
    this.sql('INSERT INTO body_text (body_id, header, body) VALUES (?, ?, ?)').run(id, body.headerText, body.bodyText);
    return { id, size: raw.length, firstRefCounted: true };
  }

  private releaseBody(bodyId: number, count: number): void {
    this.sql('UPDATE bodies SET refs = refs - ? WHERE id = ?').run(count, bodyId);
    this.sql('DELETE FROM bodies WHERE id = ? AND refs <= 0').run(bodyId);
  }

  private insertMessage(mailboxId: number, body: BodyRef, flags: string[], internalDate: number): { uid: number; modseq: number } {
    if (!Number.isFinite(internalDate)) throw new StoreError('invalid', `invalid internal date ${String(internalDate)}`);
    // The UID, and the request's modseq if it has none yet for this mailbox: one UPDATE of the mailbox row.
    let modseq = this.requestModseq.get(mailboxId);
    let uid: number;
    if (modseq === undefined) {
      const row = this.sql(
        'UPDATE mailboxes SET highest_modseq = highest_modseq + 1, uid_next = uid_next + 1, message_count = message_count + 1, total_size = total_size + ? WHERE id = ? RETURNING highest_modseq, uid_next - 1 AS uid',
      ).get(body.size, mailboxId) as { highest_modseq: number; uid: number };
      modseq = row.highest_modseq;
      uid = row.uid;
      this.requestModseq.set(mailboxId, modseq);
    } else {
      uid = (this.sql(
        'UPDATE mailboxes SET uid_next = uid_next + 1, message_count = message_count + 1, total_size = total_size + ? WHERE id = ? RETURNING uid_next - 1 AS uid',
      ).get(body.size, mailboxId) as { uid: number }).uid;
    }
    this.sql('INSERT INTO messages (mailbox_id, uid, modseq, flags, seen, deleted, internal_date, size, body_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)').run(
      mailboxId,
      uid,
      modseq,
      JSON.stringify(flags),
      flags.includes('\\Seen') ? 1 : 0,
      flags.includes('\\Deleted') ? 1 : 0,
      Math.trunc(internalDate),
      body.size,
      body.id,
    );
    if (body.firstRefCounted) body.firstRefCounted = false;
    else this.sql('UPDATE bodies SET refs = refs + 1 WHERE id = ?').run(body.id);
    this.changes.push({ kind: 'exists', mailboxId, uid, modseq, flags });
    return { uid, modseq };
  }

  /** Deletes messages, leaves tombstones, releases bodies. Returns the UIDs that existed. */
  private removeMessages(mailboxId: number, uids: number[]): number[] {
    const select = this.sql('SELECT uid, size, body_id FROM messages WHERE mailbox_id = ? AND uid = ?');
    const found: { uid: number; size: number; body_id: number }[] = [];
    for (const uid of uids) {
      const row = select.get(mailboxId, uid) as { uid: number; size: number; body_id: number } | undefined;
      if (row) found.push(row);
    }
    if (found.length === 0) return [];
    const modseq = this.takeModseq(mailboxId);
    const remove = this.sql('DELETE FROM messages WHERE mailbox_id = ? AND uid = ?');
    const tombstone = this.sql('INSERT OR REPLACE INTO tombstones (mailbox_id, uid, modseq) VALUES (?, ?, ?)');
    let bytes = 0;
    for (const row of found) {
      remove.run(mailboxId, row.uid);
      tombstone.run(mailboxId, row.uid, modseq);
      this.releaseBody(row.body_id, 1);
      bytes += row.size;
    }
    this.sql('UPDATE mailboxes SET message_count = message_count - ?, total_size = total_size - ? WHERE id = ?').run(found.length, bytes, mailboxId);
    const expunged = found.map((r) => r.uid);
    this.changes.push({ kind: 'expunge', mailboxId, uids: expunged, modseq });
    return expunged;
  }

  /** COPY, MOVE (RFC 6851) and the INBOX rename: new UIDs in the target, the same bodies. */
  private transfer(sourceId: number, uids: number[], targetId: number, removeFromSource: boolean, checkQuota: boolean): CopyResult {
    const source = this.mailbox(sourceId);
    const target = this.mailbox(targetId);
    if (removeFromSource && sourceId === targetId) throw new StoreError('invalid', 'cannot move messages into the mailbox they are in');
    const select = this.sql('SELECT uid, modseq, flags, internal_date, size, body_id FROM messages WHERE mailbox_id = ? AND uid = ?');
    const rows: MessageRow[] = [];
    for (const uid of uids) {
      const row = select.get(sourceId, uid) as MessageRow | undefined;
      if (row) rows.push(row);
    }
    // Moving within one user's mailboxes changes nothing in their usage; copying and cross-user moves do.
    if (checkQuota && (!removeFromSource || source.userId !== target.userId)) {
      const quota = this.quota(target.userId);
      const bytes = rows.reduce((sum, r) => sum + r.size, 0);
      if (quota.limit > 0 && quota.used + bytes > quota.limit) {
        throw new StoreError('over_quota', `mailbox ${target.name} is over quota (${quota.used} + ${bytes} > ${quota.limit} bytes)`);
      }
    }
    const pairs: [number, number][] = [];
    for (const row of rows) {
      const stored = this.insertMessage(targetId, { id: row.body_id, size: row.size }, JSON.parse(row.flags) as string[], row.internal_date);
      pairs.push([row.uid, stored.uid]);
    }
    if (removeFromSource) this.removeMessages(sourceId, rows.map((r) => r.uid));
    return { uidValidity: target.uidValidity, pairs };
  }

  private queueEntry(id: string): QueueEntry {
    const row = this.sql('SELECT id, sender, created_at, size, meta FROM queue WHERE id = ?').get(id) as QueueRow;
    const recipients = this.sql('SELECT * FROM queue_recipients WHERE queue_id = ? ORDER BY position').all(id) as QueueRecipientRow[];
    return toQueueEntry(row, recipients);
  }
}

/** The lookup key of a mailbox name: the canonical name (INBOX folded, the rest exact). */
function nameKey(canonical: string): string {
  return canonicalName(canonical);
}

function sortedUnique(uids: readonly number[]): number[] {
  return [...new Set(uids)].filter((u) => Number.isSafeInteger(u) && u > 0).sort((a, b) => a - b);
}

function normalizeDomain(name: string): string {
  const domain = String(name).trim().toLowerCase().replace(/\.$/, '');
  if (!/^[a-z0-9\u0080-\uffff]([a-z0-9\u0080-\uffff-]*[a-z0-9\u0080-\uffff])?(\.[a-z0-9\u0080-\uffff]([a-z0-9\u0080-\uffff-]*[a-z0-9\u0080-\uffff])?)*$/.test(domain) || domain.length > 253) {
    throw new StoreError('invalid', `invalid domain name ${JSON.stringify(name)}`);
  }
  return domain;
}

function normalizeAddress(address: string): string {
  const value = String(address).trim().toLowerCase();
  const at = value.lastIndexOf('@');
  if (at <= 0 || at === value.length - 1 || /[\s<>]/.test(value) || value.length > 320) {
    throw new StoreError('invalid', `invalid address ${JSON.stringify(address)}: expected local@domain`);
  }
  normalizeDomain(value.slice(at + 1));
  return value;
}

function normalizeAliasSource(source: string): string {
  const value = String(source).trim().toLowerCase();
  if (value.startsWith('@')) return '@' + normalizeDomain(value.slice(1));
  return normalizeAddress(value);
}

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1);
}

/** Every method the writer worker runs, by name: the protocol between the store and its worker. */
export type WriteOpName = {
  [K in keyof WriteOps]: WriteOps[K] extends (...args: never[]) => unknown ? (K extends 'beginRequest' ? never : K) : never;
}[keyof WriteOps];

function ascending(list: readonly number[]): boolean {
  for (let i = 1; i < list.length; i++) if ((list[i] as number) < (list[i - 1] as number)) return false;
  return true;
}
