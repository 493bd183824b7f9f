// delivery: local delivery of one message into the store (what Postfix's virtual(8) or Dovecot's LDA/LMTP
// does). Owns: recipient expansion through the accounts service (aliases, catch-all, +tag), the trace
// fields a delivery agent adds (Return-Path, Delivered-To), the Junk routing, and the mapping of store
// failures to per-recipient outcomes. Never speaks a protocol: the SMTP/LMTP listeners, `mailstack
// deliver` and the queue's bounces all call deliverLocal and turn its outcomes into their own replies.
//
// Implementation notes:
// - One store.mail.deliver call per message for all local users: atomic and durable (the store fsyncs
//   before it resolves), so a caller may acknowledge the message as soon as deliverLocal returns.
// - deliverAndQueue puts the copy for remote recipients (relayed, or reached through aliases) in the outbound
//   queue in that same call: a message is stored for everyone or for no one, so a retry never duplicates.
// - A failure of the store (locked vault, I/O error) is a temporary failure for every recipient: the
//   sender keeps the message and retries; nothing is lost.
// - A user reached through several recipients (an alias and the user) gets the message once.
// - With allOrNothing, every recipient is checked (exists, not a loop, room in the mailbox) before
//   anything is stored, and nothing is stored unless all pass.
import { resolveRecipient, type Resolution } from '../accounts/index.ts';
import type { Logger } from '../log/index.ts';
import { StoreError, type DeliveryTarget, type OutboundMessage, type QueueEntry, type Store } from '../store/types.ts';
import { headerValues, prependHeaderLines, removeHeaderFields, toCrlf } from './headers.ts';

export { headerBlockEnd, headerFields, headerValues, fieldValue, removeHeaderFields, prependHeaderLines, isSafeHeaderLine, toCrlf } from './headers.ts';

export interface LocalDelivery {
  raw: Buffer;
  /** Envelope sender (MAIL FROM); "" for the null sender. */
  envelopeFrom: string;
  /** Envelope recipients as given (RCPT TO / --to). */
  recipients: string[];
  /** Mailbox to file into (falls back to INBOX when it does not exist). */
  mailbox?: string;
  /** Header lines (without CRLF) to prepend, e.g. Received, Authentication-Results. */
  prependHeaders?: string[];
  /** Junk / quarantine: deliver to the \Junk mailbox. */
  junk?: boolean;
  internalDate?: number;
  sessionId?: string;
}

/** 'unknown' covers every permanent refusal of a recipient (no such user, not our domain, a forwarding
 * loop); `message` says which. */
export type RecipientOutcome = {
  address: string;
  status: 'delivered' | 'unknown' | 'over_quota' | 'temp_failure';
  message: string;
  /** With 'temp_failure': the store's file system is full (SMTP answers 452 4.3.1 instead of 451 4.3.0). */
  reason?: 'no_space';
  /** Addresses outside our domains that this recipient's aliases forward to. deliverLocal does not queue
   * them: the caller must (SMTP through its queue port, `mailstack deliver` through store.queue), or the
   * forwarded copies are lost. A recipient that only forwards is 'delivered' once the caller queued. */
  forwards?: string[];
};

export interface DeliveryOptions {
  log?: Logger;
  /** Skip quota checks (mail from the system to postmaster, bounces). */
  ignoreQuota?: boolean;
  /** Resolutions the caller already made (SMTP does at RCPT time), by recipient address as given: saves
   * resolving each recipient twice per message. Missing addresses are resolved here. */
  resolved?: ReadonlyMap<string, Resolution>;
  /** Store for every recipient or for none: for callers that give one answer for the whole message
   * (`mailstack deliver` exits with one code), where a partial delivery and a retry, or a bounce, would
   * duplicate or contradict what was stored. Quota is checked up front, then the message is stored with
   * quota grace (as SMTP does between RCPT and DATA). The recipients that did not fail get the status of
   * the failure that decides (temp_failure, then over_quota, then unknown: the one a retry may cure). */
  allOrNothing?: boolean;
  /**
   * The same message for remote recipients, queued in the store transaction that stores the local copies
   * (deliverAndQueue). With `forwards`, the remote targets of the recipients' aliases join `recipients`.
   * A recipient whose lookup failed refuses the whole message (nothing stored, nothing queued): the sender
   * is answered with one temporary failure for everything, and its retry must not find copies already made.
   */
  outbound?: OutboundMessage & { forwards?: boolean };
}

