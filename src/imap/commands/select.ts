// SELECT / EXAMINE (RFC 9051 6.3.2-6.3.3) with CONDSTORE and QRESYNC parameters (RFC 7162 3.1.8, 3.2.5),
// CLOSE, UNSELECT (RFC 3691), CHECK, EXPUNGE and UID EXPUNGE (RFC 4315 2.1).
import { AUTHED, SELECTED, defineCommand } from '../command.ts';
import { str } from '../encoder.ts';
import { ImapNo, ImapSyntaxError } from '../errors.ts';
import { SYSTEM_FLAGS, hasFlag } from '../flags.ts';
import { mailboxFromWire, mailboxToWire } from '../names.ts';
import { parseSequenceSet, resolveSet, formatSet, inRanges, type SeqRange, type SequenceSet } from '../parser/sequence.ts';
import { MailboxState } from '../mailbox-state.ts';
import { SelectedMailbox } from '../selected.ts';
import type { Session } from '../session.ts';

interface QresyncParams {
  uidValidity: number;
  modseq: number;
  knownUids: SeqRange[] | null;
}

interface SelectArgs {
  name: string;
  condstore: boolean;
  qresync: QresyncParams | null;
}

function selectCommand(name: 'SELECT' | 'EXAMINE', readOnly: boolean) {
  return defineCommand({
    name,
    states: AUTHED,
    parse(p): SelectArgs {
      p.sp();
      const args: SelectArgs = { name: p.astring(), condstore: false, qresync: null };
      if (p.maybeSp()) {
        p.list(() => {
          const param = p.atom().toUpperCase();
          if (param === 'CONDSTORE') {
            args.condstore = true;
          } else if (param === 'QRESYNC') {
            p.sp();
            p.open();
            const uidValidity = p.nzNumber();
            p.sp();
            const modseq = p.number64();
            let knownUids: SeqRange[] | null = null;
            if (p.maybeSp()) {
              if (p.peek() !== '(') {
                const set = parseSequenceSet(p);
                if (set.kind !== 'ranges') throw new ImapSyntaxError('"$" is not allowed in QRESYNC');
                knownUids = set.ranges;
                p.maybeSp();
              }
              if (p.peek() === '(') {
                // seq-match-data: accepted and ignored; we answer from the modseq, which is exact.
                p.open();
                parseSequenceSet(p);
                p.sp();
                parseSequenceSet(p);
                p.close();
              }
            }
            p.close();
            args.qresync = { uidValidity, modseq, knownUids };
          } else {
            throw new ImapSyntaxError(`Unknown SELECT parameter ${param.slice(0, 30)}`);
          }
        });
      }
      p.end();
      return args;
    },
    async run(session, args: SelectArgs) {
      const user = session.requireUser();
      if (args.qresync && !session.enabled.has('QRESYNC')) throw new ImapSyntaxError('QRESYNC parameter needs ENABLE QRESYNC first');
      const hadSelected = session.selected !== null;
      session.deselect();
      // RFC 9051 6.3.2 / RFC 7162 3.2.11: the end of the previous selection is marked (clients that do not
      // know the code ignore it, RFC 9051 7.1).
      if (hadSelected) session.send('* OK [CLOSED] Previous mailbox closed');
      if (args.condstore) session.enabled.add('CONDSTORE');
      const mailboxName = mailboxFromWire(args.name, session.utf8);
      const store = session.store;
      const mailbox = await store.mail.getMailbox(user.id, mailboxName);
      if (!mailbox) throw new ImapNo('NONEXISTENT', 'No such mailbox');
      // The shared state subscribes to the feed before it reads the list (mailbox-state.ts): a change in
      // between is applied once, never lost. A mailbox another session has selected costs no store read.
      const state = await MailboxState.acquire(store, mailbox.id);
      let fresh: typeof mailbox;
      try {
        fresh = (await store.mail.getMailboxById(mailbox.id)) ?? mailbox;
      } catch (err) {
        MailboxState.release(store, state);
        throw err;
      }
      const selected = new SelectedMailbox(fresh, readOnly, state, () => MailboxState.release(store, state));
      session.selected = selected;
      session.state = 'selected';

      // Keywords in use and the first unseen message, from the interned flag sets (few) and one pass over
      // the per-message set ids.
      const sets = state.flags;
      const used = new Uint8Array(sets.size);
      let firstUnseen = 0;
      for (let i = 0; i < state.count; i++) {
        const id = state.flagIds[i] as number;
        used[id] = 1;
        if (firstUnseen === 0 && !sets.seen[id]) firstUnseen = i + 1;
      }
      const keywords = new Set<string>();
      used.forEach((inUse, id) => {
        if (inUse) for (const f of sets.lists[id] as readonly string[]) if (!f.startsWith('\\')) keywords.add(f);
      });
      const flags = [...SYSTEM_FLAGS, ...keywords].join(' ');
      const highestModSeq = Math.max(fresh.highestModSeq, state.highestModseq);
      const exists = selected.exists;
      session.send(`* ${exists} EXISTS`);
      if (!session.enabled.has('IMAP4REV2')) {
        session.send('* 0 RECENT');
        if (firstUnseen > 0) session.send(`* OK [UNSEEN ${firstUnseen}] First unseen`);
      }
      session.send(`* FLAGS (${flags})`);
      session.send(readOnly ? '* OK [PERMANENTFLAGS ()] Read-only mailbox' : `* OK [PERMANENTFLAGS (${flags} \\*)] Flags permitted`);
      session.send(`* OK [UIDVALIDITY ${fresh.uidValidity}] UIDs valid`);
      session.send(`* OK [UIDNEXT ${fresh.uidNext}] Predicted next UID`);
      session.send(`* OK [HIGHESTMODSEQ ${highestModSeq}] Highest`);
      if (session.enabled.has('IMAP4REV2')) {
        session.send(['* LIST () "/" ', ...str(mailboxToWire(fresh.name, session.utf8), { utf8: session.utf8 })]);
      }
      if (args.qresync && args.qresync.uidValidity === fresh.uidValidity) await qresync(session, selected, args.qresync);
      return { code: readOnly ? 'READ-ONLY' : 'READ-WRITE', text: `${readOnly ? 'EXAMINE' : 'SELECT'} completed` };
    },
  });
}

