// STATUS (RFC 9051 6.3.11) with STATUS=SIZE (RFC 8438), HIGHESTMODSEQ (RFC 7162 3.1.6), APPENDLIMIT
// (RFC 7889), RECENT (RFC 3501) and DELETED (RFC 9051).
import type { Mailbox } from '../../store/types.ts';
import { AUTHED, defineCommand } from '../command.ts';
import { str } from '../encoder.ts';
import { ImapNo, ImapSyntaxError } from '../errors.ts';
import { mailboxFromWire, mailboxToWire } from '../names.ts';
import type { CommandParser } from '../parser/tokens.ts';
import type { Session } from '../session.ts';

export const STATUS_ITEMS = ['MESSAGES', 'RECENT', 'UIDNEXT', 'UIDVALIDITY', 'UNSEEN', 'DELETED', 'SIZE', 'HIGHESTMODSEQ', 'APPENDLIMIT'] as const;
export type StatusItem = (typeof STATUS_ITEMS)[number];

export function parseStatusItems(p: CommandParser): StatusItem[] {
  return p.list(() => {
    const word = p.atom().toUpperCase();
    const item = STATUS_ITEMS.find((i) => i === word);
    if (!item) throw new ImapSyntaxError(`Unknown STATUS item ${word.slice(0, 30)}`);
    return item;
  });
}

/** Sends `* STATUS name (items)` for one mailbox. */
export async function sendStatus(session: Session, mailbox: Mailbox, items: readonly StatusItem[]): Promise<void> {
  const s = await session.store.mail.mailboxStatus(mailbox.id);
  const values: string[] = [];
  for (const item of items) {
    switch (item) {
      case 'MESSAGES':
        values.push(`MESSAGES ${s.messages}`);
        break;
      case 'RECENT':
        values.push(`RECENT ${s.recent}`);
        break;
      case 'UIDNEXT':
        values.push(`UIDNEXT ${s.uidNext}`);
        break;
      case 'UIDVALIDITY':
        values.push(`UIDVALIDITY ${s.uidValidity}`);
        break;
      case 'UNSEEN':
        values.push(`UNSEEN ${s.unseen}`);
        break;
      case 'DELETED':
        values.push(`DELETED ${s.deleted}`);
        break;
      case 'SIZE':
        values.push(`SIZE ${s.size}`);
        break;
      case 'HIGHESTMODSEQ':
        values.push(`HIGHESTMODSEQ ${s.highestModSeq}`);
        break;
      case 'APPENDLIMIT':
        values.push(`APPENDLIMIT ${session.config.store.max_message_bytes}`);
        break;
    }
  }
  session.send(['* STATUS ', ...str(mailboxToWire(mailbox.name, session.utf8), { utf8: session.utf8 }), ` (${values.join(' ')})`]);
}

export const status = defineCommand({
  name: 'STATUS',
  states: AUTHED,
  parse(p) {
    p.sp();
    const name = p.astring();
    p.sp();
    const items = parseStatusItems(p);
    p.end();
    return { name, items };
  },
  async run(session, args: { name: string; items: StatusItem[] }) {
    const user = session.requireUser();
    const name = mailboxFromWire(args.name, session.utf8);
    const mailbox = await session.store.mail.getMailbox(user.id, name);
    if (!mailbox) throw new ImapNo('NONEXISTENT', 'No such mailbox');
    if (args.items.includes('HIGHESTMODSEQ')) session.enabled.add('CONDSTORE');
    await sendStatus(session, mailbox, args.items);
  },
});
