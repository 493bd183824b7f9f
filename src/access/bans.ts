// Ban-table rules shared by the running guard and the offline CLI (`mailstack ban` on a stopped server):
// what a valid target is, which networks are never banned, and how long a ban lasts.
import type { AccessConfig } from '../config/sections/access.ts';
import type { Ban } from '../store/types.ts';
import { cidrCovers, normaliseTarget, parseCidr, type Cidr } from './ip.ts';
import { parseNetworks } from './policy.ts';

export type AccessErrorCode = 'invalid' | 'exempt' | 'not_found' | 'locked';

export class AccessError extends Error {
  constructor(
    readonly code: AccessErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'AccessError';
  }
}

/** admin_networks, plus loopback unless exempt_loopback is false. */
export function exemptNetworks(access: AccessConfig): Cidr[] {
  const exempt = parseNetworks(access.admin_networks, '[access] admin_networks');
  if (access.exempt_loopback) exempt.push(parseCidr('127.0.0.0/8')!, parseCidr('::1/128')!);
  return exempt;
}

/** Canonical target and its network; refuses garbage and anything inside an exempt network. */
export function checkBanTarget(exempt: readonly Cidr[], target: string): { target: string; cidr: Cidr } {
  const canonical = normaliseTarget(target);
  const cidr = canonical ? parseCidr(canonical) : null;
  if (!canonical || !cidr) throw new AccessError('invalid', `"${target}" is not an address or network (like 192.0.2.7, 192.0.2.0/24 or 2001:db8::/48)`);
  const inside = exempt.find((e) => cidrCovers(e, cidr));
  if (inside) throw new AccessError('exempt', `${canonical} is in an admin network (${inside.text}): it is never banned (see [access] admin_networks and exempt_loopback)`);
  return { target: canonical, cidr };
}

/** Length of the count-th ban of a source: ban_s, times ban_growth for each earlier ban, at most max_ban_s. */
export function banDurationMs(access: AccessConfig, count: number): number {
  return Math.min(access.max_ban_s, access.ban_s * access.ban_growth ** Math.max(0, count - 1)) * 1000;
}

/** The ban record for a new ban of `target`, given its earlier one (expired ones count). durationMs 0 = never
 * expires; undefined = the growing default. */
export function newBan(access: AccessConfig, target: string, reason: string, earlier: Ban | null, now: number, durationMs?: number): Ban {
  const count = (earlier?.count ?? 0) + 1;
  const duration = durationMs ?? banDurationMs(access, count);
  return { target, reason, createdAt: now, expiresAt: duration === 0 ? 0 : now + duration, count };
}

/** "90s", "10m", "1h", "2d", "1w", a plain number of seconds, or "0"/"never"/"forever" (= 0, no expiry). */
export function parseDuration(text: string): number | null {
  const t = text.trim().toLowerCase();
  if (t === 'never' || t === 'forever' || t === 'permanent') return 0;
  const m = /^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)?$/.exec(t);
  if (!m) return null;
  const unit = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[(m[2] ?? 's') as 's' | 'm' | 'h' | 'd' | 'w'];
  return Math.round(Number(m[1]) * unit * 1000);
}
