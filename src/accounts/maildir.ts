// Maildir++ as Dovecot keeps it (mail_location = maildir:ROOT/%d/%n/Maildir): reading a user's tree into
// the store (import) and writing an account back out (export), so nobody is locked in.
//
// On disk (Maildir++, https://www.courier-mta.org/imap/README.maildirquota.html, and Dovecot's additions):
// - the root holds INBOX (cur/ new/ tmp/); each other folder is a sibling directory ".Name.Sub" whose
//   components are modified UTF-7 (RFC 3501 5.1.3) and "." is the hierarchy separator;
// - a file name is "<unique base>:2,<flags>": D Draft, F Flagged, P Passed, R Replied, S Seen, T Trashed,
//   and the letters a-z are keywords numbered in that folder's dovecot-keywords file ("0 $Label1");
// - dovecot-uidlist maps base names to UIDs: a header "3 V<uidvalidity> N<uidnext> G<guid>" then lines
//   "<uid> [<ext> ...] :<base name>" (version 3), or "1 <uidvalidity> <uidnext>" and "<uid> <name>" (v1).
//
// Import is idempotent and resumable: before storing a folder's first message it records a plan (base
// name -> UID, in the store's secrets) and then stores messages in UID order with those UIDs; a re-run
// skips every planned UID already stored or since expunged, and only imports what is missing.
import { mkdir, readdir, readFile, rename, stat, utimes, writeFile, open } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Mailbox, Store, User } from '../store/types.ts';
import { decodeMutf7, encodeMutf7, Mutf7Error } from './mutf7.ts';

/** Dovecot's dovecot-keywords has 26 letters (a-z) per folder. */
export const MAX_KEYWORDS_PER_FOLDER = 26;
/** Folder nesting deeper than this is not a real mail tree. */
export const MAX_FOLDER_DEPTH = 32;
/** A dovecot-uidlist or dovecot-keywords file larger than this is not one Dovecot wrote. */
const MAX_INDEX_FILE_BYTES = 256 * 1024 * 1024;

const FLAG_LETTERS: Record<string, string> = { D: '\\Draft', F: '\\Flagged', R: '\\Answered', S: '\\Seen', T: '\\Deleted', P: '$Forwarded' };
const LETTER_OF_FLAG: Record<string, string> = { '\\Draft': 'D', '\\Flagged': 'F', '\\Answered': 'R', '\\Seen': 'S', '\\Deleted': 'T' };

export interface MaildirMessageFile {
  /** The unique part of the file name (before ":2,"): what dovecot-uidlist names. */
  base: string;
  path: string;
  flags: string[];
  /** In new/ (not yet seen by a client), not cur/. */
  inNew: boolean;
}

export interface UidList {
  uidValidity: number;
  nextUid: number;
  uids: Map<string, number>;
}

export interface MaildirFolder {
  /** Mailbox name in mailstack: "INBOX", "Archive/2023" ("/" separated, UTF-8). */
  name: string;
  path: string;
  uidList: UidList | null;
  keywords: string[];
  messages: MaildirMessageFile[];
}

export interface MaildirProblem {
  path: string;
  reason: string;
}

/** Parses dovecot-uidlist (version 3, or the old version 1); null when it is not one. */
export function parseUidList(text: string): UidList | null {
  const lines = text.split('\n');
  const header = (lines[0] ?? '').trim().split(/\s+/);
  let uidValidity = 0;
  let nextUid = 1;
  const version = header[0];
  if (version === '1') {
    uidValidity = Number(header[1]);
    nextUid = Number(header[2]);
  } else if (version === '3') {
    for (const field of header.slice(1)) {
      if (field.startsWith('V')) uidValidity = Number(field.slice(1));
      else if (field.startsWith('N')) nextUid = Number(field.slice(1));
    }
  } else {
    return null;
  }
  if (!Number.isInteger(uidValidity) || uidValidity < 1 || uidValidity > 0xffff_ffff || !Number.isInteger(nextUid) || nextUid < 1) return null;
  const uids = new Map<string, number>();
  for (const line of lines.slice(1)) {
    const m = version === '3' ? /^([0-9]+)\s(?:.*?\s)?:(.+)$/.exec(line.trimEnd()) : /^([0-9]+)\s+(\S+)$/.exec(line.trimEnd());
    if (!m) continue;
    const uid = Number(m[1]);
    const name = (m[2] ?? '').replace(/:2,.*$/, '');
    if (uid >= 1 && uid <= 0xffff_ffff && !uids.has(name)) uids.set(name, uid);
  }
  return { uidValidity, nextUid: Math.max(nextUid, ...[...uids.values()].map((u) => u + 1)), uids };
}

