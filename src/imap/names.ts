// Mailbox names on the wire and in the store. The store keeps UTF-8 names with "/" as the hierarchy
// separator; the wire carries modified UTF-7 (RFC 3501 5.1.3) unless UTF8=ACCEPT is enabled (RFC 6855 3).
import { ImapNo } from './errors.ts';
import { decodeMutf7, encodeMutf7 } from './mutf7.ts';

export const SEPARATOR = '/';

/** Longest mailbox name we accept, in characters: deep enough for any real folder tree, short enough
 * that LIST responses and the store's indexes stay small. */
export const MAX_MAILBOX_NAME = 512;

/** Nesting depth of a mailbox name. */
export const MAX_MAILBOX_DEPTH = 32;

/** INBOX in any case is INBOX (RFC 9051 5.1); so is the INBOX prefix of its children. */
export function normaliseInbox(name: string): string {
  if (name.length >= 5 && name.slice(0, 5).toUpperCase() === 'INBOX' && (name.length === 5 || name.charAt(5) === SEPARATOR)) {
    return 'INBOX' + name.slice(5);
  }
  return name;
}

/** Wire name -> store name, for a name that must be a valid mailbox (not a pattern). Throws ImapNo. */
export function mailboxFromWire(wire: string, utf8: boolean): string {
  let name: string;
  if (utf8) {
    name = wire;
  } else {
    try {
      name = decodeMutf7(wire);
    } catch (err) {
      throw new ImapNo('CANNOT', (err as Error).message);
    }
  }
  name = normaliseInbox(name);
  checkMailboxName(name);
  return name;
}

/** Rejects names that are not safe to store: control characters, wildcards, empty components, "." and
 * "..": no name can reach outside the user's own namespace, whatever backend the store uses. */
export function checkMailboxName(name: string): void {
  if (name.length === 0) throw new ImapNo('CANNOT', 'Empty mailbox name');
  if (name.length > MAX_MAILBOX_NAME) throw new ImapNo('LIMIT', `Mailbox name longer than ${MAX_MAILBOX_NAME} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(name)) throw new ImapNo('CANNOT', 'Mailbox name contains a control character');
  if (/[*%]/.test(name)) throw new ImapNo('CANNOT', 'Mailbox name contains a wildcard (* or %)');
  const parts = name.split(SEPARATOR);
  if (parts.length > MAX_MAILBOX_DEPTH) throw new ImapNo('LIMIT', `Mailbox name nested deeper than ${MAX_MAILBOX_DEPTH} levels`);
  for (const part of parts) {
    if (part === '') throw new ImapNo('CANNOT', 'Mailbox name has an empty hierarchy component (leading, trailing or double "/")');
    if (part === '.' || part === '..') throw new ImapNo('CANNOT', 'Mailbox name has a "." or ".." component');
    if (part.trim() !== part) throw new ImapNo('CANNOT', 'Mailbox name component starts or ends with white space');
  }
}

export function mailboxToWire(name: string, utf8: boolean): string {
  return utf8 ? name : encodeMutf7(name);
}

/** A LIST pattern (RFC 9051 6.3.9) from the wire: decoded but not validated as a name. */
export function patternFromWire(wire: string, utf8: boolean): string {
  if (utf8) return wire;
  try {
    return decodeMutf7(wire);
  } catch {
    return wire;
  }
}

/** Compiles reference + pattern into a matcher: "*" matches anything, "%" anything but the separator. */
export function compilePattern(reference: string, pattern: string): (name: string) => boolean {
  let full = pattern;
  if (reference !== '' && !pattern.startsWith(SEPARATOR)) {
    full = reference.endsWith(SEPARATOR) ? reference + pattern : reference + SEPARATOR + pattern;
  }
  full = normalisePatternInbox(full);
  let re = '^';
  for (const ch of full) {
    if (ch === '*') re += '.*';
    else if (ch === '%') re += '[^/]*';
    else re += ch.replace(/[.+?^${}()|[\]\\/]/g, '\\$&');
  }
  re += '$';
  const regex = new RegExp(re, 'su');
  return (name) => regex.test(name);
}

function normalisePatternInbox(pattern: string): string {
  // "inbox" and "InBoX/x" match INBOX; a pattern starting with wildcards is left alone.
  return normaliseInbox(pattern);
}
