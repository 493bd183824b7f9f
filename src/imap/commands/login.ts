// Login: STARTTLS (RFC 9051 6.2.1), AUTHENTICATE PLAIN with SASL-IR (RFC 4959, RFC 4616), LOGIN (6.2.3).
// No password crosses the wire before TLS: LOGINDISABLED and no AUTH= until then (RFC 9051 6.2.3, RFC 8314).
import { NOTAUTH, defineCommand } from '../command.ts';
import { ImapBye, ImapNo, ImapSyntaxError } from '../errors.ts';
import type { Session } from '../session.ts';

export const starttls = defineCommand({
  name: 'STARTTLS',
  states: NOTAUTH,
  parse: (p) => p.end(),
  async run(session, _args, tag) {
    if (session.transport.secure) throw new ImapNo('CLIENTBUG', 'TLS is already active');
    session.send(`${tag} OK Begin TLS negotiation now`);
    session.flushOutput();
    // RFC 9051 6.2.1: anything the client pipelined after STARTTLS is discarded by the transport.
    await session.transport.startTls();
    return { tagged: true };
  },
});

async function finishLogin(session: Session, account: string, password: string): Promise<{ code: string; text: string }> {
  const attemptStartedAt = session.clock.now();
  if (account.length === 0 || account.length > 320) {
    await session.loginFailed(account.slice(0, 320), attemptStartedAt);
    throw new ImapNo('AUTHENTICATIONFAILED', 'Invalid credentials');
  }
  const user = await session.authenticate(session.store, account, password);
  if (!user) {
    await session.loginFailed(account, attemptStartedAt);
    throw new ImapNo('AUTHENTICATIONFAILED', 'Invalid credentials');
  }
  session.loggedIn(user, account);
  return { code: `CAPABILITY ${session.capabilities().join(' ')}`, text: 'Logged in' };
}

export const login = defineCommand({
  name: 'LOGIN',
  states: NOTAUTH,
  parse(p) {
    p.sp();
    const user = p.astring();
    p.sp();
    const password = p.astring();
    p.end();
    return { user, password };
  },
  async run(session, args: { user: string; password: string }) {
    if (!session.transport.secure) throw new ImapNo('PRIVACYREQUIRED', 'LOGIN is disabled before STARTTLS');
    return finishLogin(session, args.user, args.password);
  },
});

/** The base64 of an AUTHENTICATE PLAIN response: authzid NUL authcid NUL password, bounded. */
const MAX_SASL_RESPONSE = 8192;

export const authenticate = defineCommand({
  name: 'AUTHENTICATE',
  states: NOTAUTH,
  parse(p) {
    p.sp();
    const mechanism = p.atom().toUpperCase();
    let initial: string | null = null;
    if (p.maybeSp()) {
      initial = p.peek() === '=' ? (p.expect('='), '') : p.atom();
    }
    p.end();
    return { mechanism, initial };
  },
  async run(session, args: { mechanism: string; initial: string | null }) {
    if (!session.transport.secure) throw new ImapNo('PRIVACYREQUIRED', 'AUTHENTICATE is disabled before STARTTLS');
    if (args.mechanism !== 'PLAIN') throw new ImapNo('CANNOT', `Unsupported mechanism ${args.mechanism.slice(0, 20)}; use PLAIN`);
    let response = args.initial;
    if (response === null) {
      session.send('+ ');
      session.flushOutput();
      const item = await session.transport.nextInput();
      if (!item) throw new ImapBye('Connection closed during AUTHENTICATE');
      if (item.kind !== 'frame') throw new ImapSyntaxError('Bad AUTHENTICATE response');
      response = (item.frame.lines[0] ?? '').trim();
      // RFC 9051 6.2.2: "*" cancels the exchange with a BAD.
      if (response === '*') throw new ImapSyntaxError('AUTHENTICATE cancelled');
    }
    if (response.length > MAX_SASL_RESPONSE || !/^[A-Za-z0-9+/]*={0,2}$/.test(response)) throw new ImapSyntaxError('AUTHENTICATE response is not base64');
    const decoded = Buffer.from(response, 'base64').toString('utf8');
    const parts = decoded.split('\0');
    if (parts.length !== 3) throw new ImapSyntaxError('AUTHENTICATE PLAIN expects authzid NUL authcid NUL password');
    const [authzid, authcid, password] = parts as [string, string, string];
    if (authzid !== '' && authzid.toLowerCase() !== authcid.toLowerCase()) {
      await session.loginFailed(authcid, session.clock.now());
      throw new ImapNo('AUTHORIZATIONFAILED', 'Logging in as another user is not allowed');
    }
    return finishLogin(session, authcid, password);
  },
});
