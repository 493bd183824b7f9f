// The caching stub resolver: asks the configured upstream resolvers (recursive ones: the system's, or a
// local Unbound), follows CNAME chains, caches answers for their TTL and negative answers per RFC 2308.
import { Resolver as NodeResolver } from 'node:dns';
import type { Answer, RecordType } from 'dns-packet';
import type { Logger } from '../log/index.ts';
import { DnsError, type DnsErrorCode } from './errors.ts';
import { DEFAULT_CACHE_ENTRIES, TtlCache, type CachedValue } from './cache.ts';
import { parseUpstream, queryServer, WireTimeout, type Upstream, type WireAnswer } from './wire.ts';

/** RFC 1034 3.6.2 warns about CNAME loops; real chains are one or two long. */
const MAX_CNAME_CHAIN = 8;
/** RFC 1035 2.3.4: 255 octets on the wire, which is 253 characters in text without the root dot. */
const MAX_NAME_CHARS = 253;
const MAX_LABEL_CHARS = 63;

export interface MxRecord {
  /** Lower case, without the trailing dot. The RFC 7505 null MX ("0 .") appears as exchange "". */
  exchange: string;
  priority: number;
}

/**
 * Lookups answer [] when the name exists without records of that type (NODATA), and throw DnsError
 * otherwise: code NXDOMAIN (permanent: the name does not exist) or TIMEOUT/SERVFAIL/REFUSED/OTHER
 * (`temporary: true`: try again later).
 */
export interface Resolver {
  /** Sorted by priority, lowest first. [] when the domain has no MX. */
  mx(name: string): Promise<MxRecord[]>;
  a(name: string): Promise<string[]>;
  aaaa(name: string): Promise<string[]>;
  /** Each TXT record as its character-strings, unjoined (like node:dns resolveTxt). */
  txt(name: string): Promise<string[][]>;
  /** Names for an IPv4 or IPv6 address (the in-addr.arpa / ip6.arpa name is built here). */
  ptr(ip: string): Promise<string[]>;
  /** For mailauth's `resolver` option: (name, rrtype) => same shapes and error codes (ENOTFOUND,
   * ENODATA, ETIMEOUT...) as node:dns/promises resolve(). */
  mailauth: (name: string, rrtype: string) => Promise<unknown>;
  /** Forgets every cached answer. */
  clearCache(): void;
  /** A lookup for one computation over DNS answers (an SPF or DMARC evaluation) that records which answers
   * it handed out, so that the computation's result can be reused exactly as long as the cache would hand
   * out the same answers again (derived.ts). */
  track(): AnswerTracker;
}

/** See Resolver.track(). */
export interface AnswerTracker {
  /** As Resolver.mailauth, recording each answer (or failure) it hands out. */
  mailauth: (name: string, rrtype: string) => Promise<unknown>;
  /** Marks the computation as depending on more than the answers (mailauth's SPF %{t} macro reads the
   * clock): its result is never reused. */
  taint(): void;
  /** Whether every answer handed out so far is still cached unchanged: none has expired, none was a
   * failure or an answer that could not be cached (TTL 0, a negative answer without SOA), the cache was
   * not cleared since, and taint() was not called. */
  current(): boolean;
}

export interface ResolverOptions {
  /** "ip" or "ip:port" or "[v6]:port"; [] = the system's resolvers from /etc/resolv.conf. */
  upstream: string[];
  /** Per upstream server; each is tried in turn on a timeout or SERVFAIL/REFUSED. */
  timeoutMs: number;
  log?: Logger;
  maxCacheEntries?: number;
  /** Clock for TTLs (ms since epoch); tests inject one to expire entries without sleeping. */
  now?: () => number;
}

type Records = unknown[];

/** An answer as the cache holds it, with the time it leaves the cache (ms since epoch; 0 = not cached). */
interface Answered {
  value: CachedValue<Records>;
  expiresAt: number;
}

/** The record types mailauth asks for (SPF, DKIM, DMARC, ARC, BIMI lookups). */
const MAILAUTH_TYPES: ReadonlySet<string> = new Set(['A', 'AAAA', 'MX', 'TXT', 'PTR', 'CNAME', 'NS']);

function normaliseName(name: string, rrtype: string): string {
  const lower = name.trim().toLowerCase().replace(/\.$/, '');
  const labels = lower.split('.');
  if (
    lower.length === 0 ||
    lower.length > MAX_NAME_CHARS ||
    labels.some((l) => l.length === 0 || l.length > MAX_LABEL_CHARS) ||
    // Hostnames, service labels (_dmarc, _domainkey) and IDNA A-labels; anything else is not a name we ask.
    !/^[a-z0-9_*-]+(\.[a-z0-9_-]+)*$/.test(lower)
  ) {
    throw new DnsError('BADNAME', name, rrtype);
  }
  return lower;
}

