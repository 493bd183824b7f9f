// What the SMTP listeners share once a recipient or a message is in hand: classifying a recipient
// (local user, remote, unknown) and handing a finished message to local delivery and the outbound queue.
import type { SMTPServerSession } from 'smtp-server';
import { isLocalDomain, resolveRecipient, type Resolution } from '../accounts/index.ts';
import { deliverAndQueue, type RecipientOutcome } from '../delivery/index.ts';
import type { Logger } from '../log/index.ts';
import type { Runtime } from '../runtime/index.ts';
import { StoreError, type QueueEntry, type Store } from '../store/types.ts';
import type { Resolver } from '../dns/index.ts';
import { splitAddress } from './address.ts';
import { replies, SmtpReply } from './reply.ts';

/** The outbound queue as the listeners see it (provided by the queue subsystem). */
export interface QueuePort {
  enqueue(sender: string, recipients: string[], raw: Buffer): Promise<string /* queue id */>;
  /** An entry the listener stored itself, with the message's local copies in one transaction
   * (deliverAndQueue): the queue takes it up as if enqueue had made it. */
  accepted(entry: QueueEntry): void;
}

export interface SmtpDeps {
  resolver: Resolver;
  /** Outbound queue for remote recipients (submission, trusted relays). Without it remote recipients are
   * refused with a temporary error. */
  queue?: QueuePort;
  /** DKIM signing of submitted mail for its From domain (returns the message unchanged when the domain has
   * no key). Without it submitted mail goes out unsigned. */
  sign?(raw: Buffer, fromDomain: string): Promise<Buffer>;
}

/** Per-transaction recipient classification, reset at MAIL FROM. */
export interface Transaction {
  local: string[];
  remote: string[];
  /** RCPT-time resolutions of the local recipients, handed to deliverLocal. */
  resolved: Map<string, Resolution>;
}

export function newTransaction(): Transaction {
  return { local: [], remote: [], resolved: new Map() };
}

export function requireStore(runtime: Runtime): Store {
  const store = runtime.store();
  if (!store) throw replies.storeLocked();
  return store;
}

/** RFC 5321 4.5.1: "postmaster" without a domain must be accepted; it means our postmaster. */
async function qualifyPostmaster(store: Store, address: string): Promise<string> {
  if (address.toLowerCase() !== 'postmaster') return address;
  const domains = await store.accounts.listDomains();
  return domains[0] ? `postmaster@${domains[0].name}` : address;
}

export type RecipientClass =
  | { kind: 'local'; address: string; /** Remote targets of its aliases: to be queued. */ forwards: string[]; resolution: Resolution }
  | { kind: 'remote'; address: string };

/** Records a classified recipient in the transaction (forwards of local aliases go to the queue). */
export function addRecipient(transaction: Transaction, cls: RecipientClass, deps: SmtpDeps): void {
  const remote = cls.kind === 'remote' ? [cls.address] : cls.forwards;
  if (remote.length > 0 && !deps.queue) throw new SmtpReply(451, '4.3.0', 'Outbound queue not available, try again later');
  // smtp-server keeps one entry per address (case-insensitively) when a client repeats a RCPT: so do we,
  // which keeps transaction.local parallel to the envelope (LMTP replies per recipient in that order).
  if (cls.kind === 'local' && !transaction.local.some((a) => a.toLowerCase() === cls.address.toLowerCase())) {
    transaction.local.push(cls.address);
    transaction.resolved.set(cls.address, cls.resolution);
  }
  for (const r of remote) if (!transaction.remote.includes(r)) transaction.remote.push(r);
}

/**
 * Decides what a recipient is: a local user (checked to exist and to have room), a remote address (only
 * when `mayRelay`), or a refusal. Postfix: reject_unauth_destination, then reject_unlisted_recipient
 * (which applies to trusted clients too: unknown local users are always refused at RCPT time, so no
 * backscatter is ever created).
 */
export async function classifyRecipient(
  store: Store,
  address: string,
  options: { mayRelay: boolean; overQuotaPermanent: boolean },
): Promise<RecipientClass> {
  const qualified = await qualifyPostmaster(store, address);
  const parts = splitAddress(qualified);
  if (!parts) throw replies.userUnknown(address, 'need fully-qualified address');
  // resolveRecipient looks the domain up itself, and finds a local recipient only in one of our domains:
  // the separate domain check is needed only when it finds none (one query fewer per accepted RCPT).
  const resolved = await resolveRecipient(store, qualified);
  if (resolved.status === 'expansion_error') throw replies.aliasExpansion(address, resolved.detail);
  if (resolved.status !== 'local') {
    if (!(await isLocalDomain(store, parts.domain))) {
      if (options.mayRelay) return { kind: 'remote', address: qualified };
      throw replies.relayDenied(address);
    }
    throw replies.userUnknown(address, 'User unknown in virtual mailbox table');
  }
  if (resolved.users.length === 0) return { kind: 'local', address: qualified, forwards: resolved.forwards, resolution: resolved };
  // Quota is checked here, at RCPT time (like Dovecot's quota policy service for Postfix), so that one
  // full mailbox never makes the whole DATA fail or partly succeed; DATA then stores with quota grace.
  let full = 0;
  for (const user of resolved.users) {
    const usage = await store.mail.quotaUsage(user.userId);
    if (usage.limitBytes > 0 && usage.usedBytes >= usage.limitBytes) full++;
  }
  if (full === resolved.users.length) throw replies.overQuota(address, options.overQuotaPermanent);
  return { kind: 'local', address: qualified, forwards: resolved.forwards, resolution: resolved };
}

