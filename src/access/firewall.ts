// Exports the access policy for the host firewall: the allow-lists (countries resolved to networks through the
// GeoIP table, plus allow_cidrs), the deny-lists and the ban table, as PF tables or nftables sets. Adjacent
// ranges are merged before they become CIDRs, so the output is the smallest exact cover; the whole export
// works from the in-memory range table and is cheap enough for a timer.
import type { AccessConfig } from '../config/sections/access.ts';
import type { Ban } from '../store/types.ts';
import { countryCode, v4RangeToCidrs, v6RangeToCidrs, type GeoTable } from './geoip.ts';
import type { Cidr } from './ip.ts';
import { isOpenListener, resolvePolicy } from './policy.ts';

export type FirewallFormat = 'pf' | 'nftables';

export interface FirewallTable {
  /** e.g. "mailstack_clients", "mailstack_imap_allow", "mailstack_bans". */
  name: string;
  comment: string;
  v4: string[];
  v6: string[];
  /** Per-entry timeout in seconds (bans), parallel to v4/v6; undefined = permanent. */
  v4Timeouts?: (number | undefined)[];
  v6Timeouts?: (number | undefined)[];
}

export interface FirewallExportInput {
  access: AccessConfig;
  geo: GeoTable | null;
  bans: readonly Ban[];
  now: number;
}

/** Elements per `add element` statement: keeps nft input lines to a few tens of kilobytes. */
const NFT_ELEMENTS_PER_STATEMENT = 1000;

function cidrRange4(c: Cidr): [number, number] {
  const start = (c.start as { v4: number }).v4;
  return [start, start + 2 ** (32 - c.prefix) - 1];
}

function cidrRange6(c: Cidr): [bigint, bigint] {
  const w = (c.start as { v6: number[] }).v6;
  const start = (BigInt(w[0]!) << 96n) | (BigInt(w[1]!) << 64n) | (BigInt(w[2]!) << 32n) | BigInt(w[3]!);
  return [start, start + (1n << BigInt(128 - c.prefix)) - 1n];
}

function mergeRanges<T extends number | bigint>(ranges: [T, T][], one: T): [T, T][] {
  ranges.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const out: [T, T][] = [];
  for (const r of ranges) {
    const prev = out[out.length - 1];
    // Overlapping or adjacent (prev.last + 1 >= r.first) ranges merge.
    if (prev && (prev[1] as number) + (one as number) >= (r[0] as number)) {
      if (r[1] > prev[1]) prev[1] = r[1];
    } else out.push([r[0], r[1]]);
  }
  return out;
}

/** The smallest CIDR list covering the given countries (via the GeoIP table) and networks. */
export function networksFor(geo: GeoTable | null, countries: ReadonlySet<number>, cidrs: readonly Cidr[]): { v4: string[]; v6: string[] } {
  const r4: [number, number][] = geo && countries.size > 0 ? geo.v4RangesFor(countries) : [];
  const r6: [bigint, bigint][] = geo && countries.size > 0 ? geo.v6RangesFor(countries) : [];
  for (const c of cidrs) {
    if (c.family === 4) r4.push(cidrRange4(c));
    else r6.push(cidrRange6(c));
  }
  const v4: string[] = [];
  for (const [a, b] of mergeRanges(r4, 1)) v4RangeToCidrs(a, b, v4);
  const v6: string[] = [];
  for (const [a, b] of mergeRanges(r6, 1n)) v6RangeToCidrs(a, b, v6);
  return { v4, v6 };
}

/** Tables of the policy: one allow table for client listeners without their own table ("clients"), one per
 * configured listener with an allow-list or deny-list, and the ban table. */
export function firewallTables(input: FirewallExportInput): FirewallTable[] {
  const { access, geo, bans, now } = input;
  const tables: FirewallTable[] = [];
  const names = (set: ReadonlySet<number>) => [...set].map(countryCode).filter(Boolean).join(' ');
  const clients = resolvePolicy(access, '__clients__');
  if (clients.allowCountries.size > 0) {
    tables.push({ name: 'mailstack_clients', comment: `client listeners: ${names(clients.allowCountries)}`, ...networksFor(geo, clients.allowCountries, []) });
  }
  for (const listener of Object.keys(access.listeners).sort()) {
    const p = resolvePolicy(access, listener);
    const safe = listener.replace(/[^A-Za-z0-9_]/g, '_');
    if (p.allowCountries.size > 0 || p.allowCidrs.length > 0) {
      const what = [names(p.allowCountries), ...p.allowCidrs.map((c) => c.text)].filter(Boolean).join(' ');
      tables.push({ name: `mailstack_${safe}_allow`, comment: `${listener}${isOpenListener(access, listener) ? ' (open listener)' : ''} allows: ${what}`, ...networksFor(geo, p.allowCountries, p.allowCidrs) });
    }
    if (p.denyCountries.size > 0 || p.denyCidrs.length > 0) {
      const what = [names(p.denyCountries), ...p.denyCidrs.map((c) => c.text)].filter(Boolean).join(' ');
      tables.push({ name: `mailstack_${safe}_deny`, comment: `${listener} denies: ${what}`, ...networksFor(geo, p.denyCountries, p.denyCidrs) });
    }
  }
  const banTable: FirewallTable = { name: 'mailstack_bans', comment: 'the ban table (failed logins, connection rate, `mailstack ban add`)', v4: [], v6: [], v4Timeouts: [], v6Timeouts: [] };
  for (const b of bans) {
    if (b.expiresAt !== 0 && b.expiresAt <= now) continue;
    const timeout = b.expiresAt === 0 ? undefined : Math.max(1, Math.ceil((b.expiresAt - now) / 1000));
    if (b.target.includes(':')) {
      banTable.v6.push(b.target);
      banTable.v6Timeouts!.push(timeout);
    } else {
      banTable.v4.push(b.target);
      banTable.v4Timeouts!.push(timeout);
    }
  }
  tables.push(banTable);
  return tables;
}

