// COPY and MOVE, by sequence number or UID (RFC 9051 6.4.7, RFC 6851 MOVE, RFC 4315 COPYUID).
import { SELECTED, defineCommand } from '../command.ts';
import { ImapNo } from '../errors.ts';
import { mailboxFromWire } from '../names.ts';
import { formatOrderedSet, parseSequenceSet, type SequenceSet } from '../parser/sequence.ts';
import type { Session } from '../session.ts';
import { targetUids } from '../targets.ts';

interface CopyArgs {
  set: SequenceSet;
  mailbox: string;
}

function copyCommand(name: 'COPY' | 'MOVE', byUid: boolean) {
  return defineCommand({
    name: byUid ? `UID ${name}` : name,
    states: SELECTED,
    // RFC 6851 3.3: MOVE reports the expunges it causes, even by sequence number.
    allowExpungeAfter: byUid,
    parse(p): CopyArgs {
      p.sp();
      const set = parseSequenceSet(p);
      p.sp();
      const mailbox = p.astring();
      p.end();
      return { set, mailbox };
    },
    run: (session, args: CopyArgs) => runCopy(session, args, name === 'MOVE', byUid),
  });
}

async function runCopy(session: Session, args: CopyArgs, move: boolean, byUid: boolean) {
  const selected = session.requireSelected();
  const user = session.requireUser();
  const uids = targetUids(selected, args.set, byUid, session.savedSearch);
  const store = session.store;
  const targetName = mailboxFromWire(args.mailbox, session.utf8);
  const target = await store.mail.getMailbox(user.id, targetName);
  // RFC 9051 6.4.7: TRYCREATE when the target does not exist.
  if (!target) throw new ImapNo('TRYCREATE', 'No such mailbox');
  if (move && selected.readOnly) throw new ImapNo('READ-ONLY', 'Mailbox is read-only (EXAMINE)');
  if (uids.length === 0) return { text: `${move ? 'MOVE' : 'COPY'} completed (no messages)` };
  const result = move ? await store.mail.move(selected.mailbox.id, uids, target.id) : await store.mail.copy(selected.mailbox.id, uids, target.id);
  const copyUid = result.pairs.length > 0 ? `COPYUID ${result.uidValidity} ${formatOrderedSet(result.pairs.map((p) => p[0]))} ${formatOrderedSet(result.pairs.map((p) => p[1]))}` : null;
  if (target.id === selected.mailbox.id) for (const [, dst] of result.pairs) selected.noteExists(dst);
  if (!move) return copyUid ? { code: copyUid, text: 'COPY completed' } : undefined;
  // RFC 6851 4.3: COPYUID goes in an untagged OK before the expunges.
  if (copyUid) session.send(`* OK [${copyUid}] Moved`);
  for (const r of selected.applyExpunge(result.pairs.map((p) => p[0]), session.flushOptions(true))) session.send(r);
  return { text: 'MOVE completed' };
}

export const copy = copyCommand('COPY', false);
export const uidCopy = copyCommand('COPY', true);
export const move = copyCommand('MOVE', false);
export const uidMove = copyCommand('MOVE', true);
