// Mailbox names: "/" is the hierarchy separator; INBOX is case-insensitive (RFC 9051 5.1), other names are
// exact.
import { StoreError } from '../types.ts';

export const SEPARATOR = '/';
/** Longer names are refused: clients and file systems (export to Maildir) cope with this length. */
export const MAX_MAILBOX_NAME_LENGTH = 512;
/** Hierarchy depth limit, so that recursive listings stay bounded. */
export const MAX_MAILBOX_DEPTH = 32;

/** The canonical spelling: "inbox" -> "INBOX", "Inbox/x" -> "INBOX/x". */
export function canonicalName(name: string): string {
  if (name.toUpperCase() === 'INBOX') return 'INBOX';
  if (name.length > 6 && name.slice(0, 6).toUpperCase() === 'INBOX' + SEPARATOR) return 'INBOX' + name.slice(5);
  return name;
}

/** Validates and canonicalises a name for creation or rename. */
export function validName(name: string): string {
  if (typeof name !== 'string' || name.length === 0) throw new StoreError('invalid', 'mailbox name is empty');
  if (name.length > MAX_MAILBOX_NAME_LENGTH) throw new StoreError('invalid', `mailbox name longer than ${MAX_MAILBOX_NAME_LENGTH} characters`);
  if (/[\x00-\x1f\x7f]/.test(name)) throw new StoreError('invalid', 'mailbox name contains control characters');
  const parts = name.split(SEPARATOR);
  if (parts.some((p) => p.length === 0)) throw new StoreError('invalid', `mailbox name ${JSON.stringify(name)} has an empty hierarchy level`);
  if (parts.length > MAX_MAILBOX_DEPTH) throw new StoreError('invalid', `mailbox name nests deeper than ${MAX_MAILBOX_DEPTH} levels`);
  return canonicalName(name);
}