export interface FinishedMessage {
  raw: Buffer;
  envelopeFrom: string;
  transaction: Transaction;
  prependHeaders: string[];
  junk?: boolean;
  messageId: string;
  session: SMTPServerSession;
}

/** Local delivery and the queue for remote recipients, in one store transaction when there are both (a
 * failure then stores neither, and the client's retry duplicates nothing). Returns the outcome per local
 * recipient; throws an SmtpReply when the message as a whole must be refused. */
export async function deliverMessage(
  store: Store,
  deps: SmtpDeps,
  log: Logger,
  message: FinishedMessage,
): Promise<{ outcomes: RecipientOutcome[]; queueId: string | null }> {
  const { transaction } = message;
  const remote = transaction.remote.length > 0;
  if (remote && !deps.queue) throw new SmtpReply(451, '4.3.0', 'Outbound queue not available, try again later');
  const withTrace = () => (message.prependHeaders.length > 0 ? Buffer.concat([Buffer.from(message.prependHeaders.join('\r\n') + '\r\n'), message.raw]) : message.raw);
  if (transaction.local.length > 0) {
    const { outcomes, queued } = await deliverAndQueue(
      store,
      {
        raw: message.raw,
        envelopeFrom: message.envelopeFrom,
        recipients: transaction.local,
        prependHeaders: message.prependHeaders,
        ...(message.junk ? { junk: true } : {}),
        sessionId: message.messageId,
      },
      {
        log,
        ignoreQuota: true,
        resolved: transaction.resolved,
        ...(remote ? { outbound: { sender: message.envelopeFrom, recipients: transaction.remote, raw: withTrace() } } : {}),
      },
    );
    if (queued) deps.queue!.accepted(queued);
    return { outcomes, queueId: queued?.id ?? null };
  }
  let queueId: string | null = null;
  if (remote) {
    try {
      queueId = await deps.queue!.enqueue(message.envelopeFrom, transaction.remote, withTrace());
    } catch (err) {
      log.error({ err, session: message.messageId }, 'enqueue failed');
      throw err instanceof StoreError && err.code === 'no_space' ? replies.insufficientStorage() : replies.storeFailed();
    }
  }
  return { outcomes: [], queueId };
}

/** One SMTP reply for a whole message (MX and submission): 250 only if every local recipient is stored. */
export function summarize(outcomes: RecipientOutcome[], messageId: string, queueId: string | null, overQuotaPermanent: boolean): string {
  const failed = outcomes.filter((o) => o.status === 'temp_failure');
  if (failed.length > 0) throw failed.every((o) => o.reason === 'no_space') ? replies.insufficientStorage() : replies.storeFailed();
  const delivered = outcomes.filter((o) => o.status === 'delivered').length;
  if (outcomes.length > 0 && delivered === 0 && queueId === null) {
    const first = outcomes[0]!;
    if (first.status === 'over_quota') throw replies.overQuota(first.address, overQuotaPermanent);
    throw replies.userUnknown(first.address, first.message);
  }
  return `2.0.0 Ok: queued as ${queueId ?? messageId}`;
}

/** LMTP (RFC 2033 4.2): one reply per accepted recipient, in RCPT order. */
export function perRecipientReplies(recipients: readonly string[], outcomes: RecipientOutcome[], messageId: string, overQuotaPermanent: boolean): (string | Error)[] {
  return recipients.map((address, i) => {
    const o = outcomes[i];
    if (!o) return replies.storeFailed();
    switch (o.status) {
      case 'delivered':
        return `2.0.0 <${address}> ${messageId} Saved`;
      case 'over_quota':
        return replies.overQuota(address, overQuotaPermanent);
      case 'unknown':
        return replies.userUnknown(address, o.message);
      case 'temp_failure':
        return o.reason === 'no_space' ? replies.insufficientStorage() : replies.storeFailed();
    }
  });
}

/** Wraps an async handler for smtp-server's callback style: an SmtpReply goes to the client as is; any
 * other error is a bug or an infrastructure failure: logged, answered 451. */
export function callbackify<T>(log: Logger, session: SMTPServerSession, run: () => Promise<T>, done: (err: Error | null, value?: T) => void): void {
  run().then(
    (value) => done(null, value),
    (err: unknown) => {
      if (err instanceof SmtpReply) return done(err);
      log.error({ err, session: session.id }, 'smtp handler failed');
      done(replies.storeFailed());
    },
  );
}
