// The Store interface over the admin socket: `store.accounts.addUser(x)` becomes the call
// "store" {path: ["accounts", "addUser"], args: [x]} on the running server. The change feed is not
// available remotely (it is a live subscription), and calling it throws.
import type { DeliveryResult, QueueEntry, Store } from '../store/types.ts';
import type { AdminClient } from './client.ts';
import type { AdminHandler } from './server.ts';

const STORE_PARTS = ['accounts', 'mail', 'queue', 'bans', 'secrets'] as const;
type StorePart = (typeof STORE_PARTS)[number];

export function remoteStore(client: AdminClient): Store {
  const part = (name: StorePart) =>
    new Proxy(
      {},
      {
        get: (_t, method) => (typeof method === 'string' ? (...args: unknown[]) => client.call('store', { path: [name, method], args }) : undefined),
      },
    );
  return {
    accounts: part('accounts'),
    mail: part('mail'),
    queue: part('queue'),
    bans: part('bans'),
    secrets: part('secrets'),
    changes: {
      subscribe() {
        throw new Error('the change feed is not available through the admin socket');
      },
    },
    verify: () => client.call('store.verify') as ReturnType<Store['verify']>,
    compact: (options?: Parameters<Store['compact']>[0]) => client.call('store.compact', options ?? {}) as ReturnType<Store['compact']>,
    close: async () => client.close(),
  } as unknown as Store;
}

/**
 * Server side of remoteStore: dispatches to the open store, only to the parts and methods it has.
 * `onQueued` hears of every outbound queue entry a call made (queue.enqueue, or mail.deliver with an
 * `enqueue`, as `mailstack deliver` sends for aliases that forward off-site): the running queue takes it up at
 * once instead of at its next periodic scan.
 */
export function storeHandlers(getStore: () => Store | null, onQueued?: (entry: QueueEntry) => void): Record<string, AdminHandler> {
  const requireStore = (): Store => {
    const store = getStore();
    if (!store) throw Object.assign(new Error('the server is locked: run `mailstack unlock` first'), { code: 'locked' });
    return store;
  };
  return {
    store: async (params) => {
      const { path, args } = params as { path: [string, string]; args: unknown[] };
      const [partName, method] = path;
      if (!STORE_PARTS.includes(partName as StorePart)) throw Object.assign(new Error(`no store part "${partName}"`), { code: 'invalid' });
      const target = requireStore()[partName as StorePart] as unknown as Record<string, unknown>;
      const fn = target[method];
      if (typeof fn !== 'function' || method.startsWith('_') || method === 'constructor') {
        throw Object.assign(new Error(`no store method ${partName}.${method}`), { code: 'invalid' });
      }
      const result = await (fn as (...a: unknown[]) => unknown).apply(target, Array.isArray(args) ? args : []);
      const queued = partName === 'queue' && method === 'enqueue' ? (result as QueueEntry) : partName === 'mail' && method === 'deliver' ? (result as DeliveryResult).queued : undefined;
      if (queued) onQueued?.(queued);
      return result;
    },
    'store.verify': () => requireStore().verify(),
    'store.compact': (params) => requireStore().compact((params ?? {}) as Parameters<Store['compact']>[0]),
  };
}
