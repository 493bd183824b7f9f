// STORE and UID STORE (RFC 9051 6.4.6) with CONDSTORE UNCHANGEDSINCE (RFC 7162 3.1.3).
import type { FlagOperation } from '../../store/types.ts';
import { SELECTED, defineCommand } from '../command.ts';
import { ImapNo, ImapSyntaxError } from '../errors.ts';
import { canonicalFlag } from '../flags.ts';
import { formatSet, parseSequenceSet, type SequenceSet } from '../parser/sequence.ts';
import type { CommandParser } from '../parser/tokens.ts';
import type { Session } from '../session.ts';
import { targetUids } from '../targets.ts';

interface StoreArgs {
  set: SequenceSet;
  unchangedSince: number | null;
  operation: FlagOperation;
  silent: boolean;
  flags: string[];
}

/** Keywords in one STORE: bounds the flag list the store has to write per message. */
const MAX_FLAGS = 128;

function parseStore(p: CommandParser): StoreArgs {
  p.sp();
  const set = parseSequenceSet(p);
  p.sp();
  let unchangedSince: number | null = null;
  if (p.peek() === '(') {
    p.open();
    p.expect('UNCHANGEDSINCE');
    p.sp();
    unchangedSince = p.number64();
    p.close();
    p.sp();
  }
  let operation: FlagOperation = 'set';
  if (p.take('+')) operation = 'add';
  else if (p.take('-')) operation = 'remove';
  p.expect('FLAGS');
  const silent = p.take('.SILENT');
  p.sp();
  let flags: string[];
  if (p.peek() === '(') {
    flags = p.flagList();
  } else {
    flags = [p.flag()];
    while (p.maybeSp()) flags.push(p.flag());
  }
  p.end();
  if (flags.length > MAX_FLAGS) throw new ImapSyntaxError(`More than ${MAX_FLAGS} flags in one STORE`);
  return { set, unchangedSince, operation, silent, flags: [...new Set(flags.map(canonicalFlag))] };
}

function storeCommand(byUid: boolean) {
  return defineCommand({
    name: byUid ? 'UID STORE' : 'STORE',
    states: SELECTED,
    allowExpungeAfter: byUid,
    parse: parseStore,
    run: (session, args: StoreArgs) => runStore(session, args, byUid),
  });
}

async function runStore(session: Session, args: StoreArgs, byUid: boolean) {
  const selected = session.requireSelected();
  if (selected.readOnly) throw new ImapNo('READ-ONLY', 'Mailbox is read-only (EXAMINE)');
  if (args.flags.includes('\\Recent')) throw new ImapNo('CANNOT', '\\Recent cannot be changed');
  for (const f of args.flags) if (f.startsWith('\\') && !['\\Seen', '\\Answered', '\\Flagged', '\\Deleted', '\\Draft'].includes(f)) throw new ImapNo('CANNOT', `Unknown system flag ${f.slice(0, 30)}`);
  if (args.unchangedSince !== null) session.enabled.add('CONDSTORE');
  const uids = targetUids(selected, args.set, byUid, session.savedSearch);
  if (uids.length === 0) return;
  const options = args.unchangedSince !== null ? { unchangedSince: args.unchangedSince } : {};
  const result = await session.store.mail.updateFlags(selected.mailbox.id, uids, args.operation, args.flags, options);
  selected.noteOwnChange(result.modseq);
  const condstore = session.condstore;
  if (!args.silent || condstore) {
    // One line per changed message, in sequence order (the store groups them by their new flag set).
    const lines: { seq: number; line: string }[] = [];
    const prefix = (seq: number, uid: number) => `* ${seq} FETCH (${byUid ? `UID ${uid} ` : ''}`;
    const modseq = condstore ? `MODSEQ (${result.modseq})` : '';
    for (const group of result.updated) {
      const flags = `FLAGS ${session.flagList(group.flags)}`;
      // RFC 7162 3.1.3: with .SILENT the new MODSEQ is still reported.
      const items = args.silent ? modseq : condstore ? `${flags} ${modseq}` : flags;
      for (const uid of group.uids) {
        const seq = selected.seqOf(uid);
        if (seq > 0) lines.push({ seq, line: `${prefix(seq, uid)}${items})` });
      }
    }
    if (result.updated.length > 1) lines.sort((a, b) => a.seq - b.seq);
    for (const l of lines) session.send(l.line);
  }
  if (result.modifiedSince.length > 0) {
    const list = byUid ? result.modifiedSince : result.modifiedSince.map((u) => selected.seqOf(u)).filter((s) => s > 0);
    return { code: `MODIFIED ${formatSet(list)}`, text: 'Conditional STORE failed for some messages' };
  }
  return undefined;
}

export const store = storeCommand(false);
export const uidStore = storeCommand(true);
