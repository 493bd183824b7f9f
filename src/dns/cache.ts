// A bounded cache of DNS answers that honours TTLs, for positive and negative answers (RFC 2308 5).

/** Enough for the names a busy small mail server looks up in a day (senders' SPF/DKIM/DMARC, MX of
 * destinations, DNSBLs); an entry is a few hundred bytes, so the bound keeps the cache in single-digit MB. */
export const DEFAULT_CACHE_ENTRIES = 10_000;
/** RFC 8767 4 suggests capping TTLs; a day bounds how long a changed record (a rotated DKIM key) is stale. */
export const MAX_TTL_SECONDS = 86_400;

export type CachedValue<T> = { kind: 'data'; records: T } | { kind: 'negative'; code: 'NXDOMAIN' | 'NODATA' };

export interface Entry<T> {
  value: CachedValue<T>;
  expiresAt: number;
}

export class TtlCache<T> {
  private readonly entries = new Map<string, Entry<T>>();
  constructor(
    private readonly maxEntries: number,
    private readonly now: () => number,
  ) {}

  get(key: string): CachedValue<T> | undefined {
    return this.entry(key)?.value;
  }

  /** The cached value with the time (ms since epoch) it expires. */
  entry(key: string): Readonly<Entry<T>> | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    // Least-recently-used order: a Map iterates in insertion order, so re-inserting marks it fresh.
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry;
  }

  /** Caches the value for its TTL; returns when it expires, or 0 when it is not cached at all. */
  set(key: string, value: CachedValue<T>, ttlSeconds: number): number {
    const ttl = Math.min(Math.max(0, Math.floor(ttlSeconds)), MAX_TTL_SECONDS);
    if (ttl === 0) return 0; // RFC 1035 3.2.1: TTL 0 means use once, do not cache
    const expiresAt = this.now() + ttl * 1000;
    this.entries.delete(key);
    this.entries.set(key, { value, expiresAt });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.entries.delete(oldest.value);
    }
    return this.entries.has(key) ? expiresAt : 0;
  }

  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}
