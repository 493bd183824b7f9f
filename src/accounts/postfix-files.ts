// Readers for an existing Postfix + Dovecot installation's account files, as the reference set-up writes
// them: Postfix's vmailbox and virtual maps (the text sources of `postmap`) and Dovecot's passwd-file.
// Pure functions over text: every line is either taken or skipped with a reason, never silently dropped.
import { AddressError, normalizeAddress, normalizeAliasSource } from './address.ts';
import { parseSize, SizeError } from './size.ts';

/** A line longer than this is not an account entry (Postfix's own line limit for maps is similar). */
export const MAX_MAP_LINE_CHARS = 16 * 1024;

export interface Skipped {
  file: string;
  line: number;
  text: string;
  reason: string;
}

export interface MailboxEntry {
  address: string;
  /** The address as the file spells it (case, IDN form): Dovecot's %d/%n name the Maildir that way. */
  written: string;
  /** The vmailbox value: "example.org/user/" (a Maildir below virtual_mailbox_base), or "OK". */
  location: string;
  line: number;
}

export interface AliasEntry {
  source: string;
  destinations: string[];
  line: number;
}

export interface PasswdEntry {
  address: string;
  /** The user name as the file spells it (see MailboxEntry.written). */
  written: string;
  /** The password field as written ({SCHEME}hash, or a bare crypt string). */
  password: string;
  /** From a quota_rule / userdb_quota_rule "*:storage=..." extra field; undefined when none. */
  quotaBytes?: number;
  line: number;
}

interface LogicalLine {
  line: number;
  text: string;
}

/**
 * Postfix table syntax (postmap(1), "INPUT FILE FORMAT"): "#" starts a comment line, blank lines are
 * ignored, and a line that starts with whitespace continues the previous logical line.
 */
function logicalLines(text: string, file: string, skipped: Skipped[]): LogicalLine[] {
  const out: LogicalLine[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const lineNo = i + 1;
    if (raw.length > MAX_MAP_LINE_CHARS) {
      skipped.push({ file, line: lineNo, text: raw.slice(0, 80) + '...', reason: `line longer than ${MAX_MAP_LINE_CHARS} characters` });
      return;
    }
    if (/^\s*#/.test(raw) || raw.trim() === '') return;
    const last = out[out.length - 1];
    if (/^\s/.test(raw) && last) last.text += ' ' + raw.trim();
    else out.push({ line: lineNo, text: raw.trim() });
  });
  return out;
}

function splitKeyValue(text: string): [string, string] {
  const m = /^(\S+)\s*(.*)$/.exec(text);
  return [m?.[1] ?? '', (m?.[2] ?? '').trim()];
}

/** Postfix vmailbox: "address  domain/user/" (or "address OK" as in the reference article). */
export function parseVmailbox(text: string, file = 'vmailbox'): { entries: MailboxEntry[]; skipped: Skipped[] } {
  const skipped: Skipped[] = [];
  const entries: MailboxEntry[] = [];
  const seen = new Set<string>();
  for (const { line, text: l } of logicalLines(text, file, skipped)) {
    const [key, value] = splitKeyValue(l);
    const skip = (reason: string) => skipped.push({ file, line, text: l, reason });
    if (value === '') {
      skip('no value after the address (expected "address  domain/user/" or "address  OK")');
      continue;
    }
    if (key.startsWith('@')) {
      skip('a catch-all mailbox: mailstack does catch-alls with an alias (mailstack alias add @domain user@domain)');
      continue;
    }
    let address: string;
    try {
      address = normalizeAddress(key);
    } catch (err) {
      if (err instanceof AddressError) {
        skip(key.includes('@') ? err.message : `"${key}" has no domain: virtual mailboxes are full addresses`);
        continue;
      }
      throw err;
    }
    if (seen.has(address)) {
      skip(`${address} is listed twice: the first entry counts`);
      continue;
    }
    seen.add(address);
    entries.push({ address, written: key, location: value, line });
  }
  return { entries, skipped };
}

