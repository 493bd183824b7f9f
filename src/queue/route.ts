// Where mail for a domain goes: MX lookup (RFC 5321 5.1) with the implicit MX fallback, the null MX of
// RFC 7505, random order among equal preferences, and each host's IPv4/IPv6 addresses.
import { isIP } from 'node:net';
import { DnsError, type Resolver } from '../dns/index.ts';

export interface MxHost {
  /** Host name (for TLS SNI and certificate checks) or the address of an address literal. */
  name: string;
  priority: number;
  addresses: string[];
}

export type Route =
  | { kind: 'hosts'; hosts: MxHost[] }
  | { kind: 'permanent' | 'temporary'; status: string; message: string };

export interface RouteOptions {
  allowInternal: boolean;
  preferIpv6: boolean;
}

/** Loopback, private, link-local, CGNAT and unspecified addresses: not places an Internet MX lives. */
export function isInternalAddress(ip: string): boolean {
  const v4 = /^(?:::ffff:)?(\d+)\.(\d+)\.(\d+)\.(\d+)$/i.exec(ip);
  if (v4) {
    const [a, b] = [Number(v4[1]), Number(v4[2])];
    return a === 0 || a === 10 || a === 127 || (a === 169 && b === 254) || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127);
  }
  const lower = ip.toLowerCase();
  return lower === '::' || lower === '::1' || /^f[cd]/.test(lower) || /^fe[89ab]/.test(lower);
}

function shuffleEqualPriorities<T extends { priority: number }>(list: T[]): T[] {
  // RFC 5321 5.1: hosts of the same preference are tried in random order to spread the load.
  const withKey = list.map((item) => ({ item, key: Math.random() }));
  withKey.sort((x, y) => x.item.priority - y.item.priority || x.key - y.key);
  return withKey.map((x) => x.item);
}

async function addressesOf(resolver: Resolver, host: string, preferIpv6: boolean): Promise<{ addresses: string[]; temporary: boolean }> {
  const [v4, v6] = await Promise.allSettled([resolver.a(host), resolver.aaaa(host)]);
  const got = (r: PromiseSettledResult<string[]>) => (r.status === 'fulfilled' ? r.value : []);
  const temporary = [v4, v6].some((r) => r.status === 'rejected' && (!(r.reason instanceof DnsError) || r.reason.temporary));
  const addresses = preferIpv6 ? [...got(v6), ...got(v4)] : [...got(v4), ...got(v6)];
  return { addresses, temporary };
}

export async function findRoute(resolver: Resolver, domain: string, options: RouteOptions): Promise<Route> {
  // RFC 5321 4.1.3: an address literal names the host directly.
  const literal = /^\[(?:ipv6:)?([0-9a-f:.]+)\]$/i.exec(domain);
  if (literal) {
    const ip = literal[1]!;
    if (!isIP(ip)) return { kind: 'permanent', status: '5.1.2', message: `bad address literal ${domain}` };
    if (!options.allowInternal && isInternalAddress(ip)) return { kind: 'permanent', status: '5.4.4', message: `${domain} is an internal address` };
    return { kind: 'hosts', hosts: [{ name: ip, priority: 0, addresses: [ip] }] };
  }

  let mx: { exchange: string; priority: number }[];
  try {
    mx = await resolver.mx(domain);
  } catch (err) {
    if (err instanceof DnsError && !err.temporary) return { kind: 'permanent', status: '5.1.2', message: `Host or domain name not found: ${domain} (${err.code})` };
    return { kind: 'temporary', status: '4.4.3', message: `DNS lookup of MX for ${domain} failed: ${(err as Error).message}` };
  }
  // RFC 7505 3: a single MX "0 ." says the domain accepts no mail.
  if (mx.some((m) => m.exchange === '' || m.exchange === '.')) {
    return { kind: 'permanent', status: '5.1.10', message: `${domain} does not accept mail (null MX, RFC 7505)` };
  }
  // RFC 5321 5.1: no MX at all: the domain itself is the implicit MX.
  const implicit = mx.length === 0;
  const candidates = implicit ? [{ exchange: domain, priority: 0 }] : shuffleEqualPriorities(mx);

  const hosts: MxHost[] = [];
  let temporary = false;
  let internalOnly = false;
  const resolved = await Promise.all(candidates.map((c) => addressesOf(resolver, c.exchange, options.preferIpv6)));
  candidates.forEach((c, i) => {
    const r = resolved[i]!;
    temporary ||= r.temporary;
    const usable = options.allowInternal ? r.addresses : r.addresses.filter((a) => !isInternalAddress(a));
    if (usable.length < r.addresses.length && usable.length === 0) internalOnly = true;
    if (usable.length > 0) hosts.push({ name: c.exchange, priority: c.priority, addresses: usable });
  });
  if (hosts.length > 0) return { kind: 'hosts', hosts };
  if (temporary) return { kind: 'temporary', status: '4.4.3', message: `DNS lookup of the mail hosts of ${domain} failed temporarily` };
  if (internalOnly) return { kind: 'permanent', status: '5.4.4', message: `the mail hosts of ${domain} have only internal addresses` };
  return implicit
    ? { kind: 'permanent', status: '5.1.2', message: `${domain} has no MX and no address` }
    : { kind: 'permanent', status: '5.4.4', message: `no mail host of ${domain} has an address` };
}
