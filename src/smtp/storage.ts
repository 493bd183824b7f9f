// Refusing mail while the disk holding the store is nearly full: 452 4.3.1 at MAIL FROM, before the client sends
// a message that could not be stored. Postfix does the same for its queue file system: it wants free space of
// at least 1.5 times its message size limit, or queue_minfree if that is more. A client told 452 keeps the
// message and tries again later. If the disk fills during a transaction anyway, the store's failure is
// answered 452 4.3.1 at the end of DATA (transaction.ts), and nothing is acknowledged that was not stored.
import type { Logger } from '../log/index.ts';
import type { Runtime } from '../runtime/index.ts';
import type { Store } from '../store/types.ts';
import { replies } from './reply.ts';

/** statfs is asked at most this often: a burst of MAIL commands shares one answer. */
export const FREE_SPACE_RECHECK_MS = 1000;
/** While space stays short (or cannot be read), the warning is logged once per this period, not per MAIL. */
const WARN_EVERY_MS = 60_000;

/** The free space mail needs: max(min_free_bytes, 1.5 x max_message_bytes). */
export function requiredFreeBytes(config: Runtime['config']): number {
  return Math.max(config.store.min_free_bytes, Math.ceil(1.5 * config.store.max_message_bytes));
}

/** A check for MAIL FROM, one per listener: resolves when there is room, else throws the 452 to answer. */
export function freeSpaceCheck(runtime: Runtime, log: Logger): (store: Store) => Promise<void> {
  let checked: { store: Store; at: number; free: Promise<number> } | null = null;
  let warnedAt = -Infinity;
  return async (store) => {
    const now = Date.now();
    if (!checked || checked.store !== store || now - checked.at >= FREE_SPACE_RECHECK_MS) {
      checked = { store, at: now, free: store.freeSpace() };
    }
    let free: number;
    try {
      free = await checked.free;
    } catch (err) {
      // Not knowing is no reason to refuse: the store itself still answers 452 if a write finds the disk full.
      if (now - warnedAt >= WARN_EVERY_MS) {
        warnedAt = now;
        log.warn({ err: (err as Error).message }, 'could not read the free space of the data directory');
      }
      return;
    }
    const required = requiredFreeBytes(runtime.config);
    if (free >= required) return;
    if (now - warnedAt >= WARN_EVERY_MS) {
      warnedAt = now;
      log.warn(
        { freeBytes: free, requiredBytes: required },
        'refusing mail with 452 4.3.1: the file system of the data directory has less free space than [store] min_free_bytes or 1.5 x max_message_bytes',
      );
    }
    throw replies.insufficientStorage();
  };
}
