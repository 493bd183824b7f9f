// The schema and its migrations, in one place. `PRAGMA user_version` holds the number of migrations
// applied; each migration runs once, in its own transaction, in order. Never edit a released migration:
// add a new one.
import type { SqliteDatabase } from './connection.ts';

const MIGRATIONS: readonly string[] = [
  // 1: everything of the first version.
  `
  CREATE TABLE domains (
    name TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    address TEXT NOT NULL UNIQUE,
    domain TEXT NOT NULL REFERENCES domains(name),
    password_hash TEXT NOT NULL,
    quota_bytes INTEGER NOT NULL DEFAULT 0,
    send_as TEXT NOT NULL DEFAULT '[]',
    enforce_sender INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX users_domain ON users(domain);
  CREATE TABLE aliases (
    source TEXT NOT NULL,
    destination TEXT NOT NULL,
    domain TEXT NOT NULL,
    PRIMARY KEY (source, destination)
  ) WITHOUT ROWID;
  CREATE INDEX aliases_domain ON aliases(domain);

  -- name_key is the name with INBOX case-folded, the unique lookup key (RFC 9051 5.1: INBOX is
  -- case-insensitive). message_count and total_size are kept in step by every write, for STATUS and quota.
  CREATE TABLE mailboxes (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    uid_validity INTEGER NOT NULL,
    uid_next INTEGER NOT NULL DEFAULT 1,
    highest_modseq INTEGER NOT NULL DEFAULT 1,
    special_use TEXT,
    message_count INTEGER NOT NULL DEFAULT 0,
    total_size INTEGER NOT NULL DEFAULT 0,
    UNIQUE (user_id, name_key)
  );
  CREATE TABLE subscriptions (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    PRIMARY KEY (user_id, name)
  ) WITHOUT ROWID;

  -- One row per delivered message, shared by every copy (refs counts the messages rows pointing here).
  CREATE TABLE bodies (
    id INTEGER PRIMARY KEY,
    size INTEGER NOT NULL,
    refs INTEGER NOT NULL,
    summary TEXT NOT NULL,
    raw BLOB NOT NULL
  );
  -- Decoded text for SEARCH, lower-cased once at delivery so a search is instr() in SQL.
  CREATE TABLE body_text (
    body_id INTEGER PRIMARY KEY REFERENCES bodies(id) ON DELETE CASCADE,
    header TEXT NOT NULL,
    body TEXT NOT NULL
  );
  CREATE TABLE messages (
    mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    uid INTEGER NOT NULL,
    modseq INTEGER NOT NULL,
    flags TEXT NOT NULL,
    seen INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    internal_date INTEGER NOT NULL,
    size INTEGER NOT NULL,
    body_id INTEGER NOT NULL REFERENCES bodies(id),
    PRIMARY KEY (mailbox_id, uid)
  ) WITHOUT ROWID;
  CREATE INDEX messages_modseq ON messages(mailbox_id, modseq);
  CREATE INDEX messages_body ON messages(body_id);
  -- RFC 7162 3.2.10: expunged UIDs with the modseq of their expunge, for VANISHED (EARLIER).
  CREATE TABLE tombstones (
    mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    uid INTEGER NOT NULL,
    modseq INTEGER NOT NULL,
    PRIMARY KEY (mailbox_id, uid)
  ) WITHOUT ROWID;

  CREATE TABLE queue (
    id TEXT PRIMARY KEY,
    sender TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    size INTEGER NOT NULL,
    meta TEXT NOT NULL,
    raw BLOB NOT NULL
  );
  CREATE TABLE queue_recipients (
    queue_id TEXT NOT NULL REFERENCES queue(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    address TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error TEXT,
    remote_mta TEXT,
    status TEXT,
    PRIMARY KEY (queue_id, address)
  ) WITHOUT ROWID;
  CREATE INDEX queue_recipients_due ON queue_recipients(next_attempt_at) WHERE state IN ('pending', 'deferred');

  CREATE TABLE bans (
    target TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    count INTEGER NOT NULL
  ) WITHOUT ROWID;

  CREATE TABLE secrets (
    name TEXT PRIMARY KEY,
    value BLOB NOT NULL
  ) WITHOUT ROWID;
  `,
  // 2: bodies in segment files (segments.ts). For such a row raw is empty and (segment, seg_offset) locate
  // its sealed record; NULL for bodies kept in the row. The index answers "end of the last record per
  // segment" at open without reading the bodies table.
  `
  ALTER TABLE bodies ADD COLUMN segment INTEGER;
  ALTER TABLE bodies ADD COLUMN seg_offset INTEGER;
  CREATE INDEX bodies_segment ON bodies(segment, seg_offset) WHERE segment IS NOT NULL;
  `,
  // 3: the nonce of a body's segment record (segments.ts, record form v2): the row names its record by it.
  // NULL for records of form v1, which are bound to their place and row id instead.
  `
  ALTER TABLE bodies ADD COLUMN seg_nonce BLOB;
  `,
  // 4: the message's ENVELOPE as IMAP sends it (RFC 9051 7.5.2), rendered once at delivery, so that FETCH
  // ENVELOPE reads a string instead of parsing and rendering the summary for every message (what Dovecot's
  // cache file does for it). NULL when the form differs with UTF8=ACCEPT (8-bit header text) and for bodies
  // stored before: those render from the summary.
  `
  ALTER TABLE bodies ADD COLUMN envelope TEXT;
  `,
  // 5: the body sizes in the segment index, so that compaction's live bytes per file (compaction.ts) are read
  // from the index alone, not from a row lookup per body.
  `
  DROP INDEX bodies_segment;
  CREATE INDEX bodies_segment ON bodies(segment, seg_offset, size) WHERE segment IS NOT NULL;
  `,
  // 6: the length of a segment record's packed body (body-packing.ts: base64 parts kept decoded); NULL when
  // the record holds the body as it is. In the segment index, so that compaction's live bytes per file are
  // still read from the index alone.
  `
  ALTER TABLE bodies ADD COLUMN seg_length INTEGER;
  DROP INDEX bodies_segment;
  CREATE INDEX bodies_segment ON bodies(segment, seg_offset, size, seg_length) WHERE segment IS NOT NULL;
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** Brings the database to SCHEMA_VERSION. Refuses a database written by a newer mailstack. */
export function migrate(db: SqliteDatabase): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > SCHEMA_VERSION) {
    throw new Error(`the store has schema version ${current}, newer than this mailstack's ${SCHEMA_VERSION}: upgrade mailstack`);
  }
  for (let version = current; version < SCHEMA_VERSION; version++) {
    const sql = MIGRATIONS[version] as string;
    db.transaction(() => {
      db.exec(sql);
      db.pragma(`user_version = ${version + 1}`);
    }).immediate();
  }
}
