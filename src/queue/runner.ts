// The scheduler: finds due messages, delivers each recipient group (one per destination domain) under the
// per-destination limit, records per-recipient results durably, retries with exponential backoff, and
// sends DSNs for failures, expiries and (optionally) delays.
import { EventEmitter } from 'node:events';
import type { Logger } from '../log/index.ts';
import { StoreError, type QueueEntry, type QueueRecipient, type Store } from '../store/types.ts';
import type { Resolver } from '../dns/index.ts';
import { buildDsn, type DsnRecipient } from './dsn.ts';
import { findRoute } from './route.ts';
import { ConnectionCache, deliverRemote, type TlsPolicy } from './smtp-client.ts';
import { deferAll, failAll, type RecipientResult } from './status.ts';

export interface QueueSettings {
  hostname: string;
  smtpPort: number;
  maxLifetimeMs: number;
  retryMinMs: number;
  retryMaxMs: number;
  scanIntervalMs: number;
  delayWarningMs: number;
  maxDeliveries: number;
  perDestinationConcurrency: number;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  connectionCacheMs: number;
  tlsPolicy: Record<string, TlsPolicy>;
  defaultTlsPolicy: TlsPolicy;
  allowInternalDestinations: boolean;
  preferIpv6: boolean;
}

/** Local delivery for recipients in our own domains (bounces to local senders): src/delivery's
 * deliverLocal has this shape. */
export type LocalDeliver = (
  store: Store,
  delivery: { raw: Buffer; envelopeFrom: string; recipients: string[] },
) => Promise<{ address: string; status: 'delivered' | 'unknown' | 'over_quota' | 'temp_failure'; message: string }[]>;

export interface QueueEvents {
  /** One delivery attempt of an entry finished and its results are recorded. */
  attempt: [{ queueId: string; results: RecipientResult[] }];
  /** A DSN about `queueId` was queued as `dsnId`. */
  dsn: [{ queueId: string; dsnId: string; action: 'failed' | 'delayed' }];
  /** Every recipient of the entry is delivered or failed; it left the queue. */
  removed: [{ queueId: string }];
}

/** Exponential backoff (Postfix: minimal_backoff_time doubling up to maximal_backoff_time). */
export function retryDelayMs(attempts: number, minMs: number, maxMs: number): number {
  const exp = Math.min(Math.max(attempts - 1, 0), 30);
  return Math.min(maxMs, minMs * 2 ** exp);
}

function domainOf(address: string): string {
  const at = address.lastIndexOf('@');
  return at === -1 ? '' : address.slice(at + 1).toLowerCase();
}

/** A counting semaphore per destination domain. */
class Limiter {
  private readonly active = new Map<string, number>();
  private readonly waiting = new Map<string, (() => void)[]>();
  constructor(private readonly limit: number) {}

  async acquire(key: string): Promise<void> {
    const n = this.active.get(key) ?? 0;
    if (n < this.limit) {
      this.active.set(key, n + 1);
      return;
    }
    await new Promise<void>((resolve) => {
      const list = this.waiting.get(key) ?? [];
      list.push(resolve);
      this.waiting.set(key, list);
    });
  }

  release(key: string): void {
    const next = this.waiting.get(key)?.shift();
    if (next) return next(); // the slot passes straight to the next waiter
    const n = (this.active.get(key) ?? 1) - 1;
    if (n <= 0) this.active.delete(key);
    else this.active.set(key, n);
    if (this.waiting.get(key)?.length === 0) this.waiting.delete(key);
  }
}

