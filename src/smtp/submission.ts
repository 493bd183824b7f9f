// Submission listeners (RFC 6409): 587 with STARTTLS and 465 with implicit TLS (RFC 8314). AUTH PLAIN and
// LOGIN only under TLS and not even advertised before it (Postfix smtpd_tls_auth_only); the sender must
// be the user's own (reject_sender_login_mismatch); mail is DKIM-signed, then delivered or queued.
import type { SMTPServerSession } from 'smtp-server';
import { authenticate, maySendAs } from '../accounts/index.ts';
import { headerValues } from '../delivery/index.ts';
import { splitAddress as splitAddr } from './address.ts';
import { newId } from '../log/index.ts';
import { systemClock, waitUntilDeadline, type Runtime } from '../runtime/index.ts';
import type { User } from '../store/types.ts';
import { readMessage, SessionState, startListener, type ListenerHandle } from './listener.ts';
import { receivedHeader, tlsDetails } from './received.ts';
import { replies, SmtpReply } from './reply.ts';
import { freeSpaceCheck } from './storage.ts';
import { reverseResolver } from './mx.ts';
import { addRecipient, callbackify, classifyRecipient, deliverMessage, newTransaction, requireStore, summarize, type SmtpDeps, type Transaction } from './transaction.ts';

interface SubmissionSession {
  transaction: Transaction;
  authFailures: number;
}

interface SessionUser {
  id: number;
  username: string;
}

/** The domain to sign for: the From header's, else the envelope sender's. */
export function fromDomain(raw: Buffer, envelopeFrom: string): string | null {
  const from = (headerValues(raw, 'From')[0] ?? '').slice(0, MAX_FROM_CHARS);
  const address = /<([^<>]*)>\s*$/.exec(from)?.[1] ?? bareAddress(from) ?? envelopeFrom;
  return splitAddr(address)?.domain.toLowerCase() ?? null;
}

/** More than any From line (998 octets) holds: a longer value is looked at only this far. */
const MAX_FROM_CHARS = 4096;

/** The first word with an "@" inside it (`user@host`, not `@host` or `user@`), in linear time. (A regex such as
 * /[^\s<>,;]+@[^\s<>,;]+/ backtracks over every start position of a long word without "@": quadratic.) */
function bareAddress(value: string): string | null {
  for (const word of value.split(/[\s<>,;]+/)) {
    const at = word.indexOf('@', 1);
    if (at !== -1 && at < word.length - 1) return word;
  }
  return null;
}