export interface DeliveryAndQueueResult {
  outcomes: RecipientOutcome[];
  /** The queue entry of `outbound`; null when nothing was queued (a failure, or no remote recipient). */
  queued: QueueEntry | null;
}

/** RFC 5321 4.4: the delivery agent records the envelope sender in Return-Path. Any Return-Path the
 * message already carries came from an earlier hop or a forger: it is replaced. */
function returnPathLine(envelopeFrom: string): string {
  return `Return-Path: <${envelopeFrom}>`;
}

/** What the sender's MTA (and its bounce, if the alias table stays broken) reads. */
function aliasExpansionMessage(detail: string): string {
  return `alias expansion error: ${detail}; nothing was delivered for this recipient, try again later`;
}

/** Lower-cased address, with the domain lower-cased; local parts are compared case-insensitively too,
 * like the accounts service does. */
function normalize(address: string): string {
  return address.trim().toLowerCase();
}

interface ResolvedRecipient {
  address: string;
  users: { userId: number; address: string }[];
  forwards: string[];
  outcome?: RecipientOutcome;
}

/**
 * Delivers one message to local recipients. Resolves only when everything that was stored is durable.
 * Returns one outcome per recipient, in the order given.
 */
export async function deliverLocal(store: Store, delivery: LocalDelivery, options: DeliveryOptions = {}): Promise<RecipientOutcome[]> {
  return (await deliverAndQueue(store, delivery, options)).outcomes;
}

/**
 * deliverLocal, and the copy for remote recipients (options.outbound) put in the outbound queue in the same
 * store transaction: the local copies and the queued one are stored together or not at all. Storing first
 * and queueing after, a queue failure answered 4xx left the local copies in place, and the sender's retry
 * stored them a second time.
 */