/** dovecot-keywords: "<index> <keyword>" lines; index 0 is letter a. */
export function parseKeywords(text: string): string[] {
  const keywords: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^([0-9]+) (\S+)\s*$/.exec(line);
    if (!m) continue;
    const i = Number(m[1]);
    if (i < MAX_KEYWORDS_PER_FOLDER) keywords[i] = m[2] ?? '';
  }
  return keywords;
}

/** Flags of a Maildir file name ("...:2,FRSab"), keywords looked up in the folder's list. */
export function flagsFromFileName(fileName: string, keywords: readonly string[]): { base: string; flags: string[] } {
  const i = fileName.indexOf(':2,');
  if (i < 0) return { base: fileName.replace(/:.*$/, ''), flags: [] };
  const flags: string[] = [];
  for (const letter of fileName.slice(i + 3)) {
    const system = FLAG_LETTERS[letter];
    if (system) flags.push(system);
    else if (letter >= 'a' && letter <= 'z') {
      const kw = keywords[letter.charCodeAt(0) - 97];
      if (kw) flags.push(kw);
    }
  }
  return { base: fileName.slice(0, i), flags: [...new Set(flags)] };
}

async function readSmall(path: string): Promise<string | null> {
  try {
    const s = await stat(path);
    if (!s.isFile() || s.size > MAX_INDEX_FILE_BYTES) return null;
    return await readFile(path, 'utf8');
  } catch {
    return null;
  }
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

/** A file name's bytes for a message: ASCII as is, any other byte as \xNN. */
function printableName(bytes: Buffer): string {
  return [...bytes].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`)).join('');
}

/**
 * The names in a directory. A name that is not UTF-8 cannot be handled as a string (Node would turn its bytes
 * into U+FFFD and then find no such file), so it goes to `problems`, named byte by byte, when `report` says it
 * is one the import would have taken.
 */
async function utf8Names(dir: string, problems: MaildirProblem[], report: (bytes: Buffer) => string | null): Promise<string[]> {
  const names: string[] = [];
  for (const bytes of await readdir(dir, { encoding: 'buffer' })) {
    try {
      names.push(STRICT_UTF8.decode(bytes));
    } catch {
      const reason = report(bytes);
      if (reason) problems.push({ path: join(dir, printableName(bytes)), reason });
    }
  }
  return names;
}

async function readFolder(name: string, path: string, problems: MaildirProblem[]): Promise<MaildirFolder> {
  const uidText = await readSmall(join(path, 'dovecot-uidlist'));
  const kwText = await readSmall(join(path, 'dovecot-keywords'));
  const keywords = kwText ? parseKeywords(kwText) : [];
  const messages: MaildirMessageFile[] = [];
  const seen = new Set<string>();
  for (const sub of ['cur', 'new']) {
    let names: string[];
    try {
      names = await utf8Names(join(path, sub), problems, (bytes) =>
        bytes[0] === 0x2e ? null : 'the file name is not valid UTF-8: not imported; rename the file (keep its ":2,..." flags) and run the import again',
      );
    } catch {
      continue;
    }
    for (const fileName of names.sort()) {
      if (fileName.startsWith('.')) continue;
      // Flags are read in new/ too: Dovecot leaves flagged messages there until a client looks.
      const { base, flags } = flagsFromFileName(fileName, keywords);
      if (seen.has(base)) continue; // the same message in new/ and cur/ (a move interrupted): once
      seen.add(base);
      messages.push({ base, path: join(path, sub, fileName), flags, inNew: sub === 'new' });
    }
  }
  return { name, path, uidList: uidText ? parseUidList(uidText) : null, keywords: keywords.filter((k) => k !== undefined), messages };
}

/**
 * Dovecot's subscriptions file. Version 2 ("V\t2", a blank line, then one name per line with TAB as the
 * hierarchy separator, components in modified UTF-7); older files have one name per line as IMAP saw it.
 */
export function parseSubscriptions(text: string): string[] {
  const lines = text.split('\n');
  const v2 = lines[0] === 'V\t2';
  const names: string[] = [];
  for (const line of v2 ? lines.slice(1) : lines) {
    if (line.trim() === '') continue;
    try {
      names.push((v2 ? line.split('\t') : [line]).map(decodeMutf7).join('/'));
    } catch (err) {
      if (!(err instanceof Mutf7Error)) throw err;
    }
  }
  return names;
}

/** The version 2 subscriptions file Dovecot writes. */
export function formatSubscriptions(names: readonly string[]): string {
  return `V\t2\n\n${names.map((n) => n.split('/').map(encodeMutf7).join('\t') + '\n').join('')}`;
}

/** Reads a user's Maildir++ tree: INBOX and every ".Folder" beside it. Bad folder names are reported.
 * `subscriptions` is null when the tree has no subscriptions file. */
export async function readMaildirTree(root: string): Promise<{ folders: MaildirFolder[]; subscriptions: string[] | null; problems: MaildirProblem[] }> {
  const problems: MaildirProblem[] = [];
  const subscriptionsText = await readSmall(join(root, 'subscriptions'));
  const folders: MaildirFolder[] = [await readFolder('INBOX', root, problems)];
  const dotted = await utf8Names(root, problems, (bytes) =>
    bytes[0] === 0x2e ? 'the folder name is not valid UTF-8 (Maildir++ folder names are modified UTF-7, plain ASCII): not imported; rename the directory and run the import again' : null,
  );
  const entries: { name: string }[] = [];
  for (const name of dotted) if (name.startsWith('.') && name !== '.' && name !== '..' && (await isDir(join(root, name)))) entries.push({ name });
  for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const path = join(root, entry.name);
    if (!(await isDir(join(path, 'cur'))) && !(await isDir(join(path, 'new')))) continue; // not a Maildir folder
    const parts = entry.name.slice(1).split('.');
    if (parts.length > MAX_FOLDER_DEPTH || parts.some((p) => p === '')) {
      problems.push({ path, reason: 'not a Maildir++ folder name (empty component or too deep)' });
      continue;
    }
    let name: string;
    try {
      name = parts.map(decodeMutf7).join('/');
    } catch (err) {
      if (err instanceof Mutf7Error) {
        problems.push({ path, reason: err.message });
        continue;
      }
      throw err;
    }
    // Maildir++ folders hang below INBOX in Courier's view (".INBOX.x" is rare but seen): keep the rest.
    if (name.toUpperCase() === 'INBOX') {
      problems.push({ path, reason: 'a folder named INBOX beside the INBOX: not imported' });
      continue;
    }
    folders.push(await readFolder(name, path, problems));
  }
  return { folders, subscriptions: subscriptionsText === null ? null : parseSubscriptions(subscriptionsText), problems };
}

/** Maildir files usually have bare LF line ends (Dovecot: mail_save_crlf = no); IMAP serves CRLF. */
export function toCrlf(raw: Buffer): Buffer {
  if (!raw.includes(0x0a)) return raw;
  let extra = 0;
  for (let i = 0; i < raw.length; i++) if (raw[i] === 0x0a && (i === 0 || raw[i - 1] !== 0x0d)) extra++;
  if (extra === 0) return raw;
  const buf = Buffer.alloc(raw.length + extra);
  let j = 0;
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i]!;
    if (b === 0x0a && (i === 0 || raw[i - 1] !== 0x0d)) buf[j++] = 0x0d;
    buf[j++] = b;
  }
  return buf;
}

/**
 * A stored message as a Maildir file: LF line ends, as Dovecot writes them, when reading the file back
 * (toCrlf) gives exactly the stored bytes; else the bytes as they are. LF alone cannot say "CR CR LF" (it
 * reads back as CR LF), so such a message keeps its CRLFs, which Dovecot reads as well, and export then import
 * gives it back byte for byte. (A bare LF inside a stored message cannot come back either way: Maildir readers,
 * Dovecot and this import, take every LF for a line end and serve it as CRLF.)
 */
export function maildirFileBytes(raw: Buffer): Buffer {
  const lf = toLf(raw);
  return toCrlf(lf).equals(raw) ? lf : raw;
}

/** The reverse of toCrlf: CRLF to LF. */
export function toLf(raw: Buffer): Buffer {
  const buf = Buffer.alloc(raw.length);
  let j = 0;
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i]!;
    if (b === 0x0d && raw[i + 1] === 0x0a) continue;
    buf[j++] = b;
  }
  return buf.subarray(0, j);
}

// ---------------------------------------------------------------------------------------------- import

interface ImportPlan {
  /** UIDVALIDITY the mailbox had when the plan was made. */
  uidValidity: number;
  /** Base name -> UID. */
  uids: Record<string, number>;
  /** Keyword order of the source folder (export writes dovecot-keywords in the same order). */
  keywords: string[];
  /** Base names that were in new/: export puts them back there. */
  inNew?: string[];
  /** Every planned UID up to this one has been imported (or skipped for a reason). */
  doneThrough?: number;
}

/** The import's progress is saved in the plan every this many messages (and when it stops): a crash
 * costs at most this many body comparisons on the next run. */
const PROGRESS_SAVE_EVERY = 200;

const planKey = (mailboxId: number) => `import/maildir/${mailboxId}`;

async function loadPlan(store: Store, mailbox: Mailbox): Promise<ImportPlan | null> {
  const raw = await store.secrets.get(planKey(mailbox.id));
  if (!raw) return null;
  const plan = JSON.parse(raw.toString('utf8')) as ImportPlan;
  return plan.uidValidity === mailbox.uidValidity ? plan : null;
}

async function savePlan(store: Store, mailboxId: number, plan: ImportPlan): Promise<void> {
  await store.secrets.put(planKey(mailboxId), Buffer.from(JSON.stringify(plan), 'utf8'));
}

export interface FolderImportResult {
  mailbox: string;
  imported: number;
  alreadyPresent: number;
  /** Whether the UIDs (and UIDVALIDITY) of dovecot-uidlist were kept. */
  keptUids: boolean;
  problems: MaildirProblem[];
}

export interface MaildirImportOptions {
  /** Messages above this size are skipped and reported ([store] max_message_bytes). */
  maxMessageBytes: number;
  /** Called after each message (imported or skipped). */
  onMessage?: () => void;
  /** Subscribe the mailbox when this import creates it (default true). */
  subscribe?: boolean;
  /** Messages in flight at once (default IMPORT_PIPELINE_DEPTH); 1 imports strictly one by one. */
  pipelineDepth?: number;
}

/** Enough messages in flight for the store's group commit to share each fsync widely; small enough
 * that a stop leaves little in flight. */
export const IMPORT_PIPELINE_DEPTH = 32;

/** Imports one Maildir++ folder into the user's mailbox of the same name (created when missing). */
export async function importFolder(store: Store, user: User, folder: MaildirFolder, options: MaildirImportOptions): Promise<FolderImportResult> {
  const result: FolderImportResult = { mailbox: folder.name, imported: 0, alreadyPresent: 0, keptUids: false, problems: [] };
  let mailbox = await store.mail.getMailbox(user.id, folder.name);
  if (!mailbox) mailbox = await store.mail.createMailbox(user.id, folder.name, { subscribe: options.subscribe !== false });
  let plan = await loadPlan(store, mailbox);
  const existing = await store.mail.listMessages(mailbox.id);

  if (!plan) {
    const uidList = folder.uidList;
    const lowestListed = uidList && uidList.uids.size > 0 ? Math.min(...uidList.uids.values()) : Infinity;
    // Dovecot's UIDs are kept only when nothing is in the way: an empty mailbox whose UIDNEXT is not past them.
    if (uidList && existing.length === 0 && mailbox.uidNext <= lowestListed) {
      if (mailbox.uidValidity !== uidList.uidValidity) {
        await store.mail.setUidValidity(mailbox.id, uidList.uidValidity);
        mailbox = (await store.mail.getMailboxById(mailbox.id)) ?? mailbox;
      }
      result.keptUids = true;
    }
    const uids: Record<string, number> = {};
    let next = mailbox.uidNext;
    if (result.keptUids && uidList) {
      for (const m of folder.messages) {
        const uid = uidList.uids.get(m.base);
        if (uid !== undefined) uids[m.base] = uid;
      }
      next = Math.max(next, uidList.nextUid);
    }
    // Files the uidlist does not know yet (Dovecot numbers them on its next look, in name order).
    for (const m of folder.messages) if (uids[m.base] === undefined) uids[m.base] = next++;
    plan = { uidValidity: mailbox.uidValidity, uids, keywords: folder.keywords, inNew: folder.messages.filter((m) => m.inNew).map((m) => m.base) };
    await savePlan(store, mailbox.id, plan);
  } else {
    result.keptUids = folder.uidList?.uidValidity === plan.uidValidity;
    // Resuming: new files since the plan was made get UIDs after every planned one.
    let next = Math.max(mailbox.uidNext, ...Object.values(plan.uids).map((u) => u + 1));
    let added = false;
    for (const m of folder.messages) {
      if (plan.uids[m.base] === undefined) {
        plan.uids[m.base] = next++;
        if (m.inNew) plan.inNew = [...(plan.inNew ?? []), m.base];
        added = true;
      }
    }
    if (added) await savePlan(store, mailbox.id, plan);
  }

  const present = new Map(existing.map((m) => [m.uid, m]));
  const expunged = new Set(await store.mail.expungedSince(mailbox.id, 0));
  const ordered = folder.messages.map((m) => ({ m, uid: plan.uids[m.base]! })).sort((a, b) => a.uid - b.uid);
  let uidNext = mailbox.uidNext;
  // Every planned UID up to the watermark is done; above it, a stored message at the planned UID counts
  // only if it is the same message (mail delivered between two runs may hold that UID).
  let watermark = plan.doneThrough ?? 0;
  let unsaved = 0;
  const saveProgress = async () => {
    if (watermark === (plan.doneThrough ?? 0)) return;
    plan.doneThrough = watermark;
    await savePlan(store, mailbox.id, plan);
    unsaved = 0;
  };
  // Up to `depth` messages are in flight at once so that the store's group commit shares one fsync
  // between them; they are retired in order, so the watermark only covers a finished prefix.
  const depth = Math.max(1, options.pipelineDepth ?? IMPORT_PIPELINE_DEPTH);
  const inFlight: { planned: number; outcome: Promise<unknown> }[] = [];
  let failure: unknown = null;
  const retireOldest = async () => {
    const p = inFlight.shift()!;
    const error = await p.outcome;
    if (error !== null && failure === null) failure = error;
    if (failure !== null) return;
    watermark = Math.max(watermark, p.planned);
    if (++unsaved >= PROGRESS_SAVE_EVERY) await saveProgress();
    options.onMessage?.();
  };
  // Starts one message; resolves (once it is sent) to a box holding the promise of its outcome (null,
  // or the error): boxed, because an async function would otherwise wait for the inner promise.
  const start = async (m: MaildirMessageFile, planned: number): Promise<{ outcome: Promise<unknown> }> => {
    const done = { outcome: Promise.resolve(null) };
    if (planned <= watermark || (planned < uidNext && expunged.has(planned))) {
      result.alreadyPresent++;
      return done;
    }
    let info;
    try {
      info = await stat(m.path);
    } catch {
      result.problems.push({ path: m.path, reason: 'vanished while importing' });
      return done;
    }
    if (info.size > options.maxMessageBytes) {
      result.problems.push({ path: m.path, reason: `${info.size} bytes: larger than [store] max_message_bytes (${options.maxMessageBytes})` });
      return done;
    }
    const raw = toCrlf(await readFile(m.path));
    if (raw.length === 0) {
      result.problems.push({ path: m.path, reason: 'empty file' });
      return done;
    }
    let uid = planned;
    if (planned < uidNext) {
      const stored = present.get(planned);
      if (stored && stored.size === raw.length && (await store.mail.getBody(stored.bodyId)).equals(raw)) {
        result.alreadyPresent++;
        return done;
      }
      // Mail arrived between two runs and took the planned UID: a fresh one, recorded before the
      // message is stored (a crash between the two leaves a hole in the plan, never a duplicate).
      uid = uidNext;
      plan.uids[m.base] = uid;
      await savePlan(store, mailbox.id, plan);
    }
    uidNext = uid + 1;
    const outcome = store.mail.importMessage(mailbox.id, { raw, flags: m.flags, internalDate: Math.trunc(info.mtimeMs), uid }).then(
      () => {
        result.imported++;
        return null;
      },
      (error: unknown) => error,
    );
    return { outcome };
  };
  try {
    for (const { m, uid: planned } of ordered) {
      if (failure !== null) break;
      let outcome: Promise<unknown>;
      try {
        outcome = (await start(m, planned)).outcome;
      } catch (error) {
        outcome = Promise.resolve(error);
      }
      inFlight.push({ planned, outcome });
      if (inFlight.length >= depth) await retireOldest();
    }
    while (inFlight.length > 0 && failure === null) await retireOldest();
  } finally {
    // Stopped early (an error, or the caller's onMessage threw): let what was sent finish, without
    // moving the watermark over it (the next run recognises those messages by their bytes).
    await Promise.all(inFlight.splice(0).map((p) => p.outcome));
    await saveProgress();
  }
  if (failure !== null) throw failure;
  return result;
}

// ---------------------------------------------------------------------------------------------- export

export interface ExportResult {
  mailboxes: number;
  messages: number;
  problems: MaildirProblem[];
}

/** Maildir++ directory of a mailbox name ("" for INBOX). */
export function folderDirName(name: string): string {
  if (name === 'INBOX') return '';
  return '.' + name.split('/').map(encodeMutf7).join('.');
}

async function writeFileSynced(path: string, data: Buffer | string): Promise<void> {
  const fh = await open(path, 'w', 0o600);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Writes the user's mailboxes as Maildir++ under `out` (which becomes the "Maildir" directory): message
 * files with LF line ends, flags in the names, dovecot-keywords, dovecot-uidlist with our UIDs and
 * UIDVALIDITY (so a Dovecot reading it keeps them), mtime = INTERNALDATE, and a subscriptions file.
 */
export async function exportMaildir(store: Store, user: User, out: string, onMessage?: () => void): Promise<ExportResult> {
  const result: ExportResult = { mailboxes: 0, messages: 0, problems: [] };
  await mkdir(out, { recursive: true, mode: 0o700 });
  const mailboxes = await store.mail.listMailboxes(user.id);
  for (const mailbox of mailboxes) {
    const dir = join(out, folderDirName(mailbox.name));
    // Maildir++ puts "." between folder levels: "v1.2" would come back as "v1/2", a different tree. Dovecot
    // refuses such names in this layout; so does export, aloud, instead of changing the tree.
    if (mailbox.name.split('/').some((level) => level.includes('.'))) {
      result.problems.push({ path: dir, reason: `mailbox "${mailbox.name}" not exported: Maildir++ uses "." between folder levels, so it would come back as "${mailbox.name.replaceAll('.', '/')}"; rename it (IMAP RENAME) without "." and export again` });
      continue;
    }
    for (const sub of ['cur', 'new', 'tmp']) await mkdir(join(dir, sub), { recursive: true, mode: 0o700 });
    // Maildir++: an empty "maildirfolder" file marks a folder below the root.
    if (mailbox.name !== 'INBOX') await writeFile(join(dir, 'maildirfolder'), '', { mode: 0o600 });
    const plan = await loadPlan(store, mailbox);
    const baseOfUid = new Map<number, string>();
    if (plan) for (const [base, uid] of Object.entries(plan.uids)) baseOfUid.set(uid, base);
    const metas = await store.mail.listMessages(mailbox.id);
    // Keywords: the imported order first, then any others in order of appearance.
    const keywords = [...(plan?.keywords ?? [])];
    for (const m of metas) for (const f of m.flags) if (!f.startsWith('\\') && !keywords.includes(f)) keywords.push(f);
    if (keywords.length > MAX_KEYWORDS_PER_FOLDER) {
      result.problems.push({ path: dir, reason: `more than ${MAX_KEYWORDS_PER_FOLDER} keywords: ${keywords.slice(MAX_KEYWORDS_PER_FOLDER).join(', ')} not written (Maildir has 26 keyword letters)` });
    }
    const inNew = new Set(plan?.inNew ?? []);
    const letterOf = new Map(keywords.slice(0, MAX_KEYWORDS_PER_FOLDER).map((k, i) => [k, String.fromCharCode(97 + i)]));
    const uidLines: string[] = [];
    for (const meta of metas) {
      const base = baseOfUid.get(meta.uid) ?? `${Math.trunc(meta.internalDate / 1000)}.M${mailbox.id}U${meta.uid}.mailstack`;
      const letters = [...new Set(meta.flags.map((f) => LETTER_OF_FLAG[f] ?? letterOf.get(f)).filter((l): l is string => l !== undefined))];
      // Maildir: flags in ASCII order, upper-case (system) before lower-case (keywords). A message that
      // was in new/ goes back there, with no ":2," part while it has no flags (as Dovecot leaves it).
      const sub = inNew.has(base) ? 'new' : 'cur';
      const fileName = sub === 'new' && letters.length === 0 ? base : `${base}:2,${letters.sort().join('')}`;
      let raw: Buffer;
      try {
        raw = await store.mail.getBody(meta.bodyId);
      } catch (err) {
        result.problems.push({ path: join(dir, sub, fileName), reason: `not exported: ${(err as Error).message}` });
        continue;
      }
      // Maildir delivery: write in tmp/, then rename into cur/ (never a half-written file in cur/).
      const tmpPath = join(dir, 'tmp', `${base}.${randomBytes(4).toString('hex')}`);
      await writeFile(tmpPath, maildirFileBytes(raw), { mode: 0o600 });
      const when = new Date(meta.internalDate);
      await utimes(tmpPath, when, when);
      await rename(tmpPath, join(dir, sub, fileName));
      uidLines.push(`${meta.uid} :${base}`);
      result.messages++;
      onMessage?.();
    }
    const guid = randomBytes(16).toString('hex');
    await writeFileSynced(join(dir, 'dovecot-uidlist'), `3 V${mailbox.uidValidity} N${mailbox.uidNext} G${guid}\n${uidLines.map((l) => l + '\n').join('')}`);
    if (letterOf.size > 0) await writeFileSynced(join(dir, 'dovecot-keywords'), [...letterOf.keys()].map((k, i) => `${i} ${k}\n`).join(''));
    result.mailboxes++;
  }
  const subscriptions = await store.mail.listSubscriptions(user.id);
  await writeFileSynced(join(out, 'subscriptions'), formatSubscriptions(subscriptions.filter((s) => s !== 'INBOX')));
  return result;
}
