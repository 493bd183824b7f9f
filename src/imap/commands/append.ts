// APPEND (RFC 9051 6.3.12) with UIDPLUS APPENDUID (RFC 4315 3), BINARY literal8 (RFC 3516 4.4),
// UTF8 (RFC 6855 4) and APPENDLIMIT (RFC 7889: the literal size was already checked by the framer).
import { AUTHED, defineCommand } from '../command.ts';
import { ImapNo } from '../errors.ts';
import { parseDateTime } from '../datetime.ts';
import { canonicalFlag } from '../flags.ts';
import { mailboxFromWire } from '../names.ts';

interface AppendArgs {
  mailbox: string;
  flags: string[];
  internalDate: number | undefined;
  raw: Buffer;
}

export const append = defineCommand({
  name: 'APPEND',
  states: AUTHED,
  parse(p): AppendArgs {
    p.sp();
    const mailbox = p.astring();
    p.sp();
    let flags: string[] = [];
    if (p.peek() === '(') {
      flags = p.flagList().map(canonicalFlag);
      p.sp();
    }
    let internalDate: number | undefined;
    if (p.peek() === '"') {
      internalDate = parseDateTime(p.quoted());
      p.sp();
    }
    let raw: Buffer;
    if (p.take('UTF8 (')) {
      raw = p.literal(true);
      p.expect(')');
    } else {
      raw = p.literal(true);
    }
    p.end();
    return { mailbox, flags, internalDate, raw };
  },
  async run(session, args: AppendArgs) {
    const user = session.requireUser();
    const name = mailboxFromWire(args.mailbox, session.utf8);
    const store = session.store;
    const mailbox = await store.mail.getMailbox(user.id, name);
    // RFC 9051 6.3.12: TRYCREATE tells the client it may create the mailbox and retry.
    if (!mailbox) throw new ImapNo('TRYCREATE', 'No such mailbox');
    if (args.raw.length > session.config.store.max_message_bytes) throw new ImapNo('TOOBIG', 'Message is over the size limit');
    if (args.flags.some((f) => f === '\\Recent')) throw new ImapNo('CANNOT', '\\Recent cannot be set');
    const input = args.internalDate === undefined ? { raw: args.raw, flags: args.flags } : { raw: args.raw, flags: args.flags, internalDate: args.internalDate };
    const result = await store.mail.append(mailbox.id, input);
    if (session.selected?.mailbox.id === mailbox.id) session.selected.noteExists(result.uid);
    return { code: `APPENDUID ${result.uidValidity} ${result.uid}`, text: 'APPEND completed' };
  },
});
