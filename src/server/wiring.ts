// Which listeners and services the server starts, in one place. Everything starts at server start, before
// the vault is unlocked: listeners answer with temporary failures while `runtime.store()` is null, and the
// services read the store through that same getter. At unlock, `onUnlocked` loads what lives in the vault
// (the ban table, the GeoIP data, DKIM keys) and wakes the queue.
import type { Runtime } from '../runtime/index.ts';
import type { QueueEntry, Store } from '../store/types.ts';
import type { AdminHandler } from '../admin/index.ts';
import { createResolver } from '../dns/index.ts';
import { createAccessControl } from '../access/index.ts';
import { startQueue } from '../queue/index.ts';
import { createConfiguredSigner, type Signer } from '../dkim/index.ts';
import { deliverLocal } from '../delivery/index.ts';
import { startSmtp, startSubmission, startLmtp } from '../smtp/index.ts';
import { startImap } from '../imap/index.ts';

export interface ListenerHandle {
  listening: { name: string; address: string; port: number }[];
  close(): Promise<void>;
}

export interface Wiring {
  listeners: ListenerHandle[];
  adminHandlers: Record<string, AdminHandler>;
  /** Hands an outbound queue entry made outside the listeners (an admin command) to the running queue. */
  queued(entry: QueueEntry): void;
  /** Called once the store is open. */
  onUnlocked(store: Store): Promise<void>;
  close(): Promise<void>;
}

export async function startEverything(runtime: Runtime): Promise<Wiring> {
  const { config, log } = runtime;
  const resolver = createResolver({ upstream: config.dns.upstream, timeoutMs: config.dns.timeout_ms, log: log.child({ component: 'dns' }) });

  const access = createAccessControl({ config, store: () => runtime.store(), log: log.child({ component: 'access' }), events: runtime.events });
  runtime.guard = access;

  const queue = startQueue(runtime, { resolver, deliverLocal: (store, delivery) => deliverLocal(store, delivery) });

  // DKIM keys live in the vault: the signer exists once the store is open. Until then nothing is submitted
  // (submission needs the store to authenticate), so `sign` is never called while locked.
  let signer: Signer | null = null;
  const sign = async (raw: Buffer, fromDomain: string): Promise<Buffer> => (signer ? signer.sign(raw, fromDomain) : raw);
  const deps = { resolver, queue, sign };

  const listeners: ListenerHandle[] = [];
  try {
    listeners.push(await startSmtp(runtime, deps));
    listeners.push(await startSubmission(runtime, deps));
    listeners.push(await startLmtp(runtime, deps));
    listeners.push(await startImap(runtime));
  } catch (err) {
    await Promise.all(listeners.map((l) => l.close()));
    await queue.close();
    await access.close();
    throw err;
  }

  return {
    listeners,
    adminHandlers: { ...access.adminHandlers, ...queue.adminHandlers },
    queued: (entry) => queue.accepted(entry),
    async onUnlocked(store) {
      signer = createConfiguredSigner(store, config.dkim, log);
      const loaded = await access.reload();
      log.info({ event: 'access-loaded', bans: loaded.bans, geoip: loaded.geoip ? loaded.geoip.source : null }, 'access control loaded from the vault');
      // Due mail runs now; deferred mail keeps its retry time.
      queue.wake();
    },
    async close() {
      await Promise.all(listeners.map((l) => l.close().catch((err: unknown) => log.error({ err }, 'listener close failed'))));
      await queue.close();
      await access.close();
    },
  };
}
