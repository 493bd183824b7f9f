// LIST and LSUB (RFC 9051 6.3.9, RFC 3501 6.3.9) with LIST-EXTENDED (RFC 5258), LIST-STATUS (RFC 5819),
// SPECIAL-USE (RFC 6154) and CHILDREN (RFC 3348).
import type { Mailbox } from '../../store/types.ts';
import { AUTHED, defineCommand } from '../command.ts';
import { str } from '../encoder.ts';
import { ImapSyntaxError } from '../errors.ts';
import { compilePattern, mailboxToWire, patternFromWire, SEPARATOR } from '../names.ts';
import type { CommandParser } from '../parser/tokens.ts';
import type { Session } from '../session.ts';
import { parseStatusItems, sendStatus, type StatusItem } from './status.ts';

interface ListArgs {
  lsub: boolean;
  selectSubscribed: boolean;
  selectSpecialUse: boolean;
  recursiveMatch: boolean;
  reference: string;
  patterns: string[];
  returnSubscribed: boolean;
  returnChildren: boolean;
  returnSpecialUse: boolean;
  returnStatus: StatusItem[] | null;
  extended: boolean;
}

function parseList(p: CommandParser, lsub: boolean): ListArgs {
  const args: ListArgs = {
    lsub, selectSubscribed: false, selectSpecialUse: false, recursiveMatch: false, reference: '', patterns: [],
    returnSubscribed: false, returnChildren: false, returnSpecialUse: false, returnStatus: null, extended: false,
  };
  p.sp();
  if (!lsub && p.peek() === '(') {
    args.extended = true;
    p.list(() => {
      const opt = p.atom().toUpperCase();
      if (opt === 'SUBSCRIBED') args.selectSubscribed = true;
      else if (opt === 'SPECIAL-USE') args.selectSpecialUse = true;
      else if (opt === 'RECURSIVEMATCH') args.recursiveMatch = true;
      else if (opt !== 'REMOTE') throw new ImapSyntaxError(`Unknown LIST selection option ${opt.slice(0, 30)}`);
    }, true);
    // RFC 5258 3: RECURSIVEMATCH alone is an error.
    if (args.recursiveMatch && !args.selectSubscribed && !args.selectSpecialUse) throw new ImapSyntaxError('RECURSIVEMATCH needs another selection option');
    p.sp();
  }
  args.reference = p.astring();
  p.sp();
  if (!lsub && p.peek() === '(') {
    args.extended = true;
    args.patterns = p.list(() => p.listMailbox());
  } else {
    args.patterns = [p.listMailbox()];
  }
  if (!lsub && p.maybeSp()) {
    args.extended = true;
    p.expect('RETURN');
    p.sp();
    p.list(() => {
      const opt = p.atom().toUpperCase();
      if (opt === 'SUBSCRIBED') args.returnSubscribed = true;
      else if (opt === 'CHILDREN') args.returnChildren = true;
      else if (opt === 'SPECIAL-USE') args.returnSpecialUse = true;
      else if (opt === 'STATUS') {
        p.sp();
        args.returnStatus = parseStatusItems(p);
      } else throw new ImapSyntaxError(`Unknown LIST return option ${opt.slice(0, 30)}`);
    }, true);
  }
  p.end();
  return args;
}

interface Entry {
  name: string;
  mailbox: Mailbox | null;
  subscribed: boolean;
  hasChildren: boolean;
  /** RFC 5258 CHILDINFO: a child (not the entry) matches the selection. */
  childSubscribed: boolean;
}

