// The store's contract: everything mailstack keeps, behind one interface. The embedded implementation
// (sqlite/) is the only one today; a PostgreSQL one will implement the same interface, checked by the same
// conformance tests. Nothing outside src/store knows SQL.
//
// Durability: every method that changes state resolves only after the change is on stable storage (fsync).
// Reads see every change whose promise has resolved.
import type { MessageSummary } from '../mime/types.ts';

// ---------------------------------------------------------------- accounts

export interface Domain {
  name: string;
  createdAt: number;
}

export interface User {
  id: number;
  /** Lower-case address, local@domain. */
  address: string;
  /** bcrypt, or a Dovecot `{SCHEME}hash` string kept as imported. */
  passwordHash: string;
  /** 0 = unlimited. */
  quotaBytes: number;
  /** Extra From addresses this user may send as (beyond their own address and aliases that reach them). */
  sendAs: string[];
  /** Postfix reject_sender_login_mismatch per user: false lets the user send as anyone. */
  enforceSender: boolean;
  createdAt: number;
}

export interface Alias {
  /** "local@domain", or "@domain" for a catch-all. Lower-case. */
  source: string;
  /** A full address. */
  destination: string;
}

export interface NewUser {
  address: string;
  passwordHash: string;
  quotaBytes?: number;
}

export interface UserUpdate {
  passwordHash?: string;
  quotaBytes?: number;
  sendAs?: string[];
  enforceSender?: boolean;
}

export interface AccountStore {
  addDomain(name: string): Promise<Domain>;
  /** Refuses (StoreError 'in_use') while users or aliases of the domain exist, unless force. */
  deleteDomain(name: string, options?: { force?: boolean }): Promise<void>;
  listDomains(): Promise<Domain[]>;
  hasDomain(name: string): Promise<boolean>;

  /** Creates the user with INBOX and the special-use mailboxes, all subscribed. */
  addUser(user: NewUser): Promise<User>;
  updateUser(address: string, update: UserUpdate): Promise<User>;
  /** Deletes the user and all their mail. */
  deleteUser(address: string): Promise<void>;
  getUser(address: string): Promise<User | null>;
  getUserById(id: number): Promise<User | null>;
  listUsers(domain?: string): Promise<User[]>;

  addAlias(source: string, destination: string): Promise<void>;
  /** Without destination: every alias of that source. Returns how many were deleted. */
  deleteAlias(source: string, destination?: string): Promise<number>;
  listAliases(domain?: string): Promise<Alias[]>;
  /** Destinations for an exact source ("a@d" or "@d"). */
  aliasTargets(source: string): Promise<string[]>;
}

// ---------------------------------------------------------------- mailboxes and messages

export type SpecialUse = '\\Drafts' | '\\Junk' | '\\Trash' | '\\Sent' | '\\Archive' | '\\All' | '\\Flagged';

export interface Mailbox {
  id: number;
  userId: number;
  /** Full name with "/" as the hierarchy separator, in UTF-8. "INBOX" is always spelled so. */
  name: string;
  uidValidity: number;
  uidNext: number;
  highestModSeq: number;
  specialUse: SpecialUse | null;
  subscribed: boolean;
}

export interface MailboxStatus {
  messages: number;
  unseen: number;
  recent: number;
  /** Sum of RFC822.SIZE (RFC 8438 STATUS=SIZE). */
  size: number;
  uidNext: number;
  uidValidity: number;
  highestModSeq: number;
  deleted: number;
}

export interface MessageMeta {
  uid: number;
  modseq: number;
  /** System flags (\Seen, \Answered, \Flagged, \Deleted, \Draft) and keywords, as IMAP spells them. */
  flags: string[];
  /** ms since epoch. */
  internalDate: number;
  /** RFC822.SIZE: octets of the stored message. */
  size: number;
  /** Identifies the stored body; shared between copies of one message. */
  bodyId: number;
}

export interface MessageWithSummary extends MessageMeta {
  summary: MessageSummary;
}

