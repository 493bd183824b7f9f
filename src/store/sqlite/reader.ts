// Reads, on a main-thread connection. In WAL mode a read sees every transaction committed before it
// started, so a read issued after a write's promise resolved sees that write. Statements are prepared once.
import type { MessageSummary } from '../../mime/types.ts';
import type {
  Alias,
  Ban,
  Domain,
  Mailbox,
  MailboxStatus,
  MessageMeta,
  MessageWithEnvelope,
  MessageWithSummary,
  QueueEntry,
  QuotaUsage,
  TextSearchField,
  User,
} from '../types.ts';
import { StoreError } from '../types.ts';
import { statementCache, toStoreError, type SqliteDatabase, type SqliteStatement } from './connection.ts';
import { canonicalName } from './names.ts';
import type { SegmentReader } from './segments.ts';

/** Where a body is: in its row (raw) or in a segment record. */
interface BodyLocation {
  size: number;
  segment: number | null;
  seg_offset: number | null;
  seg_nonce: Buffer | null;
  seg_length: number | null;
  raw: Buffer | null;
}
import { uidRuns } from './uid-runs.ts';
import {
  MAILBOX_COLUMNS,
  toBan,
  toDomain,
  toMailbox,
  toQueueEntry,
  toUser,
  type BanRow,
  type DomainRow,
  type MailboxRow,
  type MessageRow,
  type QueueRecipientRow,
  type QueueRow,
  type UserRow,
} from './rows.ts';

/** A needle longer than this is no word anyone searches for; it bounds the work per row. */
export const MAX_SEARCH_NEEDLE_LENGTH = 1024;

export class Reader {
  private readonly prepared: (text: string) => SqliteStatement;
  private rawStatements = new Map<string, SqliteStatement>();

  constructor(
    private readonly db: SqliteDatabase,
    /** Bodies stored in segment files (segments.ts). */
    private readonly segments: SegmentReader | null = null,
  ) {
    this.prepared = statementCache(db);
  }

  /** Runs a read, turning SQLite errors into StoreErrors ('corrupt' for a page that fails authentication). */
  private run<T>(doing: string, read: () => T): T {
    try {
      return read();
    } catch (error) {
      throw toStoreError(error, doing);
    }
  }

  private sql(text: string): SqliteStatement {
    return this.prepared(text);
  }

  /** A statement returning rows as arrays, cached apart from sql()'s (raw mode is a property of the statement). */
  private rawSql(text: string): SqliteStatement {
    let statement = this.rawStatements.get(text);
    if (!statement) {
      statement = this.db.prepare<unknown[], unknown>(text).raw(true);
      this.rawStatements.set(text, statement);
    }
    return statement;
  }

  // ------------------------------------------------------------ accounts

  listDomains(): Domain[] {
    return this.run('listing domains', () => (this.sql('SELECT * FROM domains ORDER BY name').all() as DomainRow[]).map(toDomain));
  }

  hasDomain(name: string): boolean {
    return this.run('looking up a domain', () => this.sql('SELECT 1 FROM domains WHERE name = ?').get(name.trim().toLowerCase().replace(/\.$/, '')) !== undefined);
  }

  getUser(address: string): User | null {
    return this.run('looking up a user', () => {
      const row = this.sql('SELECT * FROM users WHERE address = ?').get(address.trim().toLowerCase()) as UserRow | undefined;
      return row ? toUser(row) : null;
    });
  }

  getUserById(id: number): User | null {
    return this.run('looking up a user', () => {
      const row = this.sql('SELECT * FROM users WHERE id = ?').get(id) as UserRow | undefined;
      return row ? toUser(row) : null;
    });
  }

  listUsers(domain?: string): User[] {
    return this.run('listing users', () => {
      const rows = domain === undefined
        ? (this.sql('SELECT * FROM users ORDER BY address').all() as UserRow[])
        : (this.sql('SELECT * FROM users WHERE domain = ? ORDER BY address').all(domain.trim().toLowerCase()) as UserRow[]);
      return rows.map(toUser);
    });
  }

  listAliases(domain?: string): Alias[] {
    return this.run('listing aliases', () => {
      const rows = domain === undefined
        ? this.sql('SELECT source, destination FROM aliases ORDER BY source, destination').all()
        : this.sql('SELECT source, destination FROM aliases WHERE domain = ? ORDER BY source, destination').all(domain.trim().toLowerCase());
      return rows as Alias[];
    });
  }

  aliasTargets(source: string): string[] {
    return this.run('resolving an alias', () =>
      (this.sql('SELECT destination FROM aliases WHERE source = ? ORDER BY destination').all(source.trim().toLowerCase()) as { destination: string }[]).map((r) => r.destination),
    );
  }