async function runList(session: Session, args: ListArgs): Promise<void> {
  const user = session.requireUser();
  const store = session.store;
  const verb = args.lsub ? 'LSUB' : 'LIST';
  // RFC 9051 6.3.9: an empty pattern asks for the hierarchy delimiter.
  if (args.patterns.length === 1 && args.patterns[0] === '') {
    session.send(`* ${verb} (\\Noselect) "${SEPARATOR}" ""`);
    return;
  }
  const utf8 = session.utf8;
  const matchers = args.patterns.map((pat) => compilePattern(patternFromWire(args.reference, utf8), patternFromWire(pat, utf8)));
  const matches = (name: string) => matchers.some((m) => m(name));
  const mailboxes = await store.mail.listMailboxes(user.id);
  const subscriptions = new Set(await store.mail.listSubscriptions(user.id));
  const byName = new Map(mailboxes.map((m) => [m.name, m]));
  const allNames = new Set<string>([...byName.keys()]);
  if (args.selectSubscribed || args.lsub) for (const s of subscriptions) allNames.add(s);
  // Parents that do not exist themselves but have children (listed as \Noselect, RFC 9051 6.3.9).
  for (const name of [...allNames]) {
    const parts = name.split(SEPARATOR);
    for (let i = 1; i < parts.length; i++) allNames.add(parts.slice(0, i).join(SEPARATOR));
  }
  const hasChildren = new Set<string>();
  const childSubscribed = new Set<string>();
  for (const name of allNames) {
    const cut = name.lastIndexOf(SEPARATOR);
    if (cut > 0) {
      let parent = name.slice(0, cut);
      if (byName.has(name)) hasChildren.add(parent);
      if (subscriptions.has(name)) {
        for (;;) {
          childSubscribed.add(parent);
          const up = parent.lastIndexOf(SEPARATOR);
          if (up <= 0) break;
          parent = parent.slice(0, up);
        }
      }
    }
  }
  const entries: Entry[] = [];
  for (const name of [...allNames].sort(compareNames)) {
    const mailbox = byName.get(name) ?? null;
    const subscribed = subscriptions.has(name);
    const entry: Entry = { name, mailbox, subscribed, hasChildren: hasChildren.has(name), childSubscribed: childSubscribed.has(name) };
    if (!matches(name)) continue;
    if (args.lsub || args.selectSubscribed) {
      if (!subscribed && !(args.recursiveMatch || args.lsub ? entry.childSubscribed : false)) continue;
    } else if (!mailbox && !entry.hasChildren) {
      continue;
    }
    if (args.selectSpecialUse && !(mailbox?.specialUse)) continue;
    entries.push(entry);
  }
  for (const e of entries) {
    const attrs: string[] = [];
    if (!e.mailbox) attrs.push(args.extended && !e.hasChildren ? '\\NonExistent' : '\\Noselect');
    // RFC 3348 / RFC 5258 4: child information on LIST; LSUB stays as RFC 3501 has it.
    if (!args.lsub && (e.mailbox || e.hasChildren)) attrs.push(e.hasChildren ? '\\HasChildren' : '\\HasNoChildren');
    if ((args.returnSubscribed || args.selectSubscribed) && e.subscribed && !args.lsub) attrs.push('\\Subscribed');
    if (e.mailbox?.specialUse) attrs.push(e.mailbox.specialUse);
    const extra = !args.lsub && args.recursiveMatch && e.childSubscribed && !e.subscribed ? ' ("CHILDINFO" ("SUBSCRIBED"))' : '';
    session.send([`* ${verb} (${attrs.join(' ')}) "${SEPARATOR}" `, ...str(mailboxToWire(e.name, utf8), { utf8 }), extra]);
    if (args.returnStatus && e.mailbox) await sendStatus(session, e.mailbox, args.returnStatus);
  }
}

/** INBOX first, then by name. */
function compareNames(a: string, b: string): number {
  if (a === 'INBOX') return -1;
  if (b === 'INBOX') return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

export const list = defineCommand({
  name: 'LIST',
  states: AUTHED,
  parse: (p) => parseList(p, false),
  run: (session, args: ListArgs) => runList(session, args),
});

export const lsub = defineCommand({
  name: 'LSUB',
  states: AUTHED,
  parse: (p) => parseList(p, true),
  run: (session, args: ListArgs) => runList(session, args),
});