/** RFC 7162 3.2.5.2: what changed since the client's modseq, as VANISHED (EARLIER) and FETCH. */
async function qresync(session: Session, selected: SelectedMailbox, q: QresyncParams): Promise<void> {
  const store = session.store;
  let vanished = await store.mail.expungedSince(selected.mailbox.id, q.modseq);
  if (q.knownUids) {
    const known = q.knownUids;
    vanished = vanished.filter((uid) => inRanges(uid, known));
  }
  if (vanished.length > 0) session.send(`* VANISHED (EARLIER) ${formatSet(vanished)}`);
  const changed = await store.mail.changedSince(selected.mailbox.id, q.modseq);
  for (const m of changed) {
    const seq = selected.seqOf(m.uid);
    if (seq === 0) continue;
    session.send(`* ${seq} FETCH (UID ${m.uid} FLAGS ${session.flagList(m.flags)} MODSEQ (${m.modseq}))`);
  }
}

export const select = selectCommand('SELECT', false);
export const examine = selectCommand('EXAMINE', true);

/** Removes \Deleted messages (all, or those among `uids`) and reports them. */
export async function expungeDeleted(session: Session, uids: number[] | null, report: boolean): Promise<void> {
  const selected = session.requireSelected();
  if (selected.readOnly) throw new ImapNo('READ-ONLY', 'Mailbox is read-only');
  const store = session.store;
  const messages = await store.mail.listMessages(selected.mailbox.id);
  const wanted = uids ? new Set(uids) : null;
  const targets = messages.filter((m) => hasFlag(m.flags, '\\Deleted') && (!wanted || wanted.has(m.uid))).map((m) => m.uid);
  if (targets.length === 0) return;
  const result = await store.mail.expunge(selected.mailbox.id, targets);
  const responses = selected.applyExpunge(result.uids, session.flushOptions(true));
  if (report) for (const r of responses) session.send(r);
}

export const close = defineCommand({
  name: 'CLOSE',
  states: SELECTED,
  parse: (p) => p.end(),
  async run(session) {
    const selected = session.requireSelected();
    // RFC 9051 6.4.1: CLOSE expunges silently (no EXPUNGE responses) unless the mailbox is read-only.
    if (!selected.readOnly) await expungeDeleted(session, null, false);
    session.deselect();
  },
});

export const unselect = defineCommand({
  name: 'UNSELECT',
  states: SELECTED,
  parse: (p) => p.end(),
  async run(session) {
    session.deselect();
  },
});

export const check = defineCommand({
  name: 'CHECK',
  states: SELECTED,
  parse: (p) => p.end(),
  async run() {},
});

export const expunge = defineCommand({
  name: 'EXPUNGE',
  states: SELECTED,
  parse: (p) => p.end(),
  async run(session) {
    await expungeDeleted(session, null, true);
  },
});

export const uidExpunge = defineCommand({
  name: 'UID EXPUNGE',
  states: SELECTED,
  parse(p) {
    p.sp();
    const set = parseSequenceSet(p);
    p.end();
    return set;
  },
  async run(session, set: SequenceSet) {
    const selected = session.requireSelected();
    const uids = set.kind === 'saved' ? session.savedSearch : resolveSet(set.ranges, selected.uids);
    await expungeDeleted(session, uids, true);
  },
});
