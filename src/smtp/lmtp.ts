// The LMTP listener (RFC 2033): an existing MTA (Postfix with `virtual_transport = lmtp:...`) hands mail
// over for local delivery, one reply per recipient after DATA. Unix socket or TCP. LMTP peers are trusted
// like Dovecot's LMTP: no MX restrictions and no SPF/DKIM checks (the MTA in front does those); recipients
// must exist.
import { newId } from '../log/index.ts';
import type { Runtime } from '../runtime/index.ts';
import { readMessage, SessionState, startListener, type ListenerHandle } from './listener.ts';
import { receivedHeader } from './received.ts';
import { replies, SmtpReply } from './reply.ts';
import { freeSpaceCheck } from './storage.ts';
import {
  addRecipient,
  callbackify,
  classifyRecipient,
  deliverMessage,
  newTransaction,
  perRecipientReplies,
  requireStore,
  type SmtpDeps,
  type Transaction,
} from './transaction.ts';

export async function startLmtp(runtime: Runtime, deps: SmtpDeps): Promise<ListenerHandle> {
  const config = runtime.config;
  const hostname = config.server.hostname;
  const maxBytes = config.store.max_message_bytes;
  const overQuotaPermanent = config.store.over_quota === 'permanent';
  const log = runtime.log.child({ listener: 'lmtp' });
  const requireRoom = freeSpaceCheck(runtime, log);
  const sessions = new SessionState<{ transaction: Transaction }>(() => ({ transaction: newTransaction() }));

  return startListener(
    {
      runtime,
      name: 'lmtp',
      protocol: 'lmtp',
      limits: config.lmtp,
      log,
      socketMode: config.lmtp.socket_mode,
      smtp: {
        lmtp: true,
        // Trusted local transport: no AUTH, and no STARTTLS (Postfix's LMTP client does not use it by default).
        disabledCommands: ['AUTH', 'STARTTLS'],
        authOptional: true,
        disableReverseLookup: true,
        size: maxBytes,
        rejectOversized: true,
        onConnect(_session, callback) {
          if (!runtime.store()) return callback(replies.lockedAtConnect(hostname));
          callback();
        },
        onMailFrom(_address, session, callback) {
          callbackify(
            log,
            session,
            async () => {
              const store = requireStore(runtime);
              sessions.get(session).transaction = newTransaction();
              await requireRoom(store);
            },
            callback,
          );
        },
        onRcptTo(address, session, callback) {
          callbackify(
            log,
            session,
            async () => {
              const store = requireStore(runtime);
              // No relaying through LMTP: a remote domain is an unknown user here.
              const cls = await classifyRecipient(store, address.address, { mayRelay: false, overQuotaPermanent }).catch((err: unknown) => {
                if (err instanceof SmtpReply && err.enhanced === '5.7.1') throw replies.userUnknown(address.address, 'not a local domain');
                throw err;
              });
              addRecipient(sessions.get(session).transaction, cls, deps);
            },
            callback,
          );
        },
        onData(stream, session, callback) {
          const recipients = session.envelope.rcptTo.map((r) => r.address);
          const transaction = sessions.get(session).transaction;
          callbackify(
            log,
            session,
            async () => {
              const raw = await readMessage(stream, maxBytes);
              if (!raw) throw new SmtpReply(552, '5.3.4', `Message size exceeds fixed limit of ${maxBytes} bytes`);
              const store = requireStore(runtime);
              const messageId = newId();
              const envelopeFrom = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
              const received = receivedHeader({ session, hostname, id: messageId, ...(recipients.length === 1 ? { recipient: recipients[0]! } : {}) });
              const { outcomes } = await deliverMessage(store, deps, log, {
                raw,
                envelopeFrom,
                transaction,
                prependHeaders: [received],
                messageId,
                session,
              });
              sessions.get(session).transaction = newTransaction();
              return perRecipientReplies(recipients, outcomes, messageId, overQuotaPermanent);
            },
            (err, value) => (err ? callback(err) : callback(null, value)),
          );
        },
      },
    },
    config.lmtp.listen,
  );
}
