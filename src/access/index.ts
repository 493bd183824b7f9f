// access: who may connect, and who gets banned. The replacement for the reference setup's PF rules (GeoIP
// tables on the client ports, max-src-conn / max-src-conn-rate with `overload <bruteforce> flush global`),
// plus what PF cannot see: failed logins.
// Owns: the per-listener policy check at accept (runtime.guard), connection tracking per source, the ban
// table (kept in memory for the per-accept check, persisted in store.bans), auth-failure counting and the
// login delay, the GeoIP table (persisted in store.secrets), and the pf/nftables export.
// Never: reads or writes a byte on a socket it admits (it only destroys sockets of a banned source), imports
// a protocol module, or refuses/bans loopback (unless exempt_loopback = false) or an admin network.
//
// Implementation notes:
// - admit() is synchronous and allocation-light: it runs for every accepted connection, floods included.
// - A ban takes effect in memory at once; the store write follows in order on a promise chain. While the vault
//   is locked bans live in memory only and are written at the next reload().
// - Every map keyed by source is bounded (MAX_TRACKED_SOURCES) and swept, so a flood of distinct addresses
//   costs bounded memory.
import type { Socket } from 'node:net';
import type { Config } from '../config/index.ts';
import type { Logger } from '../log/index.ts';
import type { AuthEvent, ConnectionGuard, SecurityEventBus } from '../runtime/index.ts';
import type { Ban, Store } from '../store/types.ts';
import { GeoDataError, GeoTable, countryCode, type GeoSource, type GeoStats } from './geoip.ts';
import { cidrContains, formatIp, isLoopback, parseCidr, parseIp, sourceNetwork, normaliseTarget, type Cidr, type IpAddress } from './ip.ts';
import { resolvePolicy, type ListenerPolicy } from './policy.ts';
import { AccessError, banDurationMs, checkBanTarget, exemptNetworks, newBan } from './bans.ts';

export { GeoTable, GeoTableBuilder, GeoDataError, countryIndex, countryCode } from './geoip.ts';
export type { GeoSource, GeoStats } from './geoip.ts';
export { importGeoFiles, importGeoBuffers } from './geoip-import.ts';
export { exportFirewall, firewallTables, networksFor, type FirewallFormat, type FirewallTable } from './firewall.ts';
export { parseIp, normaliseIp, normaliseTarget, parseCidr } from './ip.ts';
export { resolvePolicy, type ListenerPolicy } from './policy.ts';
export { AccessError, banDurationMs, checkBanTarget, exemptNetworks, newBan, parseDuration, type AccessErrorCode } from './bans.ts';

/** Where the imported GeoIP table lives in the vault (store.secrets). */
export const GEOIP_SECRET = 'access/geoip';

/** Sources tracked for rates and failures at once. A flood from more distinct sources than this evicts the
 * oldest entries: it then goes uncounted, but memory stays bounded (~100 bytes an entry). */
export const MAX_TRACKED_SOURCES = 100_000;
/** How often expired counters are swept. */
const SWEEP_INTERVAL_MS = 60_000;

export type RefusalReason = 'banned' | 'deny_cidrs' | 'deny_countries' | 'not_allowed' | 'too_many_connections' | 'connection_rate';

export interface AccessControlOptions {
  config: Config;
  /** The store, or a getter that returns null while the vault is locked (runtime.store). */
  store: Store | null | (() => Store | null);
  log: Logger;
  events: SecurityEventBus;
  /** Injected clock (ms since epoch), for tests of expiry and windows. */
  now?: () => number;
}

export interface AccessStatus {
  geoip: (GeoStats & { source: GeoSource }) | null;
  bans: number;
  trackedConnections: number;
  trackedSources: number;
}