export async function deliverAndQueue(store: Store, delivery: LocalDelivery, options: DeliveryOptions = {}): Promise<DeliveryAndQueueResult> {
  const log = options.log?.child({ session: delivery.sessionId });
  const raw = toCrlf(delivery.raw);
  const existingDeliveredTo = new Set(headerValues(raw, 'Delivered-To').map((v) => normalize(v.replace(/^<|>$/g, ''))));

  // 1. Expand every recipient to its final users.
  const resolved: ResolvedRecipient[] = [];
  for (const address of delivery.recipients) {
    try {
      const r = options.resolved?.get(address) ?? (await resolveRecipient(store, address));
      if (r.status === 'local') {
        resolved.push({ address, users: r.users, forwards: r.forwards });
      } else if (r.status === 'expansion_error') {
        // Temporary, as Postfix defers it: the sender keeps the message while the alias table is fixed.
        log?.warn({ recipient: address, detail: r.detail }, 'alias expansion error');
        resolved.push({ address, users: [], forwards: [], outcome: { address, status: 'temp_failure', message: aliasExpansionMessage(r.detail) } });
      } else {
        const message = r.status === 'remote' ? 'recipient domain is not served here' : 'no such user here';
        resolved.push({ address, users: [], forwards: [], outcome: { address, status: 'unknown', message } });
      }
    } catch (err) {
      log?.warn({ err, recipient: address }, 'recipient lookup failed');
      resolved.push({ address, users: [], forwards: [], outcome: { address, status: 'temp_failure', message: 'recipient lookup failed, try again later' } });
    }
  }

  // 2. One target per distinct user; a user that already has this message's Delivered-To is a loop
  //    (Postfix: "mail forwarding loop for ..."), refused rather than delivered again for ever.
  for (const r of resolved) {
    if (r.outcome) continue;
    const fresh = r.users.filter((u) => !existingDeliveredTo.has(normalize(u.address)));
    if (fresh.length === 0 && r.users.length > 0) {
      r.outcome = { address: r.address, status: 'unknown', message: 'mail forwarding loop detected (Delivered-To already present)' };
      continue;
    }
    r.users = fresh;
  }

  // 2b. All or nothing: every recipient checked before anything is stored.
  if (options.allOrNothing) {
    if (!options.ignoreQuota) {
      try {
        await refuseRecipientsWithoutRoom(store, resolved, raw.length);
      } catch (err) {
        log?.error({ err }, 'quota check failed');
        return storeFailed(resolved, err);
      }
    }
    const decisive = decisiveFailure(resolved);
    if (decisive) return { outcomes: resolved.map((r) => r.outcome ?? withheld(r.address, decisive)), queued: null };
  }
  const outbound = options.outbound ? outboundFor(options.outbound, resolved) : null;
  if (outbound) {
    const lookupFailed = resolved.find((r) => r.outcome?.status === 'temp_failure');
    if (lookupFailed) return { outcomes: resolved.map((r) => r.outcome ?? withheld(r.address, lookupFailed.outcome!)), queued: null };
  }
  const targetsByUser = new Map<number, { userId: number; address: string }>();
  for (const r of resolved) {
    if (r.outcome) continue;
    for (const u of r.users) if (!targetsByUser.has(u.userId)) targetsByUser.set(u.userId, u);
  }
  const users = [...targetsByUser.values()];
  const withForwards = (o: RecipientOutcome, r: ResolvedRecipient): RecipientOutcome => (r.forwards.length > 0 ? { ...o, forwards: r.forwards } : o);
  const forwardOnly = (r: ResolvedRecipient): RecipientOutcome =>
    withForwards({ address: r.address, status: 'delivered', message: 'forwarded to remote addresses' }, r);
  if (users.length === 0) {
    if (!outbound) return { outcomes: resolved.map((r) => r.outcome ?? forwardOnly(r)), queued: null };
    try {
      const queued = await store.queue.enqueue(outbound);
      return { outcomes: resolved.map((r) => r.outcome ?? forwardOnly(r)), queued };
    } catch (err) {
      log?.error({ err }, 'store refused to queue the message');
      return storeFailed(resolved, err);
    }
  }

  // 3. Trace fields. Delivered-To names the final mailbox (Postfix/Dovecot loop detection); the store keeps
  //    one copy of the bytes for all users, so it is added only when the message reaches exactly one user.
  const trace = [returnPathLine(delivery.envelopeFrom)];
  if (users.length === 1) trace.push(`Delivered-To: ${users[0]!.address}`);
  const stripped = removeHeaderFields(raw, (name) => name.toLowerCase() === 'return-path');
  const finalRaw = prependHeaderLines(stripped, [...trace, ...(delivery.prependHeaders ?? [])]);

  // 4. One atomic, durable store call.
  let stored: Set<number>;
  let overQuota: Set<number>;
  let queued: QueueEntry | null = null;
  try {
    const targets: DeliveryTarget[] = [];
    for (const u of users) {
      const mailbox = delivery.junk ? await junkMailboxName(store, u.userId) : delivery.mailbox;
      targets.push(mailbox === undefined ? { userId: u.userId } : { userId: u.userId, mailbox });
    }
    const result = await store.mail.deliver({
      raw: finalRaw,
      targets,
      ...(delivery.internalDate !== undefined ? { internalDate: delivery.internalDate } : {}),
      // allOrNothing checked quota in 2b: grace for a delivery that filled a mailbox since, or the store
      // would leave that user out and break all-or-nothing.
      ...(options.ignoreQuota || options.allOrNothing ? { ignoreQuota: true } : {}),
      ...(outbound ? { enqueue: outbound } : {}),
    });
    stored = new Set(result.stored.map((s) => s.userId));
    overQuota = new Set(result.overQuota);
    queued = result.queued ?? null;
    log?.info({ size: finalRaw.length, users: users.map((u) => u.address), stored: result.stored.length, overQuota: result.overQuota.length, junk: !!delivery.junk }, 'delivered');
  } catch (err) {
    log?.error({ err }, 'store refused the delivery');
    return storeFailed(resolved, err);
  }

  // 5. A recipient counts as delivered when one of its users got the message.
  const outcomes = resolved.map((r): RecipientOutcome => {
    if (r.outcome) return r.outcome;
    if (r.users.length === 0) return forwardOnly(r);
    if (r.users.some((u) => stored.has(u.userId))) return withForwards({ address: r.address, status: 'delivered', message: 'delivered' }, r);
    if (r.users.some((u) => overQuota.has(u.userId))) return withForwards({ address: r.address, status: 'over_quota', message: 'mailbox is over quota' }, r);
    return { address: r.address, status: 'temp_failure', message: 'not stored, try again later' };
  });
  return { outcomes, queued };
}