/** RFC 1035 3.5 (in-addr.arpa) and RFC 3596 2.5 (ip6.arpa). */
export function reverseName(ip: string): string {
  const v4 = /^(?:::ffff:)?(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/i.exec(ip);
  if (v4) return `${v4[4]}.${v4[3]}.${v4[2]}.${v4[1]}.in-addr.arpa`;
  if (!ip.includes(':')) throw new DnsError('BADNAME', ip, 'PTR', 'not an IP address');
  const [head = '', tail = ''] = ip.toLowerCase().split('::');
  const groups = (s: string) => (s === '' ? [] : s.split(':'));
  const h = groups(head);
  const t = groups(tail);
  const missing = ip.includes('::') ? 8 - h.length - t.length : 0;
  const all = [...h, ...Array<string>(missing).fill('0'), ...t];
  if (all.length !== 8 || all.some((g) => !/^[0-9a-f]{1,4}$/.test(g))) throw new DnsError('BADNAME', ip, 'PTR', 'not an IP address');
  const nibbles = all.map((g) => g.padStart(4, '0')).join('');
  return `${[...nibbles].reverse().join('.')}.ip6.arpa`;
}

/** The OPT pseudo-record has no data; every record we read does. */
function dataOf(answer: Answer): unknown {
  return (answer as { data?: unknown }).data;
}

function recordData(type: RecordType, answer: Answer): unknown {
  switch (type) {
    case 'MX': {
      const data = dataOf(answer) as { exchange: string; preference?: number };
      return { exchange: data.exchange.toLowerCase().replace(/\.$/, ''), priority: data.preference ?? 0 };
    }
    case 'TXT': {
      const data = dataOf(answer) as string | Buffer | (string | Buffer)[];
      const chunks = Array.isArray(data) ? data : [data];
      return chunks.map((c) => (typeof c === 'string' ? c : c.toString('utf8')));
    }
    case 'CNAME':
    case 'PTR':
    case 'NS':
      return String(dataOf(answer)).toLowerCase().replace(/\.$/, '');
    default:
      return dataOf(answer);
  }
}

interface Outcome {
  value: CachedValue<Records>;
  ttl: number;
}

/** Reads one upstream answer: the records of the asked type at the end of the CNAME chain, or a
 * negative answer with its RFC 2308 TTL, or `follow` when the chain leaves this answer. */
function interpret(name: string, type: RecordType, reply: WireAnswer): Outcome | { follow: string; ttl: number } {
  let current = name;
  let ttl = Infinity;
  for (let hop = 0; hop <= MAX_CNAME_CHAIN; hop++) {
    const here = reply.answers.filter((a) => a.name.toLowerCase().replace(/\.$/, '') === current);
    const wanted = here.filter((a) => a.type === type);
    if (wanted.length > 0) {
      for (const a of wanted) ttl = Math.min(ttl, (a as { ttl?: number }).ttl ?? 0);
      return { value: { kind: 'data', records: wanted.map((a) => recordData(type, a)) }, ttl };
    }
    const cname = type === 'CNAME' ? undefined : here.find((a) => a.type === 'CNAME');
    if (!cname) break;
    ttl = Math.min(ttl, (cname as { ttl?: number }).ttl ?? 0);
    current = String(dataOf(cname)).toLowerCase().replace(/\.$/, '');
    if (hop === MAX_CNAME_CHAIN) throw new DnsError('OTHER', name, type, 'CNAME chain too long');
  }
  if (reply.rcode === 'NOERROR' && current !== name && !reply.answers.some((a) => a.name.toLowerCase().replace(/\.$/, '') === current)) {
    // The chain points outside what the upstream told us: ask for the target ourselves.
    return { follow: current, ttl };
  }
  // RFC 2308 5: a negative answer is cached for min(SOA TTL, SOA MINIMUM); without an SOA, not at all.
  const soa = reply.authorities.find((a) => a.type === 'SOA') as { ttl?: number; data: { minimum?: number } } | undefined;
  const negativeTtl = soa ? Math.min(soa.ttl ?? 0, soa.data.minimum ?? 0) : 0;
  const code = reply.rcode === 'NXDOMAIN' ? 'NXDOMAIN' : 'NODATA';
  return { value: { kind: 'negative', code }, ttl: Math.min(ttl, negativeTtl) };
}

const RCODE_ERRORS: Record<string, DnsErrorCode> = { SERVFAIL: 'SERVFAIL', REFUSED: 'REFUSED' };

export function createResolver(options: ResolverOptions): Resolver {
  const now = options.now ?? Date.now;
  const cache = new TtlCache<Records>(options.maxCacheEntries ?? DEFAULT_CACHE_ENTRIES, now);
  const inflight = new Map<string, Promise<Answered>>();
  const log = options.log;
  const servers: Upstream[] = (options.upstream.length > 0 ? options.upstream : new NodeResolver().getServers()).map(parseUpstream);
  if (servers.length === 0) throw new Error('no DNS resolver: set [dns] upstream or configure /etc/resolv.conf');

  async function ask(name: string, type: RecordType): Promise<WireAnswer> {
    let last: DnsError | undefined;
    for (const server of servers) {
      try {
        const reply = await queryServer(server, name, type, options.timeoutMs);
        const failure = RCODE_ERRORS[reply.rcode] ?? (reply.rcode === 'NOERROR' || reply.rcode === 'NXDOMAIN' ? undefined : 'OTHER');
        if (!failure) return reply;
        last = new DnsError(failure, name, type, `from ${server.host}:${server.port}`);
      } catch (err) {
        last = err instanceof WireTimeout ? new DnsError('TIMEOUT', name, type, err.message) : new DnsError('OTHER', name, type, (err as Error).message);
      }
      log?.debug({ name, type, server: `${server.host}:${server.port}`, err: last.code }, 'dns upstream failed');
    }
    throw last!;
  }

  async function resolveUncached(name: string, type: RecordType, depth: number): Promise<Outcome> {
    const reply = await ask(name, type);
    const outcome = interpret(name, type, reply);
    if ('value' in outcome) return outcome;
    if (depth >= MAX_CNAME_CHAIN) throw new DnsError('OTHER', name, type, 'CNAME chain too long');
    const next = await resolveUncached(outcome.follow, type, depth + 1);
    return { value: next.value, ttl: Math.min(outcome.ttl, next.ttl) };
  }

  /** The cached or fetched answer for `name` and `type`, with the time it leaves the cache (0: it was not
   * cached). Throws DnsError only for failures (timeouts, SERVFAIL, a bad name); negative answers are
   * values. */
  function answer(name: string, type: RecordType): Promise<Answered> {
    const key = `${type} ${name}`;
    const cached = cache.entry(key);
    if (cached) return Promise.resolve(cached);
    const pending = inflight.get(key);
    if (pending) return pending;
    const promise = resolveUncached(name, type, 0)
      .then(({ value, ttl }) => ({ value, expiresAt: cache.set(key, value, ttl) }))
      .finally(() => inflight.delete(key));
    inflight.set(key, promise);
    return promise;
  }

  /** The records of an answer (a copy: callers may sort or shift what they get, which smtp-server does,
   * and that must not change the cache), or the DnsError of a negative one (NODATA included). */
  function recordsOf(name: string, type: RecordType, value: CachedValue<Records>, fromCache: boolean): Records {
    if (value.kind === 'data') return [...value.records];
    throw new DnsError(value.code, name, type, fromCache ? 'cached' : undefined);
  }

  /** Records of `type` for `name` (cached), or throws DnsError (NODATA included). */
  function lookup(rawName: string, type: RecordType): Promise<Records> {
    const name = normaliseName(rawName, type);
    const cached = cache.get(`${type} ${name}`);
    if (cached) {
      try {
        return Promise.resolve(recordsOf(name, type, cached, true));
      } catch (err) {
        return Promise.reject(err as Error);
      }
    }
    return answer(name, type).then(({ value }) => recordsOf(name, type, value, false));
  }

  /** mailauth's shapes and node:dns error codes over a lookup. */
  async function forMailauth(name: string, rrtype: string, find: (name: string, type: RecordType) => Promise<Records>): Promise<unknown> {
    const type = rrtype.toUpperCase();
    if (!MAILAUTH_TYPES.has(type)) {
      throw Object.assign(new Error(`unsupported DNS type ${rrtype}`), { code: 'ENOTIMP' });
    }
    try {
      return await find(name, type as RecordType);
    } catch (err) {
      if (err instanceof DnsError) throw Object.assign(new Error(err.message), { code: err.nodeCode, hostname: name });
      throw err;
    }
  }

  /** Bumped by clearCache(): a tracker that handed out answers before it is no longer current. */
  let generation = 0;

  function track(): AnswerTracker {
    const born = generation;
    let validUntil = Infinity;
    const tracked = async (rawName: string, type: RecordType): Promise<Records> => {
      try {
        const name = normaliseName(rawName, type);
        const got = await answer(name, type);
        validUntil = Math.min(validUntil, got.expiresAt);
        return recordsOf(name, type, got.value, false);
      } catch (err) {
        // A failure (a timeout, SERVFAIL) is no answer the cache holds: what came of it is never reused. A
        // negative answer or a malformed name is permanent, and reusable like any answer.
        if (!(err instanceof DnsError) || err.temporary) validUntil = 0;
        throw err;
      }
    };
    return {
      mailauth: (name, rrtype) => forMailauth(name, rrtype, tracked),
      taint: () => void (validUntil = 0),
      current: () => generation === born && now() < validUntil,
    };
  }

  async function orEmpty<T>(name: string, type: RecordType): Promise<T[]> {
    try {
      return (await lookup(name, type)) as T[];
    } catch (err) {
      if (err instanceof DnsError && err.code === 'NODATA') return [];
      throw err;
    }
  }

  return {
    async mx(name) {
      const records = await orEmpty<MxRecord>(name, 'MX');
      return [...records].sort((x, y) => x.priority - y.priority);
    },
    a: (name) => orEmpty<string>(name, 'A'),
    aaaa: (name) => orEmpty<string>(name, 'AAAA'),
    txt: (name) => orEmpty<string[]>(name, 'TXT'),
    async ptr(ip) {
      return orEmpty<string>(reverseName(ip), 'PTR');
    },
    mailauth: (name, rrtype) => forMailauth(name, rrtype, lookup),
    clearCache: () => {
      cache.clear();
      generation++;
    },
    track,
  };
}