export class QueueRunner {
  readonly events = new EventEmitter<QueueEvents>();
  private readonly inflight = new Map<string, Promise<void>>();
  /** Entries whose processing threw (store trouble): left alone until this time. */
  private readonly cooldown = new Map<string, number>();
  private readonly limiter: Limiter;
  private readonly cache: ConnectionCache;
  private timer: NodeJS.Timeout | null = null;
  private passRunning = false;
  private passAgain = false;
  /** Entries known to be due and not yet started: filled by a scan of the store or by enqueue, so that a
   * busy queue does not re-read every entry each time a delivery finishes. */
  private backlog: QueueEntry[] = [];
  /** The next scan must read the store (start, timer, flush, unlock) rather than trust the backlog. */
  private scanNeeded = true;
  /** After a scan, the next schedule reads every entry once to find the earliest retry. */
  private scheduleFromStore = true;
  /** Earliest retry time we set since the last scan (ms since epoch), or 0 for none. */
  private wakeHint = 0;
  private closed = false;
  /** Resolves when the queue is idle; tests and `close()` wait on it. */
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly store: () => Store | null,
    private readonly resolver: Resolver,
    private readonly settings: QueueSettings,
    private readonly log: Logger,
    private readonly deliverLocal?: LocalDeliver,
  ) {
    this.limiter = new Limiter(settings.perDestinationConcurrency);
    this.cache = new ConnectionCache(settings.connectionCacheMs, settings.perDestinationConcurrency);
  }

  /** Runs the queue now. `scan`: read the store for due entries (timer, flush, unlock); without it only
   * the backlog is worked on (a finished delivery freed a slot, or an entry was added). */
  kick(scan = false): void {
    if (this.closed) return;
    if (scan) this.scanNeeded = true;
    if (this.passRunning) {
      this.passAgain = true;
      return;
    }
    void this.runPasses();
  }

  private async runPasses(): Promise<void> {
    this.passRunning = true;
    try {
      do {
        this.passAgain = false;
        await this.pass();
      } while (this.passAgain && !this.closed);
    } catch (err) {
      this.log.error({ err }, 'queue: scan failed');
    } finally {
      this.passRunning = false;
    }
    await this.scheduleNext();
    this.notifyIdle();
  }

  /** A freshly stored entry: due at once, no scan needed to find it. */
  add(entry: QueueEntry): void {
    this.backlog.push(entry);
    this.kick();
  }

  private async pass(): Promise<void> {
    const store = this.store();
    if (!store) return; // locked: nothing to do until unlock
    const now = Date.now();
    for (const [id, until] of this.cooldown) if (until <= now) this.cooldown.delete(id);
    if (this.scanNeeded) {
      this.scanNeeded = false;
      this.scheduleFromStore = true;
      this.wakeHint = 0;
      const known = new Set(this.backlog.map((e) => e.id));
      for (const entry of await store.queue.due(now)) if (!known.has(entry.id) && !this.inflight.has(entry.id)) this.backlog.push(entry);
    }
    while (this.backlog.length > 0) {
      if (this.closed || this.inflight.size >= this.settings.maxDeliveries) break;
      const entry = this.backlog.shift()!;
      if (this.inflight.has(entry.id) || this.cooldown.has(entry.id)) continue;
      const job = this.process(store, entry)
        .catch((err) => {
          if (err instanceof StoreError && err.code === 'not_found') {
            // Deleted (`mailstack queue delete`) while it was being delivered.
            this.log.info({ queueId: entry.id }, 'queue: entry deleted during delivery');
            return;
          }
          this.log.error({ queueId: entry.id, err }, 'queue: processing failed; will retry');
          const until = Date.now() + this.settings.retryMinMs;
          this.cooldown.set(entry.id, until);
          this.hintWake(until);
        })
        .finally(() => {
          this.inflight.delete(entry.id);
          this.kick();
        });
      this.inflight.set(entry.id, job);
    }
  }

  private hintWake(at: number): void {
    this.wakeHint = this.wakeHint === 0 ? at : Math.min(this.wakeHint, at);
  }

  /** Sets the timer for the next scan: the earliest retry we know of, at most scan_interval_ms away. Reads
   * every entry only after a scan (to learn retry times set by an earlier process); otherwise the retry
   * times this process set itself are enough. */
  private async scheduleNext(): Promise<void> {
    if (this.closed) return;
    const now = Date.now();
    const store = this.store();
    if (store && this.scheduleFromStore) {
      this.scheduleFromStore = false;
      try {
        const inBacklog = new Set(this.backlog.map((e) => e.id));
        for (const entry of await store.queue.list()) {
          if (this.inflight.has(entry.id) || inBacklog.has(entry.id)) continue;
          const notBefore = this.cooldown.get(entry.id) ?? 0;
          for (const r of entry.recipients) if (isPending(r)) this.hintWake(Math.max(r.nextAttemptAt, notBefore));
        }
      } catch (err) {
        this.log.warn({ err }, 'queue: cannot read the queue to schedule the next run');
      }
    }
    if (this.closed) return;
    let delay = this.settings.scanIntervalMs;
    if (this.wakeHint !== 0) delay = Math.min(delay, Math.max(0, this.wakeHint - now));
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.kick(true), Math.max(delay, 5));
    this.timer.unref();
  }

  private notifyIdle(): void {
    if (this.passRunning || this.inflight.size > 0 || this.backlog.length > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  private policyFor(domain: string): TlsPolicy {
    return this.settings.tlsPolicy[domain] ?? this.settings.defaultTlsPolicy;
  }

  private async isLocal(store: Store, domain: string): Promise<boolean> {
    if (!this.deliverLocal) return false;
    try {
      return await store.accounts.hasDomain(domain);
    } catch {
      return false;
    }
  }

  private async deliverGroup(store: Store, entry: QueueEntry, raw: Buffer, domain: string, recipients: string[]): Promise<RecipientResult[]> {
    if (await this.isLocal(store, domain)) {
      try {
        const outcomes = await this.deliverLocal!(store, { raw, envelopeFrom: entry.sender, recipients });
        return outcomes.map((o) => {
          switch (o.status) {
            case 'delivered':
              return { address: o.address, outcome: 'delivered' as const, status: '2.0.0', diagnostic: 'x-mailstack; delivered locally', remoteMta: null };
            case 'unknown':
              return { address: o.address, outcome: 'failed' as const, status: '5.1.1', diagnostic: `x-mailstack; ${o.message}`, remoteMta: null };
            case 'over_quota':
              return { address: o.address, outcome: 'failed' as const, status: '5.2.2', diagnostic: `x-mailstack; ${o.message}`, remoteMta: null };
            default:
              return { address: o.address, outcome: 'deferred' as const, status: '4.3.0', diagnostic: `x-mailstack; ${o.message}`, remoteMta: null };
          }
        });
      } catch (err) {
        return deferAll(recipients, '4.3.0', `x-mailstack; local delivery failed: ${(err as Error).message}`);
      }
    }
    const route = await findRoute(this.resolver, domain, { allowInternal: this.settings.allowInternalDestinations, preferIpv6: this.settings.preferIpv6 });
    if (route.kind !== 'hosts') {
      return (route.kind === 'permanent' ? failAll : deferAll)(recipients, route.status, `x-mailstack; ${route.message}`);
    }
    await this.limiter.acquire(domain);
    try {
      return await deliverRemote(
        { queueId: entry.id, destination: domain, hosts: route.hosts, sender: entry.sender, recipients, raw, policy: this.policyFor(domain) },
        this.cache,
        {
          hostname: this.settings.hostname,
          port: this.settings.smtpPort,
          connectTimeoutMs: this.settings.connectTimeoutMs,
          commandTimeoutMs: this.settings.commandTimeoutMs,
          connectionCacheMs: this.settings.connectionCacheMs,
          log: this.log,
        },
      );
    } finally {
      this.limiter.release(domain);
    }
  }

  private async process(store: Store, snapshot: QueueEntry): Promise<void> {
    // The backlog's copy may be older than the last attempt (a scan can overlap a delivery of the same
    // entry): decide from the store's current state, read while this entry is marked in flight.
    const entry = await store.queue.get(snapshot.id);
    if (!entry) return;
    const now = Date.now();
    const due = entry.recipients.filter((r) => isPending(r) && r.nextAttemptAt <= now);
    if (due.length === 0) return;
    const raw = await store.queue.getRaw(entry.id);
    const byDomain = new Map<string, string[]>();
    for (const r of due) {
      const d = domainOf(r.address);
      byDomain.set(d, [...(byDomain.get(d) ?? []), r.address]);
    }
    const results = (await Promise.all([...byDomain].map(([domain, rcpts]) => this.deliverGroup(store, entry, raw, domain, rcpts)))).flat();

    const attemptAt = Date.now();
    const expired = attemptAt - entry.createdAt >= this.settings.maxLifetimeMs;
    const previous = new Map(entry.recipients.map((r) => [r.address, r]));
    const bounced: DsnRecipient[] = [];
    const updates = results.map((r) => {
      const attempts = (previous.get(r.address)?.attempts ?? 0) + 1;
      if (r.outcome === 'delivered') {
        this.log.info({ queueId: entry.id, to: r.address, relay: r.remoteMta, status: r.status, dsn: r.diagnostic }, 'queue: delivered');
        return { address: r.address, state: 'delivered' as const, lastError: null, remoteMta: r.remoteMta, status: r.status, attempted: true };
      }
      if (r.outcome === 'failed' || expired) {
        const diagnostic = r.outcome === 'failed' ? r.diagnostic : `${r.diagnostic} (gave up: in the queue for more than ${Math.round(this.settings.maxLifetimeMs / 3_600_000)} hours)`;
        this.log.info({ queueId: entry.id, to: r.address, relay: r.remoteMta, status: r.status, dsn: diagnostic }, 'queue: failed');
        bounced.push({ address: r.address, action: 'failed', status: r.status, diagnostic, remoteMta: r.remoteMta, lastAttemptAt: attemptAt });
        return { address: r.address, state: 'failed' as const, lastError: diagnostic, remoteMta: r.remoteMta, status: r.status, attempted: true };
      }
      const delay = retryDelayMs(attempts, this.settings.retryMinMs, this.settings.retryMaxMs);
      this.hintWake(attemptAt + delay);
      this.log.info({ queueId: entry.id, to: r.address, relay: r.remoteMta, status: r.status, dsn: r.diagnostic, retryInMs: delay }, 'queue: deferred');
      return { address: r.address, state: 'deferred' as const, nextAttemptAt: attemptAt + delay, lastError: r.diagnostic, remoteMta: r.remoteMta, status: r.status, attempted: true };
    });

    let meta: Record<string, unknown> | undefined;
    const stillDeferred = results.filter((r) => r.outcome === 'deferred' && !expired);
    if (
      this.settings.delayWarningMs > 0 &&
      entry.meta['delayWarned'] !== true &&
      stillDeferred.length > 0 &&
      attemptAt - entry.createdAt >= this.settings.delayWarningMs &&
      entry.sender !== ''
    ) {
      const delayed: DsnRecipient[] = stillDeferred.map((r) => ({ address: r.address, action: 'delayed', status: r.status, diagnostic: r.diagnostic, remoteMta: r.remoteMta, lastAttemptAt: attemptAt }));
      await this.sendDsn(store, entry, raw, delayed, entry.createdAt + this.settings.maxLifetimeMs);
      meta = { ...entry.meta, delayWarned: true };
    }
    // The bounce is queued before the failure is recorded: a crash in between repeats the bounce rather
    // than losing it.
    if (bounced.length > 0) await this.sendDsn(store, entry, raw, bounced);
    await store.queue.updateRecipients(entry.id, updates, meta);

    this.events.emit('attempt', { queueId: entry.id, results });

    const final = new Map(updates.map((u) => [u.address, u.state]));
    const done = entry.recipients.every((r) => {
      const state = final.get(r.address) ?? r.state;
      return state === 'delivered' || state === 'failed';
    });
    if (done) {
      await store.queue.delete(entry.id);
      this.log.info({ queueId: entry.id }, 'queue: removed');
      this.events.emit('removed', { queueId: entry.id });
    }
  }

  private async sendDsn(store: Store, entry: QueueEntry, raw: Buffer, recipients: DsnRecipient[], willRetryUntil?: number): Promise<void> {
    if (entry.sender === '') {
      // RFC 5321 4.5.5 / RFC 3464: never a DSN about a DSN (null sender).
      this.log.warn({ queueId: entry.id, recipients: recipients.map((r) => r.address) }, 'queue: undeliverable bounce discarded (null sender)');
      return;
    }
    const dsn = buildDsn({
      hostname: this.settings.hostname,
      queueId: entry.id,
      sender: entry.sender,
      arrivalDate: entry.createdAt,
      recipients,
      original: raw,
      ...(willRetryUntil ? { willRetryUntil } : {}),
    });
    const bounce = await store.queue.enqueue({ sender: '', recipients: [entry.sender], raw: dsn, meta: { dsnFor: entry.id } });
    this.log.info({ queueId: entry.id, dsnId: bounce.id, to: entry.sender, action: recipients[0]?.action }, 'queue: sender notified');
    this.events.emit('dsn', { queueId: entry.id, dsnId: bounce.id, action: recipients[0]?.action ?? 'failed' });
    this.add(bounce);
  }

  /** Resolves once no delivery is running and no scan is in progress. */
  whenIdle(): Promise<void> {
    if (!this.passRunning && this.inflight.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await Promise.allSettled([...this.inflight.values()]);
    this.cache.closeAll();
    this.notifyIdle();
  }
}

function isPending(r: QueueRecipient): boolean {
  return r.state === 'pending' || r.state === 'deferred';
}
