// IP addresses and CIDR ranges as plain numbers, for the per-accept checks and the GeoIP table.
// IPv4 is one uint32; IPv6 is four uint32 words, most significant first. No BigInt on the hot path: a
// lookup compares at most four words. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d, RFC 4291 2.5.5.2) are
// normalised to IPv4 everywhere, because a dual-stack listener reports IPv4 clients that way.

export type IpAddress = { family: 4; v4: number } | { family: 6; v6: Words };
/** Four uint32 words of an IPv6 address, most significant first. */
export type Words = [number, number, number, number];

export interface Cidr {
  family: 4 | 6;
  /** First address of the network (host bits cleared). */
  start: IpAddress;
  prefix: number;
  /** Canonical text, e.g. "192.0.2.0/24" or "2001:db8::/32". */
  text: string;
}

function parseV4(s: string): number | null {
  let value = 0;
  let part = 0;
  let digits = 0;
  let parts = 0;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 46;
    if (c === 46) {
      // '.'
      if (digits === 0 || part > 255) return null;
      value = value * 256 + part;
      parts++;
      part = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      // Leading zeros are refused: "010" means octal to some tools and decimal to others.
      if (digits > 0 && part === 0) return null;
      part = part * 10 + (c - 48);
      if (++digits > 3) return null;
    } else {
      return null;
    }
  }
  return parts === 4 ? value >>> 0 : null;
}

/** Scratch for parseV6's groups: one pass, no intermediate strings or arrays (this runs at every accept). */
const groups = new Uint32Array(8);

function parseV6(s: string): Words | null {
  let end = s.indexOf('%'); // a zone id ("fe80::1%eth0") does not change the address
  if (end < 0) end = s.length;
  if (end < 2 || end > 45) return null;
  let n = 0; // groups so far
  let gap = -1; // group index where "::" stands
  let i = 0;
  if (s.charCodeAt(0) === 58) {
    if (s.charCodeAt(1) !== 58) return null;
    gap = 0;
    i = 2;
    if (i === end) return finishV6(n, gap);
  }
  for (;;) {
    // One group: 1-4 hex digits, or a dotted IPv4 tail (RFC 4291 2.2 form 3).
    const groupStart = i;
    let value = 0;
    let digits = 0;
    while (i < end) {
      const c = s.charCodeAt(i);
      let d: number;
      if (c >= 48 && c <= 57) d = c - 48;
      else if (c >= 97 && c <= 102) d = c - 87;
      else if (c >= 65 && c <= 70) d = c - 55;
      else break;
      value = value * 16 + d;
      digits++;
      i++;
    }
    if (i < end && s.charCodeAt(i) === 46) {
      if (n > 6) return null;
      const v4 = parseV4(s.slice(groupStart, end));
      if (v4 === null) return null;
      groups[n++] = v4 >>> 16;
      groups[n++] = v4 & 0xffff;
      return finishV6(n, gap);
    }
    if (digits === 0 || digits > 4 || n >= 8) return null;
    groups[n++] = value;
    if (i === end) return finishV6(n, gap);
    if (s.charCodeAt(i) !== 58) return null;
    i++;
    if (s.charCodeAt(i) === 58) {
      if (gap >= 0) return null;
      gap = n;
      i++;
      if (i === end) return finishV6(n, gap);
    } else if (i === end) {
      return null; // a trailing single ':'
    }
  }
}

function finishV6(n: number, gap: number): Words | null {
  if (gap < 0 ? n !== 8 : n > 7) return null;
  const g = [0, 0, 0, 0, 0, 0, 0, 0];
  if (gap < 0) for (let k = 0; k < 8; k++) g[k] = groups[k]!;
  else {
    for (let k = 0; k < gap; k++) g[k] = groups[k]!;
    const tail = n - gap;
    for (let k = 0; k < tail; k++) g[8 - tail + k] = groups[gap + k]!;
  }
  return [((g[0]! << 16) | g[1]!) >>> 0, ((g[2]! << 16) | g[3]!) >>> 0, ((g[4]! << 16) | g[5]!) >>> 0, ((g[6]! << 16) | g[7]!) >>> 0];
}

/** Parses an IPv4 or IPv6 address; IPv4-mapped IPv6 becomes IPv4. Null when it is not an address. */
export function parseIp(text: string): IpAddress | null {
  if (text.includes(':')) {
    const w = parseV6(text);
    if (!w) return null;
    if (w[0] === 0 && w[1] === 0 && w[2] === 0xffff) return { family: 4, v4: w[3] };
    return { family: 6, v6: w };
  }
  const v4 = parseV4(text);
  return v4 === null ? null : { family: 4, v4 };
}

