// The inbound MX listener (port 25): mail from the world for our domains only. Restrictions as in the
// reference main.cf (policy.ts); SPF/DKIM/DMARC/ARC on every message from an untrusted client; 250 only
// once the store says durable.
import type { SMTPServerSession } from 'smtp-server';
import { checkInbound, createAuthCheckCache, removeForgedAuthResults } from '../authcheck/index.ts';
import { newId } from '../log/index.ts';
import type { Runtime } from '../runtime/index.ts';
import { readMessage, SessionState, startListener, trustedNetworks, type ListenerHandle } from './listener.ts';
import { heloRestriction, recipientSyntaxRestriction, reverseClientRestriction, senderRestriction } from './policy.ts';
import { receivedHeader, tlsDetails } from './received.ts';
import { replies, SmtpReply } from './reply.ts';
import { freeSpaceCheck } from './storage.ts';
import { addRecipient, callbackify, classifyRecipient, deliverMessage, newTransaction, requireStore, summarize, type SmtpDeps, type Transaction } from './transaction.ts';

interface MxSession {
  transaction: Transaction;
  /** reject_unknown_reverse_client is decided once per connection. */
  reverseVerdict?: Promise<SmtpReply | null>;
  /** Whether the client is in a trusted network: once per connection too (asked at MAIL, RCPT and DATA). */
  trusted?: boolean;
}

export function reverseResolver(deps: SmtpDeps) {
  return {
    reverse(ip: string, callback: (err: Error | null, hostnames?: string[]) => void) {
      deps.resolver.ptr(ip).then(
        // A copy: smtp-server shift()s the array, and the resolver may hand out its cached one.
        (names) => callback(null, [...names]),
        (err: Error) => callback(err),
      );
    },
  };
}

export async function startMx(runtime: Runtime, deps: SmtpDeps): Promise<ListenerHandle> {
  const config = runtime.config;
  const policy = config.smtp;
  const hostname = config.server.hostname;
  const maxBytes = config.store.max_message_bytes;
  const overQuotaPermanent = config.store.over_quota === 'permanent';
  const isTrusted = trustedNetworks(config.server.trusted_networks);
  const log = runtime.log.child({ listener: 'smtp' });
  const sessions = new SessionState<MxSession>(() => ({ transaction: newTransaction() }));
  // Mail from one sender mostly comes from the same few hosts: their SPF and DMARC results are reused while
  // the DNS answers they came from are cached (the same verdict, without mailauth's CPU per message).
  const authCache = createAuthCheckCache(deps.resolver);
  const requireRoom = freeSpaceCheck(runtime, log);

  const exempt = (session: SMTPServerSession) => {
    const state = sessions.get(session);
    return (state.trusted ??= isTrusted(session.remoteAddress));
  };

  return startListener(
    {
      runtime,
      name: 'smtp',
      protocol: 'smtp',
      limits: policy,
      log,
      smtp: {
        // No AUTH on port 25 at all: users submit on 587/465 (reference master.cf).
        disabledCommands: ['AUTH'],
        authOptional: true,
        size: maxBytes,
        rejectOversized: true,
        resolver: reverseResolver(deps),
        onConnect(_session, callback) {
          // A locked vault: 421 before anything else, the sender retries later (RFC 5321 3.8).
          if (!runtime.store()) return callback(replies.lockedAtConnect(hostname));
          callback();
        },
        onMailFrom(address, session, callback) {
          callbackify(
            log,
            session,
            async () => {
              const store = requireStore(runtime);
              const state = sessions.get(session);
              state.transaction = newTransaction();
              await requireRoom(store);
              if (exempt(session)) return;
              const helo = heloRestriction(policy, session.hostNameAppearsAs || '');
              if (helo) throw helo;
              const sender = await senderRestriction(policy, address.address, deps.resolver);
              if (sender) throw sender;
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
              const state = sessions.get(session);
              const trusted = exempt(session);
              if (!trusted) {
                state.reverseVerdict ??= reverseClientRestriction(policy, session.remoteAddress, deps.resolver);
                const reverse = await state.reverseVerdict;
                if (reverse) throw reverse;
                if (address.address.toLowerCase() !== 'postmaster') {
                  const syntax = recipientSyntaxRestriction(policy, address.address);
                  if (syntax) throw syntax;
                }
              }
              const cls = await classifyRecipient(store, address.address, { mayRelay: trusted, overQuotaPermanent });
              addRecipient(state.transaction, cls, deps);
            },
            callback,
          );
        },
        onData(stream, session, callback) {
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
              const clean = removeForgedAuthResults(raw, hostname);
              const prepend: string[] = [];
              let junk = false;
              if (policy.auth_checks && !exempt(session)) {
                const verdict = await checkInbound({
                  raw: clean,
                  ip: session.remoteAddress,
                  helo: session.hostNameAppearsAs || '',
                  sender: envelopeFrom,
                  hostname,
                  resolver: deps.resolver.mailauth,
                  cache: authCache,
                  timeoutMs: policy.auth_check_timeout_ms,
                  honourReject: policy.dmarc_reject,
                  honourQuarantine: policy.dmarc_quarantine,
                  log,
                });
                log.info({ session: session.id, message: messageId, spf: verdict.spf, dkim: verdict.dkim, dmarc: verdict.dmarc, arc: verdict.arc, action: verdict.action }, 'authentication checks');
                // RFC 7489 6.6.2/10.3: p=reject is honoured by refusing in the SMTP dialogue, so nobody
                // (least of all the forged sender) gets a bounce.
                if (verdict.action === 'reject') throw new SmtpReply(550, '5.7.1', `Message rejected: ${verdict.reason ?? 'DMARC policy'}`);
                junk = verdict.action === 'quarantine';
                prepend.push(...verdict.headers);
              }
              const rcpts = session.envelope.rcptTo;
              prepend.unshift(
                receivedHeader({
                  session,
                  hostname,
                  id: messageId,
                  tls: tlsDetails(null, session),
                  ...(rcpts.length === 1 && rcpts[0] ? { recipient: rcpts[0].address } : {}),
                }),
              );
              const { outcomes, queueId } = await deliverMessage(store, deps, log, {
                raw: clean,
                envelopeFrom,
                transaction: state.transaction,
                prependHeaders: prepend,
                junk,
                messageId,
                session,
              });
              state.transaction = newTransaction();
              return summarize(outcomes, messageId, queueId, overQuotaPermanent);
            },
            (err, message) => (err ? callback(err) : callback(null, message)),
          );
        },
      },
    },
    config.smtp.listen,
  );
}
