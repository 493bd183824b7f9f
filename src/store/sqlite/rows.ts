// Row shapes as SQLite returns them, and their mapping to the contract's types. Shared by the reader
// (main thread) and the writer (worker thread).
import type { Ban, Domain, Mailbox, MessageMeta, QueueEntry, QueueRecipient, QueueRecipientState, SpecialUse, User } from '../types.ts';

export interface DomainRow { name: string; created_at: number }
export interface UserRow {
  id: number;
  address: string;
  domain: string;
  password_hash: string;
  quota_bytes: number;
  send_as: string;
  enforce_sender: number;
  created_at: number;
}
export interface MailboxRow {
  id: number;
  user_id: number;
  name: string;
  uid_validity: number;
  uid_next: number;
  highest_modseq: number;
  special_use: string | null;
  message_count: number;
  total_size: number;
  subscribed: number;
}
export interface MessageRow {
  uid: number;
  modseq: number;
  flags: string;
  internal_date: number;
  size: number;
  body_id: number;
}
export interface QueueRow { id: string; sender: string; created_at: number; size: number; meta: string }
export interface QueueRecipientRow {
  queue_id: string;
  address: string;
  state: string;
  attempts: number;
  next_attempt_at: number;
  last_error: string | null;
  remote_mta: string | null;
  status: string | null;
}
export interface BanRow { target: string; reason: string; created_at: number; expires_at: number; count: number }

/** Selects a mailbox row with its subscription state. */
export const MAILBOX_COLUMNS = `m.id, m.user_id, m.name, m.uid_validity, m.uid_next, m.highest_modseq, m.special_use,
  m.message_count, m.total_size,
  EXISTS (SELECT 1 FROM subscriptions s WHERE s.user_id = m.user_id AND s.name = m.name) AS subscribed`;

export function toDomain(row: DomainRow): Domain {
  return { name: row.name, createdAt: row.created_at };
}

export function toUser(row: UserRow): User {
  return {
    id: row.id,
    address: row.address,
    passwordHash: row.password_hash,
    quotaBytes: row.quota_bytes,
    sendAs: JSON.parse(row.send_as) as string[],
    enforceSender: row.enforce_sender !== 0,
    createdAt: row.created_at,
  };
}

export function toMailbox(row: MailboxRow): Mailbox {
  return {
    id: row.id,
    userId: row.user_id,
    name: row.name,
    uidValidity: row.uid_validity,
    uidNext: row.uid_next,
    highestModSeq: row.highest_modseq,
    specialUse: row.special_use as SpecialUse | null,
    subscribed: row.subscribed !== 0,
  };
}

export function toMessageMeta(row: MessageRow): MessageMeta {
  return {
    uid: row.uid,
    modseq: row.modseq,
    flags: JSON.parse(row.flags) as string[],
    internalDate: row.internal_date,
    size: row.size,
    bodyId: row.body_id,
  };
}

export function toQueueEntry(row: QueueRow, recipients: QueueRecipientRow[]): QueueEntry {
  return {
    id: row.id,
    sender: row.sender,
    createdAt: row.created_at,
    size: row.size,
    meta: JSON.parse(row.meta) as Record<string, unknown>,
    recipients: recipients.map(toQueueRecipient),
  };
}

function toQueueRecipient(row: QueueRecipientRow): QueueRecipient {
  return {
    address: row.address,
    state: row.state as QueueRecipientState,
    attempts: row.attempts,
    nextAttemptAt: row.next_attempt_at,
    lastError: row.last_error,
    remoteMta: row.remote_mta,
    status: row.status,
  };
}

export function toBan(row: BanRow): Ban {
  return { target: row.target, reason: row.reason, createdAt: row.created_at, expiresAt: row.expires_at, count: row.count };
}

/** Node hands Buffers across threads as plain Uint8Arrays: view them as Buffers again without copying. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