export interface MessageWithEnvelope extends MessageMeta {
  /** ENVELOPE in IMAP syntax (RFC 9051 7.5.2), the same with and without UTF8=ACCEPT; null when it is not
   * stored (8-bit header text, or a message stored before it was): then `summary` is there to render it. */
  envelope: string | null;
  summary: MessageSummary | null;
}

export type FlagOperation = 'add' | 'remove' | 'set';

export interface FlagUpdateResult {
  /** Messages whose flags changed, grouped by their new flag set (UIDs ascending within a group). A STORE on
   * a whole mailbox is then a few groups, not one object per message. */
  updated: { uids: number[]; flags: string[] }[];
  /** The modseq every changed message now carries (one per operation); 0 when nothing changed. */
  modseq: number;
  /** RFC 7162 3.1.3: UIDs not changed because their modseq was above UNCHANGEDSINCE. */
  modifiedSince: number[];
}

export interface CopyResult {
  uidValidity: number;
  /** [source uid, destination uid] in source-uid order. */
  pairs: [number, number][];
}

export interface AppendInput {
  raw: Buffer;
  flags?: string[];
  /** ms since epoch; default now. */
  internalDate?: number;
}

/** One local recipient of a delivery: the mailbox name falls back to INBOX when it does not exist. */
export interface DeliveryTarget {
  userId: number;
  mailbox?: string;
  flags?: string[];
}

export interface DeliveryInput {
  raw: Buffer;
  targets: DeliveryTarget[];
  internalDate?: number;
  /** Ignore quotas (for example mail to postmaster from the system). */
  ignoreQuota?: boolean;
  /** The copies of the same message for remote recipients (relayed, or reached through an alias), put in
   * the outbound queue in the same transaction as the local copies: both are stored or neither is, so a
   * sender told to retry never makes a second local copy. Queued even when every target is over quota. */
  enqueue?: OutboundMessage;
}

export interface OutboundMessage {
  sender: string;
  recipients: string[];
  raw: Buffer;
}

export interface DeliveryResult {
  stored: { userId: number; mailboxId: number; mailbox: string; uid: number }[];
  /** Targets refused because they were over quota; nothing was stored for them. */
  overQuota: number[];
  /** The queue entry made for `enqueue`, when it was given. */
  queued?: QueueEntry;
}

export interface QuotaUsage {
  usedBytes: number;
  messages: number;
  limitBytes: number;
}

export type TextSearchField = 'body' | 'text' | 'header';

export interface MailStore {
  listMailboxes(userId: number): Promise<Mailbox[]>;
  /** Exact name; "inbox" in any case finds INBOX. */
  getMailbox(userId: number, name: string): Promise<Mailbox | null>;
  getMailboxById(id: number): Promise<Mailbox | null>;
  createMailbox(userId: number, name: string, options?: { specialUse?: SpecialUse | null; subscribe?: boolean }): Promise<Mailbox>;
  /** Deletes the mailbox and its messages. INBOX cannot be deleted. */
  deleteMailbox(mailboxId: number): Promise<void>;
  /** Renames the mailbox and every mailbox below it ("a" -> "b" takes "a/x" to "b/x"). Renaming INBOX
   * moves its messages to a new mailbox and leaves INBOX empty (RFC 9051 6.3.6). */
  renameMailbox(mailboxId: number, newName: string): Promise<void>;
  /** Subscriptions are by name and may name mailboxes that do not exist (RFC 9051 6.3.7). */
  setSubscribed(userId: number, name: string, subscribed: boolean): Promise<void>;
  listSubscriptions(userId: number): Promise<string[]>;
  mailboxStatus(mailboxId: number): Promise<MailboxStatus>;

