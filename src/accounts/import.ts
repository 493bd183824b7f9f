// `mailstack import postfix-dovecot`: moves an existing Postfix + Dovecot installation (the reference
// set-up) into mailstack: domains, users with their password hashes as they are, aliases and catch-alls,
// and optionally every user's Maildir++ tree with flags, keywords, UIDVALIDITY and UIDs.
// Re-running it is safe: what exists is left alone and reported as already present.
import { join } from 'node:path';
import { domainToASCII } from 'node:url';
import { stat } from 'node:fs/promises';
import type { Store, User } from '../store/types.ts';
import { StoreError } from '../store/types.ts';
import { domainOf } from './address.ts';
import { hashPassword, parseStoredHash, PasswordSchemeError } from './password.ts';
import { parsePasswdFile, parseVirtual, parseVmailbox, type Skipped } from './postfix-files.ts';
import { importFolder, readMaildirTree, type MaildirFolder } from './maildir.ts';

/** Stored for accounts that exist without a usable password: no hash verifies it, so no login works
 * until `mailstack user passwd` (mail for the account is still accepted). */
export const LOCKED_PASSWORD = '!';

export interface ImportSources {
  vmailbox: { name: string; text: string };
  virtual?: { name: string; text: string };
  users: { name: string; text: string };
}

export interface ImportOptions {
  /** ROOT of mail_location = maildir:ROOT/%d/%n/Maildir; no mail is imported without it. */
  maildirRoot?: string;
  dryRun?: boolean;
  maxMessageBytes: number;
  /** Messages in flight at once (see maildir.ts IMPORT_PIPELINE_DEPTH). */
  pipelineDepth?: number;
  /** Progress of the mail import: called with (done, total) after each message. */
  onProgress?: (done: number, total: number) => void;
}

export interface ImportReport {
  took: string[];
  skipped: Skipped[];
  /** Things that were taken but need the admin's attention (a user without a usable password...). */
  notes: string[];
  counts: { domains: number; users: number; aliases: number; mailboxes: number; messages: number; alreadyPresent: number };
}

/** Dovecot schemes whose value is the password itself: imported as a fresh bcrypt hash. */
const CLEARTEXT_SCHEMES = /^\{(PLAIN|CLEAR|CLEARTEXT)\}/i;