/** The outbound copy with the aliases' remote targets added (`forwards`), each address once; null when it
 * has no recipient left. */
function outboundFor(outbound: NonNullable<DeliveryOptions['outbound']>, resolved: readonly ResolvedRecipient[]): OutboundMessage | null {
  const recipients = [...outbound.recipients];
  if (outbound.forwards) {
    for (const r of resolved) if (!r.outcome) for (const f of r.forwards) recipients.push(f);
  }
  const unique = [...new Set(recipients)];
  return unique.length > 0 ? { sender: outbound.sender, recipients: unique, raw: outbound.raw } : null;
}

/** The store could not take the message: every recipient not refused already gets a temporary failure, and
 * nothing was queued. */
function storeFailed(resolved: readonly ResolvedRecipient[], err: unknown): DeliveryAndQueueResult {
  return { outcomes: resolved.map((r) => r.outcome ?? { address: r.address, status: 'temp_failure', ...storeFailure(err) }), queued: null };
}

function storeFailure(err: unknown): Pick<RecipientOutcome, 'message' | 'reason'> {
  return err instanceof StoreError && err.code === 'no_space'
    ? { message: 'insufficient system storage, try again later', reason: 'no_space' }
    : { message: 'mail store temporarily unavailable, try again later' };
}

/**
 * Quota before anything is stored (allOrNothing): a recipient none of whose users has room for the message
 * gets 'over_quota'; users without room are left out of a recipient that still reaches others, as the
 * store leaves them out when it checks. Room means what the store means: used + size <= limit.
 */
async function refuseRecipientsWithoutRoom(store: Store, resolved: ResolvedRecipient[], sizeBytes: number): Promise<void> {
  const hasRoom = new Map<number, boolean>();
  for (const r of resolved) {
    if (r.outcome || r.users.length === 0) continue;
    const withRoom: ResolvedRecipient['users'] = [];
    for (const u of r.users) {
      let room = hasRoom.get(u.userId);
      if (room === undefined) {
        const quota = await store.mail.quotaUsage(u.userId);
        room = quota.limitBytes <= 0 || quota.usedBytes + sizeBytes <= quota.limitBytes;
        hasRoom.set(u.userId, room);
      }
      if (room) withRoom.push(u);
    }
    if (withRoom.length === 0) r.outcome = { address: r.address, status: 'over_quota', message: 'mailbox is over quota' };
    else r.users = withRoom;
  }
}

/** Which failure decides an all-or-nothing delivery: the one a retry may cure first, so the message is
 * retried rather than bounced while some recipient may still take it. */
const FAILURE_PRECEDENCE: readonly RecipientOutcome['status'][] = ['temp_failure', 'over_quota', 'unknown'];

function decisiveFailure(resolved: readonly ResolvedRecipient[]): RecipientOutcome | null {
  const failures = resolved.flatMap((r) => (r.outcome && r.outcome.status !== 'delivered' ? [r.outcome] : []));
  for (const status of FAILURE_PRECEDENCE) {
    const found = failures.find((o) => o.status === status);
    if (found) return found;
  }
  return null;
}

/** The outcome of a recipient that passed its checks but gets nothing because another one failed. */
function withheld(address: string, decisive: RecipientOutcome): RecipientOutcome {
  return {
    address,
    status: decisive.status,
    message: `not delivered because <${decisive.address}> failed (${decisive.message}): this delivery is to every recipient or to none`,
    ...(decisive.reason ? { reason: decisive.reason } : {}),
  };
}

/** The name of the user's \Junk mailbox ("Junk" when the user has none marked: the store then falls back
 * to INBOX if that does not exist either). */
async function junkMailboxName(store: Store, userId: number): Promise<string> {
  const mailboxes = await store.mail.listMailboxes(userId);
  return mailboxes.find((m) => m.specialUse === '\\Junk')?.name ?? 'Junk';
}