export interface AccessControl extends ConnectionGuard {
  /** Reads the ban table and the GeoIP table from the store (after unlock, or after an import). */
  reload(): Promise<{ bans: number; geoip: (GeoStats & { source: GeoSource }) | null }>;
  /** Bans a source (address or CIDR) and closes its open connections where bans apply. Without a duration
   * the ban grows with the source's earlier bans; durationMs 0 bans until deleted. */
  ban(target: string, reason: string, durationMs?: number): Promise<Ban>;
  unban(target: string): Promise<boolean>;
  flushBans(): Promise<number>;
  /** Active bans (memory is authoritative while the server runs). */
  listBans(): Ban[];
  /** Installs a GeoIP table (null removes it). */
  setGeoTable(table: GeoTable | null): void;
  country(address: string): string | null;
  policy(listener: string): ListenerPolicy;
  status(): AccessStatus;
  close(): Promise<void>;
  adminHandlers: Record<string, (params: unknown) => Promise<unknown>>;
}

interface Tracked {
  socket: Socket;
  listener: string;
  ip: IpAddress;
}

interface BanEntry {
  ban: Ban;
  cidr: Cidr;
}

export function createAccessControl(options: AccessControlOptions): AccessControl {
  const { config, log, events } = options;
  const access = config.access;
  const now = options.now ?? Date.now;
  const getStore = typeof options.store === 'function' ? options.store : () => options.store as Store | null;
  const v6Prefix = access.ipv6_source_prefix;
  const exempt = exemptNetworks(access);

  const policies = new Map<string, ListenerPolicy>();
  const policy = (listener: string): ListenerPolicy => {
    let p = policies.get(listener);
    if (!p) {
      p = resolvePolicy(access, listener);
      policies.set(listener, p);
    }
    return p;
  };
  // Resolve the configured listeners now so that a bad CIDR stops the start, not the first connection.
  for (const name of Object.keys(access.listeners)) policy(name);

  let geo: GeoTable | null = null;
  const bansExact = new Map<string, BanEntry>(); // address or source-network text
  const bansRanges = new Map<string, BanEntry>(); // wider networks
  const knownCounts = new Map<string, number>(); // earlier bans per target, for growth before the store answers
  const conns = new Map<string, Set<Tracked>>(); // source key -> open connections
  const recentConnects = new Map<string, number[]>(); // listener + source key -> accept times
  const sourceFailures = new Map<string, number[]>(); // source key -> failure times
  const accountFailures = new Map<string, number[]>(); // account -> failure times
  const pendingWrites: (() => Promise<void>)[] = []; // ban-table changes made while locked
  let writeChain: Promise<void> = Promise.resolve();
  let trackedConnections = 0;

  const isExempt = (ip: IpAddress) => exempt.some((c) => cidrContains(c, ip)) || (access.exempt_loopback && isLoopback(ip));
  const keyOf = (ip: IpAddress) => sourceNetwork(ip, v6Prefix).text;

  // ---------------------------------------------------------------- refusal log, rate-limited
  let logWindowStart = now();
  let logged = 0;
  let suppressed = 0;
  const rollLogWindow = (t: number) => {
    if (t - logWindowStart < 60_000) return;
    if (suppressed > 0) log.warn({ event: 'access-refusals-suppressed', count: suppressed }, `${suppressed} more refused connections not logged in the last minute`);
    logWindowStart = t;
    logged = 0;
    suppressed = 0;
  };
  const logRefusal = (listener: string, remoteAddress: string, reason: RefusalReason, country: string | null) => {
    const t = now();
    rollLogWindow(t);
    if (logged < access.max_refusal_logs_per_minute) {
      logged++;
      log.info({ event: 'access-refused', listener, remoteAddress, reason, ...(country ? { country } : {}) }, 'connection refused');
    } else suppressed++;
  };

  // ---------------------------------------------------------------- bounded per-source maps
  const pushTime = (map: Map<string, number[]>, key: string, t: number, windowMs: number, keep: number): number[] => {
    let times = map.get(key);
    if (!times) {
      if (map.size >= MAX_TRACKED_SOURCES) {
        const oldest = map.keys().next().value;
        if (oldest !== undefined) map.delete(oldest);
      }
      times = [];
      map.set(key, times);
    }
    let drop = 0;
    while (drop < times.length && times[drop]! <= t - windowMs) drop++;
    if (drop > 0) times.splice(0, drop);
    times.push(t);
    if (times.length > keep) times.splice(0, times.length - keep);
    return times;
  };
  const countRecent = (map: Map<string, number[]>, key: string, t: number, windowMs: number): number => {
    const times = map.get(key);
    if (!times) return 0;
    let n = 0;
    for (const x of times) if (x > t - windowMs) n++;
    return n;
  };

  const sweep = () => {
    const t = now();
    rollLogWindow(t);
    const windowMs = access.auth_failure_window_s * 1000;
    for (const map of [sourceFailures, accountFailures]) for (const [k, v] of map) if (v.length === 0 || v[v.length - 1]! <= t - windowMs) map.delete(k);
    for (const [k, v] of recentConnects) {
      const listener = k.slice(0, k.indexOf('|'));
      if (v.length === 0 || v[v.length - 1]! <= t - policy(listener).rateIntervalMs) recentConnects.delete(k);
    }
    for (const [k, e] of [...bansExact, ...bansRanges]) if (expired(e.ban, t)) dropBan(k);
  };
  const sweepTimer = setInterval(sweep, SWEEP_INTERVAL_MS);
  sweepTimer.unref();

  // ---------------------------------------------------------------- bans
  const expired = (ban: Ban, t: number) => ban.expiresAt !== 0 && ban.expiresAt <= t;
  const isExactKey = (c: Cidr) => (c.family === 4 ? c.prefix === 32 : c.prefix === 128 || c.prefix === v6Prefix);
  const dropBan = (target: string) => {
    bansExact.delete(target);
    bansRanges.delete(target);
  };
  const remember = (ban: Ban) => {
    const cidr = parseCidr(ban.target);
    if (!cidr) {
      log.warn({ event: 'access-ban-skipped', target: ban.target }, 'stored ban target is not an address or network: ignored');
      return;
    }
    dropBan(ban.target);
    (isExactKey(cidr) ? bansExact : bansRanges).set(ban.target, { ban, cidr });
    rememberCount(ban.target, ban.count);
  };
  const rememberCount = (target: string, count: number) => {
    const known = knownCounts.get(target);
    if (known === undefined && knownCounts.size >= MAX_TRACKED_SOURCES) {
      const oldest = knownCounts.keys().next().value;
      if (oldest !== undefined) knownCounts.delete(oldest); // the store still has the count for ban()
    }
    knownCounts.set(target, Math.max(known ?? 0, count));
  };
  const activeBanFor = (ip: IpAddress, key: string, t: number): BanEntry | null => {
    const candidates = [bansExact.get(key), ip.family === 6 ? bansExact.get(formatIp(ip)) : undefined];
    for (const e of candidates) {
      if (!e) continue;
      if (expired(e.ban, t)) dropBan(e.ban.target);
      else return e;
    }
    for (const e of bansRanges.values()) {
      if (!cidrContains(e.cidr, ip)) continue;
      if (expired(e.ban, t)) dropBan(e.ban.target);
      else return e;
    }
    return null;
  };

  const persist = (op: (store: Store) => Promise<unknown>) => {
    const run = async () => {
      const store = getStore();
      if (!store) {
        if (pendingWrites.length >= MAX_TRACKED_SOURCES) {
          log.warn({ event: 'access-ban-not-persisted' }, 'too many ban changes while locked: this one stays in memory only');
          return;
        }
        pendingWrites.push(async () => {
          const s = getStore();
          if (s) await op(s);
        });
        return;
      }
      await op(store);
    };
    writeChain = writeChain.then(run).catch((err: unknown) => log.error({ err, event: 'access-ban-write-failed' }, 'could not write the ban table'));
    return writeChain;
  };

  const flushConnections = (cidr: Cidr) => {
    let closed = 0;
    for (const set of conns.values()) {
      for (const c of set) {
        if (!cidrContains(cidr, c.ip) || !policy(c.listener).applyBans) continue;
        c.socket.destroy();
        closed++;
      }
    }
    return closed;
  };

  const banDuration = (count: number) => banDurationMs(access, count);

  /** Bans at once in memory and closes the source's connections; the store write follows. */
  const banNow = (target: string, cidr: Cidr, reason: string, durationMs: number | undefined): Ban => {
    const known = knownCounts.get(target);
    const ban = newBan(access, target, reason, known ? ({ count: known } as Ban) : null, now(), durationMs);
    const count = ban.count;
    remember(ban);
    const closed = flushConnections(cidr);
    log.warn({ event: 'access-ban', target, reason, count, expiresAt: ban.expiresAt === 0 ? 'never' : new Date(ban.expiresAt).toISOString(), closed }, `banned ${target}: ${reason}`);
    return ban;
  };

  const checkTarget = (target: string) => checkBanTarget(exempt, target);

  async function ban(targetText: string, reason: string, durationMs?: number): Promise<Ban> {
    const { target, cidr } = checkTarget(targetText);
    const store = getStore();
    if (store && durationMs === undefined) {
      // Growth counts every earlier ban of this target, expired ones too: only the store still knows those.
      const earlier = await store.bans.get(target);
      if (earlier) rememberCount(target, earlier.count);
    }
    const b = banNow(target, cidr, reason, durationMs);
    await persist((s) => s.bans.put(b));
    return b;
  }

  /** The automatic path (rate, failed logins): synchronous, then the count is corrected from the store. */
  const autoBan = (key: string, reason: string) => {
    const cidr = parseCidr(key)!;
    const b = banNow(key, cidr, reason, undefined);
    void persist(async (s) => {
      const earlier = await s.bans.get(key);
      let final = b;
      if (earlier && earlier.count >= b.count && earlier.createdAt !== b.createdAt) {
        const count = earlier.count + 1;
        final = { ...b, count, expiresAt: b.createdAt + banDuration(count) };
        if (bansExact.get(key)?.ban === b) remember(final);
      }
      await s.bans.put(final);
    });
  };

  // ---------------------------------------------------------------- admit
  const refuse = (listener: string, remote: string, reason: RefusalReason, cc: number): false => {
    logRefusal(listener, remote, reason, countryCode(cc));
    return false;
  };

  /** admit() must never throw into a listener's accept handler: a bug here is logged, and the connection
   * is refused on client listeners (fail closed) and admitted on open ones (mail keeps flowing). */
  function admit(listener: string, socket: Socket): boolean {
    try {
      return admitChecked(listener, socket);
    } catch (err) {
      const open = (() => {
        try {
          return policy(listener).open;
        } catch {
          return false;
        }
      })();
      log.error({ err, event: 'access-admit-failed', listener, remoteAddress: socket.remoteAddress, admitted: open }, 'access check failed');
      return open;
    }
  }

  function admitChecked(listener: string, socket: Socket): boolean {
    const remote = socket.remoteAddress;
    // A unix socket (LMTP, the admin socket) has no address: the file mode guards it.
    if (!remote) return true;
    const ip = parseIp(remote);
    if (!ip) return true;
    if (isExempt(ip)) return true;
    const p = policy(listener);
    const t = now();
    // The source key (a string) is only built when something needs it: a flood refused by country costs
    // a parse and a binary search.
    let key: string | null = null;
    if (p.applyBans && (bansExact.size > 0 || bansRanges.size > 0)) {
      key = keyOf(ip);
      if (activeBanFor(ip, key, t)) return refuse(listener, remote, 'banned', 0);
    }
    if (p.denyCidrs.length > 0 && p.denyCidrs.some((c) => cidrContains(c, ip))) return refuse(listener, remote, 'deny_cidrs', 0);
    const countriesActive = geo !== null && p.allowCountries.size > 0;
    let cc = 0;
    if (geo && (countriesActive || p.denyCountries.size > 0)) cc = ip.family === 4 ? geo.lookupV4(ip.v4) : geo.lookupV6(ip.v6);
    if (p.denyCountries.has(cc)) return refuse(listener, remote, 'deny_countries', cc);
    if (p.allowCidrs.length > 0 || countriesActive) {
      const allowed = (countriesActive && p.allowCountries.has(cc)) || p.allowCidrs.some((c) => cidrContains(c, ip));
      if (!allowed) return refuse(listener, remote, 'not_allowed', cc);
    }
    key ??= keyOf(ip);
    let set = conns.get(key);
    if (p.maxConnectionsPerSource > 0 && set) {
      let open = 0;
      for (const c of set) if (c.listener === listener) open++;
      if (open >= p.maxConnectionsPerSource) return refuse(listener, remote, 'too_many_connections', cc);
    }
    if (p.maxNewConnections > 0) {
      const times = pushTime(recentConnects, `${listener}|${key}`, t, p.rateIntervalMs, p.maxNewConnections + 1);
      if (times.length > p.maxNewConnections) {
        recentConnects.delete(`${listener}|${key}`);
        autoBan(key, `more than ${p.maxNewConnections} connections in ${p.rateIntervalMs / 1000}s on ${listener}`);
        return refuse(listener, remote, 'connection_rate', cc);
      }
    }
    if (!set) {
      set = new Set();
      conns.set(key, set);
    }
    const tracked: Tracked = { socket, listener, ip };
    set.add(tracked);
    trackedConnections++;
    const untrack = () => {
      if (!set.delete(tracked)) return;
      trackedConnections--;
      if (set.size === 0 && conns.get(key) === set) conns.delete(key);
    };
    if (socket.destroyed) untrack();
    else socket.once('close', untrack);
    return true;
  }

  // ---------------------------------------------------------------- failed logins
  const onAuthFailure = (e: AuthEvent) => {
    const ip = parseIp(e.remoteAddress);
    if (!ip || isExempt(ip)) return;
    const t = now();
    const windowMs = access.auth_failure_window_s * 1000;
    const account = e.account.toLowerCase().slice(0, 320);
    if (account) pushTime(accountFailures, account, t, windowMs, access.account_slow_after + 1000);
    const key = keyOf(ip);
    const times = pushTime(sourceFailures, key, t, windowMs, access.max_auth_failures);
    // The listener logs the failed login itself; this line is for following the count at debug level.
    log.debug({ event: 'access-auth-failure', protocol: e.protocol, listener: e.listener, remoteAddress: e.remoteAddress, account, recent: times.length }, 'failed login');
    if (times.length >= access.max_auth_failures) {
      sourceFailures.delete(key);
      autoBan(key, `${times.length} failed logins in ${access.auth_failure_window_s}s (last: ${e.protocol} ${account || '-'})`);
    }
  };
  events.on('auth-failure', onAuthFailure);

  function loginDelayMs(remoteAddress: string, account: string): number {
    const ip = parseIp(remoteAddress);
    if (ip && isExempt(ip)) return 0;
    const t = now();
    const windowMs = access.auth_failure_window_s * 1000;
    const fromSource = ip ? countRecent(sourceFailures, keyOf(ip), t, windowMs) : 0;
    const onAccount = countRecent(accountFailures, account.toLowerCase(), t, windowMs);
    const accountDelay = onAccount >= access.account_slow_after ? (onAccount - access.account_slow_after + 1) * access.account_delay_ms : 0;
    return Math.min(access.max_login_delay_ms, fromSource * access.source_delay_ms + accountDelay);
  }

  // ---------------------------------------------------------------- reload, status, admin
  async function reloadGeo(store: Store): Promise<(GeoStats & { source: GeoSource }) | null> {
    const buf = await store.secrets.get(GEOIP_SECRET);
    try {
      geo = buf ? GeoTable.deserialize(buf) : null;
    } catch (err) {
      // A damaged table must not stop the unlock (the bans and the mail matter more): keep what is loaded,
      // say so, and let the admin import again.
      if (!(err instanceof GeoDataError)) throw err;
      log.error({ event: 'geoip-unreadable', err: err.message, kept: geo !== null }, 'the stored GeoIP table is unreadable: run `mailstack geoip import` again');
    }
    const info = geoInfo();
    if (info) log.info({ event: 'geoip-loaded', ranges: info.v4Ranges + info.v6Ranges, countries: info.countries, files: info.source.files }, 'GeoIP table loaded');
    else if (Object.values(access.listeners).some((l) => l.allow_countries?.length) || access.client_countries.length > 0) {
      log.warn({ event: 'geoip-missing' }, 'country allow-lists are configured but no GeoIP database is imported: they are not enforced until `mailstack geoip import`');
    }
    return info;
  }
  const geoInfo = () => (geo ? { ...geo.stats(), source: geo.source } : null);

  async function reload() {
    const store = getStore();
    if (!store) throw new AccessError('locked', 'the store is locked: unlock first');
    while (pendingWrites.length > 0) await pendingWrites.shift()!();
    const t = now();
    const stored = await store.bans.list(t);
    const memoryOnly = [...bansExact.values(), ...bansRanges.values()].filter((e) => !stored.some((s) => s.target === e.ban.target));
    bansExact.clear();
    bansRanges.clear();
    for (const b of stored) if (!expired(b, t)) remember(b);
    for (const e of memoryOnly) if (!expired(e.ban, t)) remember(e.ban);
    const geoip = await reloadGeo(store);
    return { bans: bansExact.size + bansRanges.size, geoip };
  }

  function listBans(): Ban[] {
    const t = now();
    return [...bansExact.values(), ...bansRanges.values()]
      .map((e) => e.ban)
      .filter((b) => !expired(b, t))
      .sort((a, b) => a.createdAt - b.createdAt || a.target.localeCompare(b.target));
  }

  async function unban(targetText: string): Promise<boolean> {
    const target = normaliseTarget(targetText);
    if (!target) throw new AccessError('invalid', `"${targetText}" is not an address or network`);
    const inMemory = bansExact.has(target) || bansRanges.has(target);
    dropBan(target);
    let stored = false;
    await persist(async (s) => {
      stored = await s.bans.delete(target);
    });
    if (inMemory || stored) log.info({ event: 'access-unban', target }, `ban of ${target} removed`);
    return inMemory || stored;
  }

  async function flushBans(): Promise<number> {
    const n = bansExact.size + bansRanges.size;
    bansExact.clear();
    bansRanges.clear();
    let stored = 0;
    await persist(async (s) => {
      stored = await s.bans.flush();
    });
    log.info({ event: 'access-ban-flush', count: Math.max(n, stored) }, 'ban table flushed');
    return Math.max(n, stored);
  }

  function status(): AccessStatus {
    return { geoip: geoInfo(), bans: bansExact.size + bansRanges.size, trackedConnections, trackedSources: conns.size };
  }

  const param = (params: unknown, name: string): unknown => (params && typeof params === 'object' ? (params as Record<string, unknown>)[name] : undefined);
  const requireString = (params: unknown, name: string): string => {
    const v = param(params, name);
    if (typeof v !== 'string' || v === '') throw new AccessError('invalid', `missing parameter "${name}"`);
    return v;
  };

  const adminHandlers: Record<string, (params: unknown) => Promise<unknown>> = {
    'ban.list': async () => listBans(),
    'ban.add': async (params) => {
      const duration = param(params, 'durationMs');
      const reason = param(params, 'reason');
      return ban(requireString(params, 'target'), typeof reason === 'string' && reason ? reason : 'banned by the admin', typeof duration === 'number' ? duration : undefined);
    },
    'ban.del': async (params) => unban(requireString(params, 'target')),
    'ban.flush': async () => flushBans(),
    'geoip.reload': async () => {
      const store = getStore();
      if (!store) throw new AccessError('locked', 'the store is locked: unlock first');
      return reloadGeo(store);
    },
    'geoip.lookup': async (params) => {
      const address = requireString(params, 'address');
      return { address, country: geo ? geo.lookupText(address) : null, loaded: geo !== null };
    },
    'access.status': async () => status(),
  };

  return {
    admit,
    loginDelayMs,
    reload,
    ban,
    unban,
    flushBans,
    listBans,
    setGeoTable: (table) => {
      geo = table;
    },
    country: (address) => (geo ? geo.lookupText(address) : null),
    policy,
    status,
    async close() {
      clearInterval(sweepTimer);
      events.off('auth-failure', onAuthFailure);
      rollLogWindow(now() + 60_000);
      await writeChain;
    },
    adminHandlers,
  };
}