async function exists(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

export async function importPostfixDovecot(store: Store, sources: ImportSources, options: ImportOptions): Promise<ImportReport> {
  const report: ImportReport = { took: [], skipped: [], notes: [], counts: { domains: 0, users: 0, aliases: 0, mailboxes: 0, messages: 0, alreadyPresent: 0 } };
  const vmailbox = parseVmailbox(sources.vmailbox.text, sources.vmailbox.name);
  const virtual = sources.virtual ? parseVirtual(sources.virtual.text, sources.virtual.name) : { entries: [], skipped: [] };
  const passwd = parsePasswdFile(sources.users.text, sources.users.name);
  report.skipped.push(...vmailbox.skipped, ...virtual.skipped, ...passwd.skipped);
  const write = options.dryRun !== true;
  const a = store.accounts;

  // Domains: every domain that has a mailbox, a login or an alias source.
  const domains = new Set<string>([...vmailbox.entries.map((e) => domainOf(e.address)), ...passwd.entries.map((e) => domainOf(e.address)), ...virtual.entries.map((e) => domainOf(e.source))]);
  for (const d of [...domains].sort()) {
    if (await a.hasDomain(d)) {
      report.counts.alreadyPresent++;
      continue;
    }
    if (write) await a.addDomain(d);
    report.took.push(`domain ${d}`);
    report.counts.domains++;
  }

  // Users: a vmailbox entry (Postfix delivers to it) and/or a passwd-file line (Dovecot logs it in).
  const passwordOf = new Map(passwd.entries.map((e) => [e.address, e]));
  const locationOf = new Map(vmailbox.entries.map((e) => [e.address, e.location]));
  const writtenOf = new Map<string, Set<string>>();
  for (const e of [...vmailbox.entries, ...passwd.entries]) writtenOf.set(e.address, (writtenOf.get(e.address) ?? new Set()).add(e.written));
  const addresses = [...new Set([...vmailbox.entries.map((e) => e.address), ...passwd.entries.map((e) => e.address)])].sort();
  const imported: { user: User | null; address: string }[] = [];
  for (const address of addresses) {
    const existing = await a.getUser(address);
    if (existing) {
      report.counts.alreadyPresent++;
      imported.push({ user: existing, address });
      continue;
    }
    const entry = passwordOf.get(address);
    let passwordHash = LOCKED_PASSWORD;
    let how: string;
    if (!entry) {
      how = 'no password (not in the users file): cannot log in until `mailstack user passwd`';
      report.notes.push(`${address}: ${how}`);
    } else if (CLEARTEXT_SCHEMES.test(entry.password)) {
      passwordHash = write ? await hashPassword(entry.password.replace(CLEARTEXT_SCHEMES, '')) : LOCKED_PASSWORD;
      how = 'clear-text password converted to bcrypt';
    } else {
      try {
        const parsed = parseStoredHash(entry.password);
        passwordHash = entry.password;
        how = `${/^\{([^}]+)\}/.exec(entry.password)?.[1] ?? parsed.scheme} hash kept`;
      } catch (err) {
        if (!(err instanceof PasswordSchemeError)) throw err;
        how = `password not usable (${err.message})`;
        report.notes.push(`${address}: ${how}`);
      }
    }
    if (entry && !locationOf.has(address)) report.notes.push(`${address}: in the users file but not in vmailbox: created, so mail to it is now accepted`);
    const quotaBytes = entry?.quotaBytes;
    const user = write ? await a.addUser(quotaBytes === undefined ? { address, passwordHash } : { address, passwordHash, quotaBytes }) : null;
    imported.push({ user, address });
    report.took.push(`user ${address} (${how}${quotaBytes ? `, quota ${quotaBytes} bytes` : ''})`);
    report.counts.users++;
  }

  // Aliases. Identity entries ("user@d  user@d") exist in Postfix maps only to shield users from a
  // catch-all; in mailstack a user always wins over the catch-all, so they are not needed.
  for (const alias of virtual.entries) {
    const destinations = alias.destinations.filter((d) => d !== alias.source || alias.destinations.length > 1);
    if (destinations.length === 0) {
      report.skipped.push({ file: sources.virtual?.name ?? 'virtual', line: alias.line, text: `${alias.source} ${alias.source}`, reason: 'maps an address to itself: not needed, a user always wins over a catch-all in mailstack' });
      continue;
    }
    const current = new Set(await a.aliasTargets(alias.source));
    for (const d of destinations) {
      if (current.has(d)) {
        report.counts.alreadyPresent++;
        continue;
      }
      if (write) {
        try {
          await a.addAlias(alias.source, d);
        } catch (err) {
          if (!(err instanceof StoreError && err.code === 'exists')) throw err;
        }
      }
      report.took.push(`alias ${alias.source} -> ${d}`);
      report.counts.aliases++;
    }
  }

  if (options.maildirRoot === undefined) return report;

  // Mail: ROOT/%d/%n/Maildir (Dovecot's mail_location in the reference), else the vmailbox path below ROOT
  // (Postfix's own virtual delivery: virtual_mailbox_base/example.org/user/).
  const trees: { user: User | null; address: string; folders: MaildirFolder[]; subscriptions: string[] | null }[] = [];
  let total = 0;
  for (const { user, address } of imported) {
    const candidates = maildirCandidates(options.maildirRoot, address, writtenOf.get(address));
    const location = locationOf.get(address);
    if (location && location.endsWith('/') && !location.startsWith('/') && !location.split('/').includes('..')) candidates.push(join(options.maildirRoot, location));
    let root: string | null = null;
    for (const c of candidates) {
      if (await exists(c)) {
        root = c;
        break;
      }
    }
    if (!root) {
      report.notes.push(`${address}: no Maildir at ${candidates.join(' or ')}: no mail imported`);
      continue;
    }
    const tree = await readMaildirTree(root);
    for (const p of tree.problems) report.skipped.push({ file: p.path, line: 0, text: '', reason: p.reason });
    trees.push({ user, address, folders: tree.folders, subscriptions: tree.subscriptions });
    total += tree.folders.reduce((n, f) => n + f.messages.length, 0);
  }
  let done = 0;
  for (const { user, address, folders, subscriptions } of trees) {
    for (const folder of folders) {
      if (!user) {
        // Dry run: count only.
        report.counts.mailboxes++;
        report.counts.messages += folder.messages.length;
        done += folder.messages.length;
        options.onProgress?.(done, total);
        continue;
      }
      let r;
      try {
        r = await importFolder(store, user, folder, {
          maxMessageBytes: options.maxMessageBytes,
          onMessage: () => options.onProgress?.(++done, total),
          subscribe: subscriptions === null || subscriptions.includes(folder.name),
          ...(options.pipelineDepth !== undefined ? { pipelineDepth: options.pipelineDepth } : {}),
        });
      } catch (err) {
        // A folder name the store refuses (control characters, too long...): skip that folder only.
        if (!(err instanceof StoreError && err.code === 'invalid')) throw err;
        report.skipped.push({ file: folder.path, line: 0, text: '', reason: `mailbox "${folder.name}" not imported: ${err.message}` });
        done += folder.messages.length;
        continue;
      }
      report.counts.mailboxes++;
      report.counts.messages += r.imported;
      report.counts.alreadyPresent += r.alreadyPresent;
      for (const p of r.problems) report.skipped.push({ file: p.path, line: 0, text: '', reason: p.reason });
      if (r.imported > 0) report.took.push(`mail ${address} ${folder.name}: ${r.imported} message(s)${r.keptUids ? ', UIDVALIDITY and UIDs kept' : ''}`);
    }
    // Dovecot's subscriptions, also for names that are not (yet) mailboxes (RFC 9051 6.3.7 allows it).
    if (user && subscriptions) for (const name of subscriptions) await store.mail.setSubscribed(user.id, name, true);
  }
  return report;
}

/**
 * Where a user's Maildir may be: ROOT/%d/%n/Maildir as the reference set-up has it, with %d and %n spelled as
 * the account files spell them (Dovecot names the directory from the user name it was given: "John.Doe",
 * an IDN domain in its xn-- form), then the normalised spelling (lower case, Unicode domain), then the
 * domain's ASCII form.
 */
function maildirCandidates(root: string, address: string, written: ReadonlySet<string> | undefined): string[] {
  const spellings = [...(written ?? []), address];
  const local = address.slice(0, address.lastIndexOf('@'));
  const ascii = domainToASCII(domainOf(address));
  if (ascii) spellings.push(`${local}@${ascii}`);
  const paths = spellings.map((s) => join(root, s.slice(s.lastIndexOf('@') + 1), s.slice(0, s.lastIndexOf('@')), 'Maildir'));
  return [...new Set(paths)];
}
