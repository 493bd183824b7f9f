// Mailbox management: CREATE (with CREATE-SPECIAL-USE, RFC 6154 3), DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE
// (RFC 9051 6.3.4-6.3.8), NAMESPACE (RFC 2342), ENABLE (RFC 5161).
import type { SpecialUse } from '../../store/types.ts';
import { AUTHED, defineCommand } from '../command.ts';
import { ImapNo, ImapSyntaxError } from '../errors.ts';
import { mailboxFromWire } from '../names.ts';
import type { Extension } from '../session.ts';

const SPECIAL_USES: readonly SpecialUse[] = ['\\Drafts', '\\Junk', '\\Trash', '\\Sent', '\\Archive', '\\All', '\\Flagged'];

export function parseSpecialUse(flag: string): SpecialUse {
  const found = SPECIAL_USES.find((u) => u.toLowerCase() === flag.toLowerCase());
  if (!found) throw new ImapNo('USEATTR', `Unknown special-use attribute ${flag.slice(0, 30)}`);
  return found;
}

export const create = defineCommand({
  name: 'CREATE',
  states: AUTHED,
  parse(p) {
    p.sp();
    const name = p.astring();
    const uses: string[] = [];
    if (p.maybeSp()) {
      // RFC 6154 3 / RFC 4466 create-params: (USE (\Drafts ...))
      p.open();
      p.expect('USE');
      p.sp();
      uses.push(...p.flagList());
      p.close();
    }
    p.end();
    return { name, uses };
  },
  async run(session, args: { name: string; uses: string[] }) {
    const user = session.requireUser();
    // RFC 9051 6.3.4: a trailing separator only says the client intends to create children.
    const wire = args.name.endsWith('/') && args.name.length > 1 ? args.name.slice(0, -1) : args.name;
    const name = mailboxFromWire(wire, session.utf8);
    if (name === 'INBOX') throw new ImapNo('ALREADYEXISTS', 'INBOX always exists');
    if (args.uses.length > 1) throw new ImapNo('USEATTR', 'At most one special-use attribute per mailbox');
    const specialUse = args.uses[0] ? parseSpecialUse(args.uses[0]) : null;
    const store = session.store;
    if (await store.mail.getMailbox(user.id, name)) throw new ImapNo('ALREADYEXISTS', 'Mailbox already exists');
    await store.mail.createMailbox(user.id, name, { specialUse, subscribe: false });
  },
});

export const del = defineCommand({
  name: 'DELETE',
  states: AUTHED,
  parse(p) {
    p.sp();
    const name = p.astring();
    p.end();
    return name;
  },
  async run(session, wire: string) {
    const user = session.requireUser();
    const name = mailboxFromWire(wire, session.utf8);
    if (name === 'INBOX') throw new ImapNo('CANNOT', 'INBOX cannot be deleted');
    const mailbox = await session.store.mail.getMailbox(user.id, name);
    if (!mailbox) throw new ImapNo('NONEXISTENT', 'No such mailbox');
    if (session.selected?.mailbox.id === mailbox.id) session.deselect();
    await session.store.mail.deleteMailbox(mailbox.id);
  },
});

export const rename = defineCommand({
  name: 'RENAME',
  states: AUTHED,
  parse(p) {
    p.sp();
    const from = p.astring();
    p.sp();
    const to = p.astring();
    p.end();
    return { from, to };
  },
  async run(session, args: { from: string; to: string }) {
    const user = session.requireUser();
    const from = mailboxFromWire(args.from, session.utf8);
    const to = mailboxFromWire(args.to, session.utf8);
    if (to === 'INBOX') throw new ImapNo('ALREADYEXISTS', 'INBOX always exists');
    if (to === from) throw new ImapNo('ALREADYEXISTS', 'Source and target are the same mailbox');
    // RFC 9051 6.3.6: INBOX may be renamed below itself (its messages move, INBOX stays).
    if (from !== 'INBOX' && to.startsWith(from + '/')) throw new ImapNo('CANNOT', 'A mailbox cannot be renamed into itself');
    const store = session.store;
    const mailbox = await store.mail.getMailbox(user.id, from);
    if (!mailbox) throw new ImapNo('NONEXISTENT', 'No such mailbox');
    if (await store.mail.getMailbox(user.id, to)) throw new ImapNo('ALREADYEXISTS', 'Target mailbox already exists');
    await store.mail.renameMailbox(mailbox.id, to);
  },
});

function subscription(name: 'SUBSCRIBE' | 'UNSUBSCRIBE', subscribed: boolean) {
  return defineCommand({
    name,
    states: AUTHED,
    parse(p) {
      p.sp();
      const wire = p.astring();
      p.end();
      return wire;
    },
    async run(session, wire: string) {
      const user = session.requireUser();
      const mailboxName = mailboxFromWire(wire, session.utf8);
      // RFC 9051 6.3.7: a name that does not exist (yet, or any more) may be subscribed, as Dovecot allows.
      await session.store.mail.setSubscribed(user.id, mailboxName, subscribed);
    },
  });
}

export const subscribe = subscription('SUBSCRIBE', true);
export const unsubscribe = subscription('UNSUBSCRIBE', false);

export const namespace = defineCommand({
  name: 'NAMESPACE',
  states: AUTHED,
  parse: (p) => p.end(),
  async run(session) {
    // RFC 2342 5: one personal namespace with an empty prefix, no other users', no shared.
    session.send('* NAMESPACE (("" "/")) NIL NIL');
  },
});

const ENABLEABLE: Record<string, Extension> = {
  CONDSTORE: 'CONDSTORE',
  QRESYNC: 'QRESYNC',
  'UTF8=ACCEPT': 'UTF8=ACCEPT',
  IMAP4REV2: 'IMAP4REV2',
};

export const enable = defineCommand({
  name: 'ENABLE',
  states: AUTHED,
  parse(p) {
    const caps: string[] = [];
    while (p.maybeSp()) caps.push(p.atom().toUpperCase());
    if (caps.length === 0) throw new ImapSyntaxError('ENABLE needs at least one capability');
    p.end();
    return caps;
  },
  async run(session, caps: string[]) {
    const newly: string[] = [];
    for (const cap of caps) {
      const ext = ENABLEABLE[cap];
      if (!ext || session.enabled.has(ext)) continue;
      session.enabled.add(ext);
      newly.push(cap === 'IMAP4REV2' ? 'IMAP4rev2' : cap);
      // RFC 7162 3.2.3: enabling QRESYNC implies CONDSTORE.
      if (ext === 'QRESYNC' && !session.enabled.has('CONDSTORE')) session.enabled.add('CONDSTORE');
    }
    session.send(`* ENABLED${newly.map((c) => ' ' + c).join('')}`);
  },
});