  // ------------------------------------------------------------ mailboxes

  listMailboxes(userId: number): Mailbox[] {
    return this.run('listing mailboxes', () =>
      (this.sql(`SELECT ${MAILBOX_COLUMNS} FROM mailboxes m WHERE m.user_id = ? ORDER BY m.name = 'INBOX' DESC, m.name`).all(userId) as MailboxRow[]).map(toMailbox),
    );
  }

  getMailbox(userId: number, name: string): Mailbox | null {
    return this.run('looking up a mailbox', () => {
      const row = this.sql(`SELECT ${MAILBOX_COLUMNS} FROM mailboxes m WHERE m.user_id = ? AND m.name_key = ?`).get(userId, canonicalName(name)) as MailboxRow | undefined;
      return row ? toMailbox(row) : null;
    });
  }

  getMailboxById(id: number): Mailbox | null {
    return this.run('looking up a mailbox', () => {
      const row = this.sql(`SELECT ${MAILBOX_COLUMNS} FROM mailboxes m WHERE m.id = ?`).get(id) as MailboxRow | undefined;
      return row ? toMailbox(row) : null;
    });
  }

  listSubscriptions(userId: number): string[] {
    return this.run('listing subscriptions', () =>
      (this.sql('SELECT name FROM subscriptions WHERE user_id = ? ORDER BY name').all(userId) as { name: string }[]).map((r) => r.name),
    );
  }

  mailboxStatus(mailboxId: number): MailboxStatus {
    return this.run('reading mailbox status', () => {
      const row = this.sql(`SELECT ${MAILBOX_COLUMNS} FROM mailboxes m WHERE m.id = ?`).get(mailboxId) as MailboxRow | undefined;
      if (!row) throw new StoreError('not_found', `mailbox #${mailboxId} does not exist`);
      const counts = this.sql('SELECT coalesce(sum(seen = 0), 0) AS unseen, coalesce(sum(deleted), 0) AS deleted FROM messages WHERE mailbox_id = ?').get(mailboxId) as {
        unseen: number;
        deleted: number;
      };
      return {
        messages: row.message_count,
        unseen: counts.unseen,
        recent: 0, // IMAP4rev2 dropped \Recent; IMAP4rev1 allows 0.
        size: row.total_size,
        uidNext: row.uid_next,
        uidValidity: row.uid_validity,
        highestModSeq: row.highest_modseq,
        deleted: counts.deleted,
      };
    });
  }

  quotaUsage(userId: number): QuotaUsage {
    return this.run('reading quota usage', () => {
      const row = this.sql(
        `SELECT u.quota_bytes AS quota, coalesce(sum(m.total_size), 0) AS used, coalesce(sum(m.message_count), 0) AS messages
         FROM users u LEFT JOIN mailboxes m ON m.user_id = u.id WHERE u.id = ? GROUP BY u.id`,
      ).get(userId) as { quota: number; used: number; messages: number } | undefined;
      if (!row) throw new StoreError('not_found', `user #${userId} does not exist`);
      return { usedBytes: row.used, messages: row.messages, limitBytes: row.quota };
    });
  }

  // ------------------------------------------------------------ messages

  listMessages(mailboxId: number): MessageMeta[] {
    return this.run('listing messages', () => {
      // Rows as arrays (raw mode): no intermediate object per row, one MessageMeta built directly.
      const rows = this.rawSql('SELECT uid, modseq, flags, internal_date, size, body_id FROM messages WHERE mailbox_id = ? ORDER BY uid').all(mailboxId) as [
        number,
        number,
        string,
        number,
        number,
        number,
      ][];
      const out: MessageMeta[] = new Array(rows.length);
      for (let i = 0; i < rows.length; i++) {
        const r = rows[i]!;
        out[i] = { uid: r[0], modseq: r[1], flags: parseFlags(r[2]), internalDate: r[3], size: r[4], bodyId: r[5] };
      }
      return out;
    });
  }