  /** All messages of a mailbox in UID order: what SELECT needs to build its sequence map. */
  listMessages(mailboxId: number): Promise<MessageMeta[]>;
  /** The given UIDs (missing ones are skipped), in UID order, with their precomputed summary. */
  getMessages(mailboxId: number, uids: readonly number[]): Promise<MessageWithSummary[]>;
  /** Like getMessages for FETCH ENVELOPE: the envelope rendered at delivery, the summary only without it. */
  getEnvelopes(mailboxId: number, uids: readonly number[]): Promise<MessageWithEnvelope[]>;
  /** The raw message. Throws StoreError 'corrupt' when it fails authentication: never served. */
  getBody(bodyId: number): Promise<Buffer>;
  /** Messages whose modseq is above `modseq` (CONDSTORE CHANGEDSINCE). */
  changedSince(mailboxId: number, modseq: number): Promise<MessageMeta[]>;
  /** UIDs expunged at a modseq above `modseq` (QRESYNC VANISHED (EARLIER)). */
  expungedSince(mailboxId: number, modseq: number): Promise<number[]>;
  /** UIDs (among `uids`, or all when omitted) whose decoded text contains `needle`, case-insensitively. */
  searchText(mailboxId: number, field: TextSearchField, needle: string, uids?: readonly number[]): Promise<number[]>;

  append(mailboxId: number, input: AppendInput): Promise<{ uid: number; uidValidity: number; modseq: number }>;
  /** Stores one message for every target in one transaction (atomic across recipients). */
  deliver(input: DeliveryInput): Promise<DeliveryResult>;
  updateFlags(
    mailboxId: number,
    uids: readonly number[],
    operation: FlagOperation,
    flags: readonly string[],
    options?: { unchangedSince?: number },
  ): Promise<FlagUpdateResult>;
  /** Removes the messages; returns the UIDs actually expunged and the new highest modseq. */
  expunge(mailboxId: number, uids: readonly number[]): Promise<{ uids: number[]; modseq: number }>;
  copy(sourceMailboxId: number, uids: readonly number[], targetMailboxId: number): Promise<CopyResult>;
  /** Copy then expunge from the source, atomically (RFC 6851). */
  move(sourceMailboxId: number, uids: readonly number[], targetMailboxId: number): Promise<CopyResult>;

  quotaUsage(userId: number): Promise<QuotaUsage>;

  /** Import (`mailstack import`): sets a mailbox's UIDVALIDITY to the one it had in the old server
   * (dovecot-uidlist) so clients keep their caches. Refused (StoreError 'in_use') once the mailbox holds
   * messages and the value differs. */
  setUidValidity(mailboxId: number, uidValidity: number): Promise<void>;
  /** Import: stores a message with the UID it had in the old server. The UID must be at least the
   * mailbox's UIDNEXT (StoreError 'exists' otherwise: already imported); UIDNEXT becomes uid + 1.
   * Quota is not checked: the mail already belonged to the user. */
  importMessage(mailboxId: number, input: AppendInput & { uid: number }): Promise<{ uid: number; modseq: number }>;
}

// ---------------------------------------------------------------- change feed

export type MailboxChange =
  /** A new message and the flags it was stored with. */
  | { kind: 'exists'; mailboxId: number; uid: number; modseq: number; flags: string[] }
  | { kind: 'expunge'; mailboxId: number; uids: number[]; modseq: number }
  /** Every message in `uids` (ascending) now has exactly `flags`: one change per distinct new flag set of an
   * operation, so a bulk STORE crosses from the writer thread as a few UID lists. */
  | { kind: 'flags'; mailboxId: number; uids: number[]; flags: string[]; modseq: number }
  | { kind: 'deleted'; mailboxId: number };

export interface ChangeFeed {
  /** Listener is called after the change is durable, in commit order. Returns an unsubscribe function. */
  subscribe(mailboxId: number, listener: (change: MailboxChange) => void): () => void;
}

// ---------------------------------------------------------------- outbound queue

export type QueueRecipientState = 'pending' | 'deferred' | 'delivered' | 'failed';

export interface QueueRecipient {
  address: string;
  state: QueueRecipientState;
  attempts: number;
  /** ms since epoch of the next try (pending/deferred). */
  nextAttemptAt: number;
  lastError: string | null;
  /** RFC 3464 fields for the DSN: the remote MTA and its reply. */
  remoteMta: string | null;
  status: string | null;
}

