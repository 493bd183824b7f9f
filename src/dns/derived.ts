// A bounded cache of results computed from DNS answers (an SPF or DMARC evaluation): a result is reused
// while every answer it was computed from is still in the resolver's cache unchanged, so reusing it gives
// exactly what computing it again would give, without the CPU (mailauth spends ~0.2 ms per message on an
// SPF and DMARC evaluation whose DNS answers all come from the cache).
import type { AnswerTracker, Resolver } from './resolver.ts';

/** Distinct (client, sender) and (From domain, SPF domain) pairs a busy small server sees within the
 * TTLs of their records; an entry is well under a kilobyte. */
export const DEFAULT_DERIVED_ENTRIES = 5_000;

interface Derived<T> {
  value: T;
  tracker: AnswerTracker;
}

export class DerivedCache<T> {
  private readonly entries = new Map<string, Derived<T>>();

  constructor(
    private readonly resolver: Pick<Resolver, 'track'>,
    private readonly maxEntries = DEFAULT_DERIVED_ENTRIES,
  ) {}

  /**
   * The value for `key`: reused when one computed earlier is still current, else computed by `compute`
   * with a tracked lookup (which it must use for every DNS question it asks) and kept when all its answers
   * were cacheable. The key must name every input of the computation besides the DNS answers.
   */
  async get(key: string, compute: (tracker: AnswerTracker) => Promise<T>): Promise<T> {
    const held = this.entries.get(key);
    if (held) {
      this.entries.delete(key);
      if (held.tracker.current()) {
        // Least-recently-used order, as the answer cache keeps it.
        this.entries.set(key, held);
        return held.value;
      }
    }
    const tracker = this.resolver.track();
    const value = await compute(tracker);
    if (tracker.current()) {
      this.entries.delete(key);
      this.entries.set(key, { value, tracker });
      while (this.entries.size > this.maxEntries) {
        const oldest = this.entries.keys().next();
        if (oldest.done) break;
        this.entries.delete(oldest.value);
      }
    }
    return value;
  }

  get size(): number {
    return this.entries.size;
  }
}