  getMessages(mailboxId: number, uids: readonly number[]): MessageWithSummary[] {
    if (uids.length === 0) return [];
    return this.run('reading messages', () => {
      // One prepared range query per run of nearby UIDs (the index is (mailbox_id, uid)), rows outside the
      // requested set dropped here: no IN list to build and sort, no per-call SQL text. See uidRuns.
      const statement = this.rawSql(
        `SELECT m.uid, m.modseq, m.flags, m.internal_date, m.size, m.body_id, b.summary
         FROM messages m JOIN bodies b ON b.id = m.body_id
         WHERE m.mailbox_id = ? AND m.uid BETWEEN ? AND ? ORDER BY m.uid`,
      );
      const out: MessageWithSummary[] = [];
      for (const run of uidRuns(uids)) {
        for (const r of statement.all(mailboxId, run.first, run.last) as [number, number, string, number, number, number, string][]) {
          if (run.wanted !== null && !run.wanted.has(r[0])) continue;
          out.push({ uid: r[0], modseq: r[1], flags: parseFlags(r[2]), internalDate: r[3], size: r[4], bodyId: r[5], summary: JSON.parse(r[6]) as MessageSummary });
        }
      }
      return out;
    });
  }

  getEnvelopes(mailboxId: number, uids: readonly number[]): MessageWithEnvelope[] {
    if (uids.length === 0) return [];
    return this.run('reading messages', () => {
      // As getMessages, but the summary is read (and parsed) only where no rendered envelope is stored.
      const statement = this.rawSql(
        `SELECT m.uid, m.modseq, m.flags, m.internal_date, m.size, m.body_id, b.envelope, CASE WHEN b.envelope IS NULL THEN b.summary END
         FROM messages m JOIN bodies b ON b.id = m.body_id
         WHERE m.mailbox_id = ? AND m.uid BETWEEN ? AND ? ORDER BY m.uid`,
      );
      const out: MessageWithEnvelope[] = [];
      for (const run of uidRuns(uids)) {
        for (const r of statement.all(mailboxId, run.first, run.last) as [number, number, string, number, number, number, string | null, string | null][]) {
          if (run.wanted !== null && !run.wanted.has(r[0])) continue;
          const summary = r[6] === null ? (JSON.parse(r[7] as string) as MessageSummary) : null;
          out.push({ uid: r[0], modseq: r[1], flags: parseFlags(r[2]), internalDate: r[3], size: r[4], bodyId: r[5], envelope: r[6], summary });
        }
      }
      return out;
    });
  }

  getBody(bodyId: number): Buffer {
    return this.run(`reading body #${bodyId}`, () => {
      const select = this.sql('SELECT size, segment, seg_offset, seg_nonce, seg_length, CASE WHEN segment IS NULL THEN raw END AS raw FROM bodies WHERE id = ?');
      const row = select.get(bodyId) as BodyLocation | undefined;
      if (!row) throw new StoreError('not_found', `body #${bodyId} does not exist`);
      if (row.segment === null) return row.raw as Buffer;
      if (!this.segments) throw new StoreError('unavailable', `body #${bodyId} is in a segment file and this reader has none`);
      try {
        return this.segments.read(row.segment, row.seg_offset as number, bodyId, row.size, row.seg_nonce, row.seg_length);
      } catch (error) {
        // Compaction (compaction.ts) may have moved the record and deleted its file between the SELECT and the
        // read. Then the row names another place now: read there, once. Anything else is the error it was.
        const now = select.get(bodyId) as BodyLocation | undefined;
        if (!now || now.segment === null || (now.segment === row.segment && now.seg_offset === row.seg_offset)) throw error;
        return this.segments.read(now.segment, now.seg_offset as number, bodyId, now.size, now.seg_nonce, now.seg_length);
      }
    });
  }

  changedSince(mailboxId: number, modseq: number): MessageMeta[] {
    return this.run('reading changes', () =>
      (this.sql('SELECT uid, modseq, flags, internal_date, size, body_id FROM messages WHERE mailbox_id = ? AND modseq > ? ORDER BY uid').all(mailboxId, modseq) as MessageRow[]).map(toMeta),
    );
  }

  expungedSince(mailboxId: number, modseq: number): number[] {
    return this.run('reading expunges', () =>
      (this.sql('SELECT uid FROM tombstones WHERE mailbox_id = ? AND modseq > ? ORDER BY uid').all(mailboxId, modseq) as { uid: number }[]).map((r) => r.uid),
    );
  }

