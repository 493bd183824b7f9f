// queue: the outbound queue (Postfix's qmgr + smtp). Messages for other servers are kept durably in the
// store (store.queue, inside the vault), delivered by MX with opportunistic STARTTLS, retried with
// exponential backoff for temporary failures up to queue.max_lifetime_hours, and bounced to the sender
// with an RFC 3464 DSN on a permanent failure or expiry (never for a null-sender message).
// Owns: scheduling, MX routing, the SMTP client sessions and their cache, DSN generation.
// Never: accepts mail from clients (smtp does) or writes mailboxes itself (bounces to local senders go
// through the delivery service).
//
// Implementation notes:
// - A message is acknowledged to the submitter only after store.queue.enqueue resolved (fsync'd).
// - Every state change of a recipient is written before the next step; a crash (kill -9) at any point
//   leaves the message pending, and it is retried at start: delivery is at-least-once, never lost.
// - Results are per recipient: one MX may take some recipients and refuse or defer others.
import type { Runtime } from '../runtime/index.ts';
import type { Resolver } from '../dns/index.ts';
import type { EventEmitter } from 'node:events';
import type { QueueEntry } from '../store/types.ts';
import { QueueRunner, type LocalDeliver, type QueueEvents, type QueueSettings } from './runner.ts';

export { buildDsn, type DsnInput, type DsnRecipient } from './dsn.ts';
export { findRoute, isInternalAddress, type Route, type MxHost } from './route.ts';
export { retryDelayMs, type LocalDeliver, type QueueEvents, type QueueSettings } from './runner.ts';
export type { RecipientResult } from './status.ts';

/** What the submission listener takes as `deps.queue`. */
export interface QueuePort {
  /** Stores the message durably and wakes the queue; resolves with the queue id. */
  enqueue(sender: string, recipients: string[], raw: Buffer): Promise<string>;
  /** Takes up an entry the caller stored itself, in the transaction of the message's local copies
   * (delivery's deliverAndQueue): logged and scheduled as enqueue does. */
  accepted(entry: QueueEntry): void;
}

export interface QueueDeps {
  resolver: Resolver;
  /** For recipients in our own domains (bounces to local senders). */
  deliverLocal?: LocalDeliver;
}

export interface RunningQueue extends QueuePort {
  /** Looks for due messages now, without changing any retry time (call it at unlock: mail that was
   * pending when the server stopped goes out, deferred mail keeps its backoff). */
  wake(): void;
  /** Makes deferred messages (or one) due now and runs the queue (postqueue -f / -i ID). */
  flush(id?: string): Promise<number>;
  /** attempt / dsn / removed, for logs, metrics and tests. */
  events: EventEmitter<QueueEvents>;
  /** Resolves when no delivery is in progress. */
  whenIdle(): Promise<void>;
  close(): Promise<void>;
  /** Admin socket methods: queue.flush {id?} -> {count}. */
  adminHandlers: Record<string, (params: unknown) => Promise<unknown>>;
}

export function queueSettings(runtime: Runtime): QueueSettings {
  const q = runtime.config.queue;
  return {
    hostname: runtime.config.server.hostname,
    smtpPort: q.smtp_port,
    maxLifetimeMs: q.max_lifetime_hours * 3_600_000,
    retryMinMs: q.retry_min_ms,
    retryMaxMs: q.retry_max_ms,
    scanIntervalMs: q.scan_interval_ms,
    delayWarningMs: q.delay_warning_hours * 3_600_000,
    maxDeliveries: q.max_deliveries,
    perDestinationConcurrency: q.per_destination_concurrency,
    connectTimeoutMs: q.connect_timeout_ms,
    commandTimeoutMs: q.command_timeout_ms,
    connectionCacheMs: q.connection_cache_ms,
    tlsPolicy: Object.fromEntries(Object.entries(q.tls_policy).map(([d, p]) => [d.toLowerCase(), p])),
    defaultTlsPolicy: q.default_tls_policy,
    allowInternalDestinations: q.allow_internal_destinations,
    preferIpv6: q.prefer_ipv6,
  };
}

/** Starts the queue runner (at unlock: it needs the store). Pending mail from before a restart is
 * picked up at once. */
export function startQueue(runtime: Runtime, deps: QueueDeps): RunningQueue {
  const log = runtime.log.child({ component: 'queue' });
  const runner = new QueueRunner(() => runtime.store(), deps.resolver, queueSettings(runtime), log, deps.deliverLocal);
  const requireStore = () => {
    const store = runtime.store();
    if (!store) throw new Error('the store is locked: unlock the server first');
    return store;
  };
  const flush = async (id?: string) => {
    const count = await requireStore().queue.retryAll(id);
    runner.kick(true);
    return count;
  };
  const accepted = (entry: QueueEntry) => {
    log.info({ queueId: entry.id, from: entry.sender, nrcpt: entry.recipients.length, size: entry.size }, 'queue: queued');
    runner.add(entry);
  };
  runner.kick(true);
  return {
    async enqueue(sender, recipients, raw) {
      const entry = await requireStore().queue.enqueue({ sender, recipients, raw });
      accepted(entry);
      return entry.id;
    },
    accepted,
    flush,
    wake: () => runner.kick(true),
    events: runner.events,
    whenIdle: () => runner.whenIdle(),
    close: () => runner.close(),
    adminHandlers: {
      'queue.flush': async (params) => {
        const id = (params as { id?: unknown } | null | undefined)?.id;
        return { count: await flush(typeof id === 'string' ? id : undefined) };
      },
    },
  };
}
