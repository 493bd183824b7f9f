// QUOTA (RFC 9208): one quota root "" per user, STORAGE from the user record, usage from the store.
import { AUTHED, defineCommand } from '../command.ts';
import { str } from '../encoder.ts';
import { ImapNo } from '../errors.ts';
import { mailboxFromWire, mailboxToWire } from '../names.ts';
import type { Session } from '../session.ts';

async function sendQuota(session: Session): Promise<void> {
  const user = session.requireUser();
  const usage = await session.store.mail.quotaUsage(user.id);
  const limit = usage.limitBytes || user.quotaBytes;
  // RFC 9208 5.1: STORAGE is in units of 1024 octets. No limit: no resource is listed.
  const resources = limit > 0 ? `STORAGE ${Math.ceil(usage.usedBytes / 1024)} ${Math.floor(limit / 1024)}` : '';
  session.send(`* QUOTA "" (${resources})`);
}

export const getquotaroot = defineCommand({
  name: 'GETQUOTAROOT',
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
    if (!(await session.store.mail.getMailbox(user.id, name))) throw new ImapNo('NONEXISTENT', 'No such mailbox');
    session.send(['* QUOTAROOT ', ...str(mailboxToWire(name, session.utf8), { utf8: session.utf8 }), ' ""']);
    await sendQuota(session);
  },
});

export const getquota = defineCommand({
  name: 'GETQUOTA',
  states: AUTHED,
  parse(p) {
    p.sp();
    const root = p.astring();
    p.end();
    return root;
  },
  async run(session, root: string) {
    if (root !== '') throw new ImapNo('NONEXISTENT', 'No such quota root; the only root is ""');
    await sendQuota(session);
  },
});

export const setquota = defineCommand({
  name: 'SETQUOTA',
  states: AUTHED,
  parse(p) {
    p.sp();
    p.astring();
    p.sp();
    p.list(() => {
      p.atom();
      p.sp();
      return p.number64();
    }, true);
    p.end();
  },
  async run() {
    throw new ImapNo('NOPERM', 'Quotas are set by the administrator (mailstack user quota)');
  },
});