  searchText(mailboxId: number, field: TextSearchField, needle: string, uids?: readonly number[]): number[] {
    if (needle.length > MAX_SEARCH_NEEDLE_LENGTH) throw new StoreError('invalid', `search text longer than ${MAX_SEARCH_NEEDLE_LENGTH} characters`);
    // The stored text is lower-cased at delivery (JavaScript's Unicode case mapping, not SQLite's ASCII
    // lower()), so the match is a plain instr() on the needle lower-cased the same way.
    const lowered = needle.toLowerCase();
    const condition =
      field === 'header' ? 'instr(t.header, @needle) > 0' : field === 'body' ? 'instr(t.body, @needle) > 0' : '(instr(t.header, @needle) > 0 OR instr(t.body, @needle) > 0)';
    return this.run('searching text', () => {
      const rows =
        uids === undefined
          ? this.sql(`SELECT m.uid FROM messages m JOIN body_text t ON t.body_id = m.body_id WHERE m.mailbox_id = @mailboxId AND ${condition} ORDER BY m.uid`).all({ needle: lowered, mailboxId })
          : this.sql(
              `SELECT m.uid FROM messages m JOIN body_text t ON t.body_id = m.body_id
               WHERE m.mailbox_id = @mailboxId AND m.uid IN (SELECT value FROM json_each(@uids)) AND ${condition} ORDER BY m.uid`,
            ).all({ needle: lowered, mailboxId, uids: JSON.stringify(uids) });
      return (rows as { uid: number }[]).map((r) => r.uid);
    });
  }

  // ------------------------------------------------------------ queue

  listQueue(): QueueEntry[] {
    return this.run('listing the queue', () => this.queueEntries(this.sql('SELECT id, sender, created_at, size, meta FROM queue ORDER BY created_at, id').all() as QueueRow[]));
  }

  getQueueEntry(id: string): QueueEntry | null {
    return this.run('reading a queue entry', () => {
      const row = this.sql('SELECT id, sender, created_at, size, meta FROM queue WHERE id = ?').get(id) as QueueRow | undefined;
      return row ? (this.queueEntries([row])[0] ?? null) : null;
    });
  }

  getQueueRaw(id: string): Buffer {
    return this.run(`reading queue entry ${id}`, () => {
      const row = this.sql('SELECT raw FROM queue WHERE id = ?').get(id) as { raw: Buffer } | undefined;
      if (!row) throw new StoreError('not_found', `queue entry ${id} does not exist`);
      return row.raw;
    });
  }

  dueQueue(now: number): QueueEntry[] {
    return this.run('reading due queue entries', () =>
      this.queueEntries(
        this.sql(
          `SELECT id, sender, created_at, size, meta FROM queue WHERE id IN
             (SELECT queue_id FROM queue_recipients WHERE state IN ('pending', 'deferred') AND next_attempt_at <= ?)
           ORDER BY created_at, id`,
        ).all(now) as QueueRow[],
      ),
    );
  }

  private queueEntries(rows: QueueRow[]): QueueEntry[] {
    const recipients = this.sql('SELECT * FROM queue_recipients WHERE queue_id = ? ORDER BY position');
    return rows.map((row) => toQueueEntry(row, recipients.all(row.id) as QueueRecipientRow[]));
  }

  // ------------------------------------------------------------ bans and secrets

  listBans(now: number): Ban[] {
    return this.run('listing bans', () => (this.sql('SELECT * FROM bans WHERE expires_at = 0 OR expires_at > ? ORDER BY target').all(now) as BanRow[]).map(toBan));
  }

  getBan(target: string): Ban | null {
    return this.run('reading a ban', () => {
      const row = this.sql('SELECT * FROM bans WHERE target = ?').get(target) as BanRow | undefined;
      return row ? toBan(row) : null;
    });
  }

  getSecret(name: string): Buffer | null {
    return this.run('reading a secret', () => {
      const row = this.sql('SELECT value FROM secrets WHERE name = ?').get(name) as { value: Buffer } | undefined;
      return row ? row.value : null;
    });
  }

  listSecrets(prefix: string): string[] {
    return this.run('listing secrets', () =>
      (this.sql('SELECT name FROM secrets WHERE substr(name, 1, length(@prefix)) = @prefix ORDER BY name').all({ prefix }) as { name: string }[]).map((r) => r.name),
    );
  }
}

// Most messages of a mailbox share one of a few flag sets (none, \Seen, \Seen \Answered, ...): each distinct
// stored text is parsed once, not once per row. The cache is bounded; every caller gets its own array.
const FLAG_CACHE_LIMIT = 256;
const flagCache = new Map<string, readonly string[]>();
function parseFlags(text: string): string[] {
  if (text === '[]') return [];
  let flags = flagCache.get(text);
  if (flags === undefined) {
    flags = JSON.parse(text) as string[];
    if (flagCache.size >= FLAG_CACHE_LIMIT) flagCache.clear();
    flagCache.set(text, flags);
  }
  return flags.slice();
}

function toMeta(row: MessageRow): MessageMeta {
  return { uid: row.uid, modseq: row.modseq, flags: parseFlags(row.flags), internalDate: row.internal_date, size: row.size, bodyId: row.body_id };
}