export interface QueueEntry {
  id: string;
  /** Envelope sender; "" for the null sender (bounces). */
  sender: string;
  createdAt: number;
  size: number;
  recipients: QueueRecipient[];
  /** Free-form JSON the queue keeps with a message (DSN options, delay-warning state...). */
  meta: Record<string, unknown>;
}

export interface QueueStore {
  enqueue(input: { sender: string; recipients: string[]; raw: Buffer; meta?: Record<string, unknown> }): Promise<QueueEntry>;
  list(): Promise<QueueEntry[]>;
  get(id: string): Promise<QueueEntry | null>;
  getRaw(id: string): Promise<Buffer>;
  /** Entries with a recipient due at or before `now`. */
  due(now: number): Promise<QueueEntry[]>;
  updateRecipients(
    id: string,
    updates: { address: string; state: QueueRecipientState; nextAttemptAt?: number; lastError?: string | null; remoteMta?: string | null; status?: string | null; attempted?: boolean }[],
    meta?: Record<string, unknown>,
  ): Promise<void>;
  /** Makes every pending/deferred recipient due now (postqueue -f). */
  retryAll(id?: string): Promise<number>;
  delete(id: string): Promise<boolean>;
}

// ---------------------------------------------------------------- bans (access control)

export interface Ban {
  /** An address or CIDR. */
  target: string;
  reason: string;
  createdAt: number;
  /** ms since epoch; 0 = never. */
  expiresAt: number;
  /** How many times this source has been banned (bans grow for repeat offenders). */
  count: number;
}

export interface BanStore {
  put(ban: Ban): Promise<void>;
  delete(target: string): Promise<boolean>;
  /** Bans not yet expired at `now`. */
  list(now: number): Promise<Ban[]>;
  /** Every ban, with expired ones (their count still matters for repeat offenders). */
  get(target: string): Promise<Ban | null>;
  flush(): Promise<number>;
}

// ---------------------------------------------------------------- small encrypted secrets and settings

export interface SecretStore {
  get(name: string): Promise<Buffer | null>;
  put(name: string, value: Buffer): Promise<void>;
  delete(name: string): Promise<boolean>;
  /** Names starting with prefix. */
  list(prefix: string): Promise<string[]>;
}

// ---------------------------------------------------------------- the whole store

export interface Store {
  readonly accounts: AccountStore;
  readonly mail: MailStore;
  readonly changes: ChangeFeed;
  readonly queue: QueueStore;
  readonly bans: BanStore;
  readonly secrets: SecretStore;
  /** Checks every stored page/blob against its authentication tag. */
  verify(): Promise<{ ok: boolean; problems: string[] }>;
  /** Gives the space of deleted message bodies back to the file system: rewrites the body files whose share of
   * dead bytes is at least `minDeadRatio` (default 0.5; 0 rewrites every file with any). And merges small body
   * files (below 8 MiB; one per `mailstack deliver` run without a server) into one, when there are two or more
   * (in direct mode only those not written to within the last hour). */
  compact(options?: { minDeadRatio?: number }): Promise<CompactionReport>;
  /** Bytes the store can still write: what the file system of the data directory has free for an unprivileged
   * user. SMTP refuses mail at MAIL FROM below a threshold ([store] min_free_bytes), as Postfix does. */
  freeSpace(): Promise<number>;
  close(): Promise<void>;
}

export interface CompactionReport {
  /** Body files deleted. */
  files: number;
  /** Of `files`, the small ones merged (their bodies copied into the current file), not mostly dead ones. */
  filesMerged: number;
  /** Their size on disk. */
  bytesFreed: number;
  /** Live bodies copied out of them first (each written once more). */
  bodiesMoved: number;
  bytesMoved: number;
}

/** 'no_space': the file system holding the store is full (ENOSPC, EDQUOT, SQLITE_FULL); nothing of the write
 * was kept, and it can succeed once space is freed. */
export type StoreErrorCode = 'not_found' | 'exists' | 'in_use' | 'invalid' | 'corrupt' | 'locked' | 'unavailable' | 'over_quota' | 'no_space';

export class StoreError extends Error {
  constructor(
    readonly code: StoreErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'StoreError';
  }
}