export async function startSubmission(runtime: Runtime, deps: SmtpDeps): Promise<ListenerHandle> {
  const config = runtime.config;
  const settings = config.submission;
  const hostname = config.server.hostname;
  const maxBytes = config.store.max_message_bytes;
  const overQuotaPermanent = config.store.over_quota === 'permanent';
  const log = runtime.log.child({ listener: 'submission' });
  const clock = runtime.clock ?? systemClock;
  const requireRoom = freeSpaceCheck(runtime, log);
  const sessions = new SessionState<SubmissionSession>(() => ({ transaction: newTransaction(), authFailures: 0 }));

  const handlers = (listenerName: string) => ({
    authMethods: ['PLAIN', 'LOGIN'],
    size: maxBytes,
    rejectOversized: true,
    resolver: reverseResolver(deps),
    onConnect(session: SMTPServerSession, callback: (err?: Error | null) => void) {
      if (!runtime.store()) return callback(replies.lockedAtConnect(hostname));
      // RFC 4954 4 / smtpd_tls_auth_only: no AUTH (not even in the EHLO list) before TLS.
      session.disabledCommands = session.secure ? [] : ['AUTH'];
      callback();
    },
    onSecure(_socket: unknown, session: SMTPServerSession, callback: (err?: Error | null) => void) {
      session.disabledCommands = [];
      callback();
    },
    onAuth(
      auth: { method: string; username?: string | undefined; password?: string | null | undefined; authzid?: string | undefined },
      session: SMTPServerSession,
      callback: (err: Error | null | undefined, response?: { user?: SessionUser }) => void,
    ) {
      callbackify(
        log,
        session,
        async () => {
          if (!session.secure) throw replies.authRequired();
          const store = runtime.store();
          if (!store) throw new SmtpReply(454, '4.7.0', 'Temporary authentication failure, try again later');
          const attemptStartedAt = clock.now();
          const login = (auth.username ?? '').trim();
          const password = auth.password ?? '';
          // RFC 4616 2: an authorization identity other than the login would be a proxy login: not offered.
          const user = auth.authzid && auth.authzid !== login ? null : await authenticate(store, login, password);
          if (!user) {
            const state = sessions.get(session);
            state.authFailures++;
            runtime.events.emit('auth-failure', { protocol: 'submission', listener: listenerName, remoteAddress: session.remoteAddress, account: login });
            // Answered at a deadline fixed before the password check, so its duration does not show.
            await waitUntilDeadline(clock, attemptStartedAt, runtime.guard.loginDelayMs(session.remoteAddress, login));
            log.info({ session: session.id, remote: session.remoteAddress, account: login }, 'authentication failed');
            if (state.authFailures >= settings.max_auth_failures) throw new SmtpReply(421, '4.7.0', 'Too many authentication failures');
            throw new SmtpReply(535, '5.7.8', 'Authentication credentials invalid');
          }
          runtime.events.emit('auth-success', { protocol: 'submission', listener: listenerName, remoteAddress: session.remoteAddress, account: user.address });
          return { user: { id: user.id, username: user.address } satisfies SessionUser };
        },
        (err, value) => (err ? callback(err) : callback(null, value)),
      );
    },
    onMailFrom(address: { address: string }, session: SMTPServerSession, callback: (err?: Error | null) => void) {
      callbackify(
        log,
        session,
        async () => {
          const sessionUser = session.user as SessionUser | undefined;
          // Before STARTTLS AUTH is hidden, so smtp-server does not ask for it itself: we do.
          if (!sessionUser) throw replies.authRequired();
          const store = requireStore(runtime);
          const state = sessions.get(session);
          state.transaction = newTransaction();
          await requireRoom(store);
          const user: User | null = await store.accounts.getUserById(sessionUser.id);
          if (!user) throw new SmtpReply(535, '5.7.8', 'Account no longer exists');
          // reject_sender_login_mismatch; the null sender (a user's own DSN/MDN software) is allowed.
          if (address.address !== '' && user.enforceSender && !(await maySendAs(store, user, address.address))) {
            throw replies.senderMismatch(address.address, user.address);
          }
        },
        callback,
      );
    },
    onRcptTo(address: { address: string }, session: SMTPServerSession, callback: (err?: Error | null) => void) {
      callbackify(
        log,
        session,
        async () => {
          const store = requireStore(runtime);
          const cls = await classifyRecipient(store, address.address, { mayRelay: true, overQuotaPermanent });
          addRecipient(sessions.get(session).transaction, cls, deps);
        },
        callback,
      );
    },
    onData(stream: Parameters<typeof readMessage>[0], session: SMTPServerSession, callback: (err?: Error | null, message?: string) => void) {
      callbackify(
        log,
        session,
        async () => {
          const raw = await readMessage(stream, maxBytes);
          if (!raw) throw new SmtpReply(552, '5.3.4', `Message size exceeds fixed limit of ${maxBytes} bytes`);
          const store = requireStore(runtime);
          const messageId = newId();
          const state = sessions.get(session);
          const envelopeFrom = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
          const rcpts = session.envelope.rcptTo;
          const received = receivedHeader({
            session,
            hostname,
            id: messageId,
            tls: tlsDetails(null, session),
            ...(rcpts.length === 1 && rcpts[0] ? { recipient: rcpts[0].address } : {}),
          });
          let message: Buffer = Buffer.concat([Buffer.from(received + '\r\n'), raw]);
          const domain = fromDomain(raw, envelopeFrom);
          if (deps.sign && domain) {
            try {
              message = await deps.sign(message, domain);
            } catch (err) {
              log.error({ err, session: session.id, domain }, 'DKIM signing failed');
              throw new SmtpReply(451, '4.7.0', 'Could not sign the message, try again later');
            }
          }
          const { outcomes, queueId } = await deliverMessage(store, deps, log, {
            raw: message,
            envelopeFrom,
            transaction: state.transaction,
            prependHeaders: [],
            messageId,
            session,
          });
          log.info({ session: session.id, message: messageId, user: (session.user as SessionUser).username, local: state.transaction.local.length, remote: state.transaction.remote.length, queueId }, 'submitted');
          state.transaction = newTransaction();
          return summarize(outcomes, messageId, queueId, overQuotaPermanent);
        },
        (err, message) => (err ? callback(err) : callback(null, message)),
      );
    },
  });

  const handles: ListenerHandle[] = [];
  try {
    if (settings.listen.length > 0) {
      handles.push(await startListener({ runtime, name: 'submission', protocol: 'submission', limits: settings, log, smtp: { ...handlers('submission') } }, settings.listen));
    }
    if (settings.listen_tls.length > 0) {
      handles.push(
        await startListener(
          { runtime, name: 'submission_tls', protocol: 'submission', limits: settings, log, smtp: { ...handlers('submission_tls'), secure: true } },
          settings.listen_tls,
        ),
      );
    }
  } catch (err) {
    await Promise.all(handles.map((h) => h.close()));
    throw err;
  }
  return {
    listening: handles.flatMap((h) => h.listening),
    close: async () => {
      await Promise.all(handles.map((h) => h.close()));
    },
  };
}
