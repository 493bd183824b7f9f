// Per-listener policy, resolved once from the [access] config: which countries and networks may connect,
// the connection limits, and whether the ban table applies.
import type { AccessConfig, ListenerAccessConfig } from '../config/sections/access.ts';
import { countryIndex } from './geoip.ts';
import { parseCidr, type Cidr } from './ip.ts';

export interface ListenerPolicy {
  listener: string;
  /** Open to the world by default (port 25): no default country list, bans not applied by default. */
  open: boolean;
  allowCountries: ReadonlySet<number>;
  denyCountries: ReadonlySet<number>;
  allowCidrs: readonly Cidr[];
  denyCidrs: readonly Cidr[];
  /** 0 = no limit. */
  maxConnectionsPerSource: number;
  /** 0 = no limit. */
  maxNewConnections: number;
  rateIntervalMs: number;
  applyBans: boolean;
}

/** Concurrent connections per source on an open listener unless configured: Postfix's
 * smtpd_client_connection_count_limit default. */
const OPEN_LISTENER_MAX_CONNECTIONS = 50;

export class AccessConfigError extends Error {
  readonly code = 'CONFIG';
  constructor(message: string) {
    super(message);
    this.name = 'AccessConfigError';
  }
}

export function parseNetworks(list: readonly string[], where: string): Cidr[] {
  return list.map((text) => {
    const c = parseCidr(text);
    if (!c) throw new AccessConfigError(`${where}: "${text}" is not an address or CIDR (like 192.0.2.0/24 or 2001:db8::/32)`);
    return c;
  });
}

function countries(list: readonly string[]): Set<number> {
  return new Set(list.map(countryIndex).filter((i) => i !== 0));
}

/** Names a listener's config may be found under, most specific first: "submission_tls" -> submission,
 * "imaps" -> imap (the implicit-TLS twin shares its plain listener's policy unless it has its own table). */
export function listenerAliases(listener: string): string[] {
  const names = [listener];
  const base = listener.split(/[_-]/, 1)[0]!;
  if (base !== listener && base !== '') names.push(base);
  if (/^(imaps|submissions|smtps|pop3s|managesieves)$/.test(base)) names.push(base.slice(0, -1));
  return names;
}

/** The table for a listener: [access.listeners.NAME], else the one of a name it is an alias of. */
export function listenerTable(access: AccessConfig, listener: string): ListenerAccessConfig | undefined {
  for (const name of listenerAliases(listener)) {
    const t = access.listeners[name];
    if (t) return t;
  }
  return undefined;
}

export function isOpenListener(access: AccessConfig, listener: string): boolean {
  return listenerAliases(listener).some((n) => access.open_listeners.includes(n));
}

export function resolvePolicy(access: AccessConfig, listener: string): ListenerPolicy {
  const t = listenerTable(access, listener);
  const open = isOpenListener(access, listener);
  const where = `[access.listeners.${listener}]`;
  return {
    listener,
    open,
    allowCountries: countries(t?.allow_countries ?? (open ? [] : access.client_countries)),
    denyCountries: countries(t?.deny_countries ?? []),
    allowCidrs: parseNetworks(t?.allow_cidrs ?? [], `${where} allow_cidrs`),
    denyCidrs: parseNetworks(t?.deny_cidrs ?? [], `${where} deny_cidrs`),
    maxConnectionsPerSource: t?.max_connections_per_source ?? (open ? OPEN_LISTENER_MAX_CONNECTIONS : access.max_connections_per_source),
    maxNewConnections: t?.max_new_connections ?? (open ? 0 : access.max_new_connections),
    rateIntervalMs: (t?.rate_interval_s ?? access.rate_interval_s) * 1000,
    applyBans: t?.apply_bans ?? !open,
  };
}