/** Postfix virtual: "source  dest1, dest2" (commas and/or whitespace between destinations). */
export function parseVirtual(text: string, file = 'virtual'): { entries: AliasEntry[]; skipped: Skipped[] } {
  const skipped: Skipped[] = [];
  const entries: AliasEntry[] = [];
  const bySource = new Map<string, AliasEntry>();
  for (const { line, text: l } of logicalLines(text, file, skipped)) {
    const [key, value] = splitKeyValue(l);
    const skip = (reason: string) => skipped.push({ file, line, text: l, reason });
    if (value === '') {
      skip('no destination after the source');
      continue;
    }
    let source: string;
    try {
      source = normalizeAliasSource(key);
    } catch (err) {
      if (err instanceof AddressError) {
        skip(key.includes('@') ? err.message : `"${key}" has no domain: a bare local name applies to Postfix's local domains, which mailstack does not have; write it as ${key}@yourdomain`);
        continue;
      }
      throw err;
    }
    if (bySource.has(source)) {
      // postmap keeps the first (with a warning); so do we.
      skip(`${source} is listed twice: the first entry counts, as with postmap`);
      continue;
    }
    const destinations: string[] = [];
    for (const d of value.split(/[\s,]+/).filter((x) => x !== '')) {
      try {
        destinations.push(normalizeAddress(d));
      } catch (err) {
        if (!(err instanceof AddressError)) throw err;
        skip(d.includes('@') ? `destination ${d}: ${err.message}` : `destination "${d}" has no domain (a local Unix user or a program/file): not imported`);
      }
    }
    if (destinations.length === 0) continue;
    const entry = { source, destinations: [...new Set(destinations)], line };
    bySource.set(source, entry);
    entries.push(entry);
  }
  return { entries, skipped };
}

/** Dovecot quota_rule values: "*:storage=1G" (also "*:bytes=..."); other rules are not storage limits. */
function quotaFromExtraFields(fields: string): number | undefined {
  for (const field of fields.split(/\s+/)) {
    const m = /^(?:userdb_)?quota_rule=\*:(?:storage|bytes)=([0-9.]+[A-Za-z]*)$/.exec(field);
    if (m?.[1] === undefined) continue;
    try {
      // Dovecot reads a bare storage number as kilobytes, "bytes=" as bytes.
      const bare = /^[0-9.]+$/.test(m[1]) && field.includes(':storage=');
      return bare ? parseSize(`${m[1]}K`) : parseSize(m[1]);
    } catch (err) {
      if (err instanceof SizeError) return undefined;
      throw err;
    }
  }
  return undefined;
}

/**
 * Dovecot passwd-file: "user:password:uid:gid:gecos:home:shell:extra_fields" (only the first two are
 * needed). username_format=%u, as in the reference, makes the user a full address.
 */
export function parsePasswdFile(text: string, file = 'users'): { entries: PasswdEntry[]; skipped: Skipped[] } {
  const skipped: Skipped[] = [];
  const entries: PasswdEntry[] = [];
  const seen = new Set<string>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i] ?? '';
    const line = i + 1;
    const l = raw.trim();
    if (l === '' || l.startsWith('#')) continue;
    const skip = (reason: string) => skipped.push({ file, line, text: l.replace(/^([^:]*):[^:]*/, '$1:[password hidden]'), reason });
    if (l.length > MAX_MAP_LINE_CHARS) {
      skip(`line longer than ${MAX_MAP_LINE_CHARS} characters`);
      continue;
    }
    const fields = l.split(':');
    const user = fields[0] ?? '';
    const password = fields[1] ?? '';
    if (fields.length < 2) {
      skip('no ":" after the user name (expected user@domain:{SCHEME}hash)');
      continue;
    }
    let address: string;
    try {
      address = normalizeAddress(user);
    } catch (err) {
      if (!(err instanceof AddressError)) throw err;
      skip(user.includes('@') ? err.message : `"${user}" has no domain: mailstack logins are full addresses (Dovecot username_format=%u)`);
      continue;
    }
    if (password === '') {
      skip('empty password field: Dovecot would let anyone log in (or nobody); set a password after the import');
      continue;
    }
    if (seen.has(address)) {
      skip(`${address} is listed twice: the first entry counts, as with Dovecot`);
      continue;
    }
    seen.add(address);
    const quotaBytes = quotaFromExtraFields(fields.slice(7).join(':'));
    entries.push(quotaBytes === undefined ? { address, written: user, password, line } : { address, written: user, password, quotaBytes, line });
  }
  return { entries, skipped };
}