function header(input: FirewallExportInput, comment: string): string[] {
  const lines = [`${comment} Generated by \`mailstack firewall export\` at ${new Date(input.now).toISOString()}.`];
  if (input.geo) {
    const s = input.geo.source;
    lines.push(`${comment} GeoIP: ${s.files.join(', ')} (imported ${new Date(s.importedAt).toISOString()}).`);
  } else {
    lines.push(`${comment} No GeoIP database is imported: country lists are left out (only configured networks appear).`);
  }
  return lines;
}

/** Renders every table. For PF: a pf.conf fragment (`include` it), or with `table` one table as a plain
 * table file for `pfctl -t NAME -T replace -f FILE`. For nftables: an `nft -f` script that (re)fills sets
 * in table inet mailstack, atomically, so it can run on a timer. */
export function exportFirewall(input: FirewallExportInput, format: FirewallFormat, table?: string): string {
  const tables = firewallTables(input);
  if (table !== undefined) {
    const t = tables.find((x) => x.name === table || x.name === `mailstack_${table}`);
    if (!t) throw Object.assign(new Error(`no table "${table}": the export has ${tables.map((x) => x.name).join(', ')}`), { code: 'invalid' });
    if (format === 'pf') return [...header(input, '#'), `# ${t.comment}`, ...t.v4, ...t.v6, ''].join('\n');
    return renderNft(input, [t]);
  }
  return format === 'pf' ? renderPf(input, tables) : renderNft(input, tables);
}

function renderPf(input: FirewallExportInput, tables: FirewallTable[]): string {
  const out = header(input, '#');
  out.push(
    '# Suggested rules (ports as in your listeners):',
    '#   block quick from <mailstack_bans>',
    '#   pass in proto tcp from <mailstack_clients> to port { 143, 465, 587, 993, 4190 }',
    '#   pass in proto tcp from any to port 25',
  );
  for (const t of tables) {
    out.push('', `# ${t.comment}: ${t.v4.length} IPv4 and ${t.v6.length} IPv6 networks`);
    const all = [...t.v4, ...t.v6];
    if (all.length === 0) {
      out.push(`table <${t.name}> persist`);
      continue;
    }
    out.push(`table <${t.name}> persist { \\`);
    for (let i = 0; i < all.length; i++) out.push(`  ${all[i]}${i + 1 < all.length ? ', \\' : ' }'}`);
  }
  out.push('');
  return out.join('\n');
}

function renderNft(input: FirewallExportInput, tables: FirewallTable[]): string {
  const out = ['#!/usr/sbin/nft -f', ...header(input, '#')];
  out.push(
    '# Suggested rules, in your own chain:',
    '#   ip saddr @mailstack_bans_v4 drop',
    '#   tcp dport { 143, 465, 587, 993, 4190 } ip saddr != @mailstack_clients_v4 drop',
    'add table inet mailstack',
  );
  for (const t of tables) {
    const timed = t.v4Timeouts !== undefined;
    for (const [family, list, timeouts] of [
      ['v4', t.v4, t.v4Timeouts],
      ['v6', t.v6, t.v6Timeouts],
    ] as const) {
      const set = `${t.name}_${family}`;
      out.push('', `# ${t.comment} (${family === 'v4' ? 'IPv4' : 'IPv6'}): ${list.length} networks`);
      out.push(`add set inet mailstack ${set} { type ${family === 'v4' ? 'ipv4_addr' : 'ipv6_addr'}; flags interval${timed ? ', timeout' : ''}; }`);
      out.push(`flush set inet mailstack ${set}`);
      for (let i = 0; i < list.length; i += NFT_ELEMENTS_PER_STATEMENT) {
        const chunk = list.slice(i, i + NFT_ELEMENTS_PER_STATEMENT).map((e, k) => {
          const to = timeouts?.[i + k];
          return to === undefined ? e : `${e} timeout ${to}s`;
        });
        out.push(`add element inet mailstack ${set} { ${chunk.join(', ')} }`);
      }
    }
  }
  out.push('');
  return out.join('\n');
}