export function formatV4(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** RFC 5952 canonical text: lower case, longest run of zero groups (at least two) shortened to "::". */
export function formatV6(w: Readonly<Words>): string {
  const g: number[] = [];
  for (const word of w) g.push(word >>> 16, word & 0xffff);
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (a: number[]) => a.map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(g);
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
}

export function formatIp(ip: IpAddress): string {
  return ip.family === 4 ? formatV4(ip.v4) : formatV6(ip.v6);
}

/** Canonical text of an address (IPv4-mapped shown as IPv4), or null when it is not one. */
export function normaliseIp(text: string): string | null {
  const ip = parseIp(text);
  return ip ? formatIp(ip) : null;
}

function maskV4(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

function maskWord(prefix: number, wordIndex: number): number {
  const bits = Math.min(32, Math.max(0, prefix - wordIndex * 32));
  return maskV4(bits);
}

/** Parses "a.b.c.d/n", "x::/n" or a bare address (a /32 or /128). Host bits are cleared. Null if invalid. */
export function parseCidr(text: string): Cidr | null {
  const slash = text.indexOf('/');
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const ip = parseIp(addrText.trim());
  if (!ip) return null;
  const mappedFromV6 = ip.family === 4 && addrText.includes(':');
  let prefix: number;
  if (slash < 0) prefix = ip.family === 4 ? 32 : 128;
  else {
    const p = text.slice(slash + 1).trim();
    if (!/^\d{1,3}$/.test(p)) return null;
    prefix = Number(p);
    // "::ffff:192.0.2.0/120" is an IPv4 /24.
    if (mappedFromV6) {
      if (prefix < 96) return null;
      prefix -= 96;
    }
  }
  if (ip.family === 4) {
    if (prefix > 32) return null;
    const start: IpAddress = { family: 4, v4: (ip.v4 & maskV4(prefix)) >>> 0 };
    return { family: 4, start, prefix, text: `${formatV4(start.v4)}/${prefix}` };
  }
  if (prefix > 128) return null;
  const w: Words = [0, 0, 0, 0];
  for (let i = 0; i < 4; i++) w[i] = (ip.v6[i]! & maskWord(prefix, i)) >>> 0;
  return { family: 6, start: { family: 6, v6: w }, prefix, text: `${formatV6(w)}/${prefix}` };
}

/** Does the network contain the address? */
export function cidrContains(cidr: Cidr, ip: IpAddress): boolean {
  if (cidr.family !== ip.family) return false;
  if (ip.family === 4) {
    const start = cidr.start as { family: 4; v4: number };
    return ((ip.v4 & maskV4(cidr.prefix)) >>> 0) === start.v4;
  }
  const start = cidr.start as { family: 6; v6: Words };
  for (let i = 0; i < 4; i++) {
    const m = maskWord(cidr.prefix, i);
    if (m === 0) return true;
    if (((ip.v6[i]! & m) >>> 0) !== start.v6[i]) return false;
  }
  return true;
}

/** Does network `outer` contain all of network `inner`? */
export function cidrCovers(outer: Cidr, inner: Cidr): boolean {
  return outer.family === inner.family && outer.prefix <= inner.prefix && cidrContains(outer, inner.start);
}

/** Do two networks share any address? */
export function cidrOverlaps(a: Cidr, b: Cidr): boolean {
  return cidrCovers(a, b) || cidrCovers(b, a);
}

/** The network an address belongs to when counting or banning "a source": the address itself for IPv4,
 * its /`v6Prefix` for IPv6, because one IPv6 host usually owns a whole /64 and can hop inside it. */
export function sourceNetwork(ip: IpAddress, v6Prefix: number): Cidr {
  if (ip.family === 4) return { family: 4, start: ip, prefix: 32, text: formatV4(ip.v4) };
  const w: Words = [0, 0, 0, 0];
  for (let i = 0; i < 4; i++) w[i] = (ip.v6[i]! & maskWord(v6Prefix, i)) >>> 0;
  const text = v6Prefix === 128 ? formatV6(w) : `${formatV6(w)}/${v6Prefix}`;
  return { family: 6, start: { family: 6, v6: w }, prefix: v6Prefix, text };
}

export function isLoopback(ip: IpAddress): boolean {
  if (ip.family === 4) return ip.v4 >>> 24 === 127;
  return ip.v6[0] === 0 && ip.v6[1] === 0 && ip.v6[2] === 0 && ip.v6[3] === 1;
}

/** Canonical text of a ban target (an address or a network); null when it is neither. */
export function normaliseTarget(text: string): string | null {
  const c = parseCidr(text.trim());
  if (!c) return null;
  if ((c.family === 4 && c.prefix === 32) || (c.family === 6 && c.prefix === 128)) return formatIp(c.start);
  return c.text;
}
