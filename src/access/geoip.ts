// The GeoIP lookup table: every address range of the imported database, merged and stored as a partition
// of the address space in sorted typed arrays (range starts + a country per range), searched by binary
// search. IPv4 starts are uint32; IPv6 starts are four uint32 words each, compared word by word, so a
// lookup allocates nothing and needs no BigInt. The whole table serialises to one compact buffer that is
// kept in the vault (store.secrets) so that it survives restarts.
import { endianness } from 'node:os';
import type { IpAddress, Words } from './ip.ts';
import { parseIp, formatV4, formatV6 } from './ip.ts';

/** Country index 0 means "no country known". Others: (c1 - 'A') * 26 + (c2 - 'A') + 1 for an ISO 3166 code. */
export function countryIndex(code: string): number {
  if (code.length !== 2) return 0;
  const a = code.charCodeAt(0) & ~32;
  const b = code.charCodeAt(1) & ~32;
  if (a < 65 || a > 90 || b < 65 || b > 90) return 0;
  return (a - 65) * 26 + (b - 65) + 1;
}

export function countryCode(index: number): string | null {
  if (index <= 0 || index > 26 * 26) return null;
  const i = index - 1;
  return String.fromCharCode(65 + Math.floor(i / 26), 65 + (i % 26));
}

export interface GeoSource {
  /** What was imported, e.g. ["GeoLite2-Country-Blocks-IPv4.csv", ...] (base names). */
  files: string[];
  format: 'maxmind-csv' | 'mmdb' | 'range-csv' | 'mixed';
  /** Ranges read from the input (before merging). */
  rangesRead: number;
  importedAt: number;
  /** Database build time when the input says it (mmdb metadata), ms since epoch. */
  builtAt?: number;
}

export interface GeoStats {
  v4Ranges: number;
  v6Ranges: number;
  countries: number;
  bytes: number;
}

const MAGIC = Buffer.from('MSGEOIP1', 'latin1');
/** magic, IPv4 count, IPv6 count, IPv6 stride, metadata length. */
const HEADER_BYTES = 24;

export class GeoTable {
  constructor(
    private readonly v4Starts: Uint32Array,
    private readonly v4Cc: Uint16Array,
    /** `v6Stride` words per entry: 4, or 2 when every range starts on a /64 boundary (true of GeoLite2), so
     * that only the upper 64 bits are kept and compared. */
    private readonly v6Starts: Uint32Array,
    private readonly v6Cc: Uint16Array,
    readonly source: GeoSource,
    private readonly v6Stride: 2 | 4 = 4,
  ) {
    this.v4Index = buildIndex(v4Cc.length, (i) => v4Starts[i]! >>> 16);
    this.v6Index = buildIndex(v6Cc.length, (i) => v6Starts[i * v6Stride]! >>> 16);
  }

  /** First-level index by the top 16 bits: entry i of the index is the number of ranges that start below
   * block i, so a lookup binary-searches only the ranges starting in its block (plus the one before). That
   * turns ~19 cache-missing steps into a handful; it costs 2 x 256 KiB. */
  private readonly v4Index: Uint32Array;
  private readonly v6Index: Uint32Array;

  /** Country index of an IPv4 address (uint32). */
  lookupV4(ip: number): number {
    const starts = this.v4Starts;
    const block = ip >>> 16;
    // The answer is the last range starting at or below ip: one of the ranges starting in ip's block, or
    // else the last one starting before the block (lo), or none (lo = -1).
    let lo = this.v4Index[block]! - 1;
    let hi = this.v4Index[block + 1]! - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (starts[mid]! <= ip) lo = mid;
      else hi = mid - 1;
    }
    return lo < 0 ? 0 : this.v4Cc[lo]!;
  }

  /** Country index of an IPv6 address. */
  lookupV6(w: Readonly<Words>): number {
    const s = this.v6Starts;
    const stride = this.v6Stride;
    const block = w[0] >>> 16;
    let lo = this.v6Index[block]! - 1;
    let hi = this.v6Index[block + 1]! - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (compareAt(s, mid * stride, w, stride) <= 0) lo = mid;
      else hi = mid - 1;
    }
    return lo < 0 ? 0 : this.v6Cc[lo]!;
  }

  lookup(ip: IpAddress): string | null {
    return countryCode(ip.family === 4 ? this.lookupV4(ip.v4) : this.lookupV6(ip.v6));
  }

  /** Country code of an address in text form (IPv4-mapped IPv6 is looked up as IPv4). */
  lookupText(address: string): string | null {
    const ip = parseIp(address);
    return ip ? this.lookup(ip) : null;
  }

  stats(): GeoStats {
    const seen = new Set<number>();
    for (const c of this.v4Cc) seen.add(c);
    for (const c of this.v6Cc) seen.add(c);
    seen.delete(0);
    return {
      v4Ranges: this.v4Cc.length,
      v6Ranges: this.v6Cc.length,
      countries: seen.size,
      bytes: this.v4Starts.byteLength + this.v4Cc.byteLength + this.v6Starts.byteLength + this.v6Cc.byteLength,
    };
  }

  /** IPv4 ranges [first, last] whose country is in `countries`, adjacent ones merged, ascending. */
  v4RangesFor(countries: ReadonlySet<number>): [number, number][] {
    const out: [number, number][] = [];
    const n = this.v4Cc.length;
    for (let i = 0; i < n; i++) {
      if (!countries.has(this.v4Cc[i]!)) continue;
      const first = this.v4Starts[i]!;
      const last = i + 1 < n ? this.v4Starts[i + 1]! - 1 : 0xffffffff;
      const prev = out[out.length - 1];
      if (prev && prev[1] + 1 === first) prev[1] = last;
      else out.push([first, last]);
    }
    return out;
  }

  /** IPv6 ranges [first, last] as BigInt (export only, not the hot path), merged, ascending. */
  v6RangesFor(countries: ReadonlySet<number>): [bigint, bigint][] {
    const out: [bigint, bigint][] = [];
    const n = this.v6Cc.length;
    const MAX = (1n << 128n) - 1n;
    for (let i = 0; i < n; i++) {
      if (!countries.has(this.v6Cc[i]!)) continue;
      const first = this.startBig(i);
      const last = i + 1 < n ? this.startBig(i + 1) - 1n : MAX;
      const prev = out[out.length - 1];
      if (prev && prev[1] + 1n === first) prev[1] = last;
      else out.push([first, last]);
    }
    return out;
  }

  private startBig(i: number): bigint {
    const s = this.v6Starts;
    const o = i * this.v6Stride;
    const hi = (BigInt(s[o]!) << 96n) | (BigInt(s[o + 1]!) << 64n);
    return this.v6Stride === 2 ? hi : hi | (BigInt(s[o + 2]!) << 32n) | BigInt(s[o + 3]!);
  }

  serialize(): Buffer {
    const meta = Buffer.from(JSON.stringify(this.source), 'utf8');
    const header = Buffer.alloc(HEADER_BYTES);
    MAGIC.copy(header, 0);
    header.writeUInt32LE(this.v4Cc.length, 8);
    header.writeUInt32LE(this.v6Cc.length, 12);
    header.writeUInt32LE(this.v6Stride, 16);
    header.writeUInt32LE(meta.length, 20);
    return Buffer.concat([header, meta, le32(this.v4Starts), le16(this.v4Cc), le32(this.v6Starts), le16(this.v6Cc)]);
  }

  static deserialize(buf: Buffer): GeoTable {
    if (buf.length < HEADER_BYTES || !buf.subarray(0, 8).equals(MAGIC)) throw new GeoDataError('the stored GeoIP table is not in a known format: import it again with `mailstack geoip import`');
    const n4 = buf.readUInt32LE(8);
    const n6 = buf.readUInt32LE(12);
    const stride = buf.readUInt32LE(16);
    const metaLen = buf.readUInt32LE(20);
    if (stride !== 2 && stride !== 4) throw new GeoDataError('the stored GeoIP table is damaged: import it again');
    const expected = HEADER_BYTES + metaLen + n4 * 6 + n6 * (stride * 4 + 2);
    if (buf.length !== expected) throw new GeoDataError(`the stored GeoIP table is truncated (${buf.length} of ${expected} bytes): import it again`);
    let off = HEADER_BYTES;
    const source = JSON.parse(buf.subarray(off, off + metaLen).toString('utf8')) as GeoSource;
    off += metaLen;
    const v4Starts = readU32(buf, off, n4);
    off += n4 * 4;
    const v4Cc = readU16(buf, off, n4);
    off += n4 * 2;
    const v6Starts = readU32(buf, off, n6 * stride);
    off += n6 * stride * 4;
    const v6Cc = readU16(buf, off, n6);
    return new GeoTable(v4Starts, v4Cc, v6Starts, v6Cc, source, stride);
  }
}

export class GeoDataError extends Error {
  readonly code = 'GEOIP';
  constructor(message: string) {
    super(message);
    this.name = 'GeoDataError';
  }
}

function buildIndex(n: number, blockOf: (i: number) => number): Uint32Array {
  const index = new Uint32Array(65537);
  let i = 0;
  for (let block = 0; block <= 65536; block++) {
    while (i < n && blockOf(i) < block) i++;
    index[block] = i;
  }
  return index;
}

function compareAt(s: Uint32Array, off: number, w: Readonly<Words>, stride: number): number {
  for (let k = 0; k < stride; k++) {
    const a = s[off + k]!;
    const b = w[k]!;
    if (a !== b) return a < b ? -1 : 1;
  }
  return 0;
}

// The stored form is little-endian; on a little-endian host (every platform Node supports in practice) the
// typed arrays are copied as whole blocks, which keeps loading the full table to a few milliseconds.
const LITTLE_ENDIAN = endianness() === 'LE';

function le32(a: Uint32Array): Buffer {
  if (LITTLE_ENDIAN) return Buffer.from(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));
  const b = Buffer.alloc(a.length * 4);
  for (let i = 0; i < a.length; i++) b.writeUInt32LE(a[i]!, i * 4);
  return b;
}

function le16(a: Uint16Array): Buffer {
  if (LITTLE_ENDIAN) return Buffer.from(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));
  const b = Buffer.alloc(a.length * 2);
  for (let i = 0; i < a.length; i++) b.writeUInt16LE(a[i]!, i * 2);
  return b;
}

function readU32(buf: Buffer, off: number, n: number): Uint32Array {
  if (LITTLE_ENDIAN) return new Uint32Array(buf.buffer.slice(buf.byteOffset + off, buf.byteOffset + off + n * 4));
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = buf.readUInt32LE(off + i * 4);
  return out;
}

function readU16(buf: Buffer, off: number, n: number): Uint16Array {
  if (LITTLE_ENDIAN) return new Uint16Array(buf.buffer.slice(buf.byteOffset + off, buf.byteOffset + off + n * 2));
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) out[i] = buf.readUInt16LE(off + i * 2);
  return out;
}

// ---------------------------------------------------------------- building

/** Collects ranges in any order (sorted input is fastest) and builds the merged partition. */
export class GeoTableBuilder {
  private v4 = new Float64Array(1024 * 3); // start, end, cc
  private n4 = 0;
  private v6 = new Uint32Array(1024 * 9); // start(4), end(4), cc
  private n6 = 0;
  rangesRead = 0;

  /** Keep only these countries (indexes); every other range reads as unknown. */
  constructor(private readonly only: ReadonlySet<number> | null = null) {}

  addV4(first: number, last: number, cc: number): void {
    if (cc === 0 || last < first || (this.only && !this.only.has(cc))) return;
    if ((this.n4 + 1) * 3 > this.v4.length) {
      const grown = new Float64Array(this.v4.length * 2);
      grown.set(this.v4);
      this.v4 = grown;
    }
    const o = this.n4 * 3;
    this.v4[o] = first;
    this.v4[o + 1] = last;
    this.v4[o + 2] = cc;
    this.n4++;
    this.rangesRead++;
  }

  addV6(first: Readonly<Words>, last: Readonly<Words>, cc: number): void {
    if (cc === 0 || (this.only && !this.only.has(cc))) return;
    if ((this.n6 + 1) * 9 > this.v6.length) {
      const grown = new Uint32Array(this.v6.length * 2);
      grown.set(this.v6);
      this.v6 = grown;
    }
    const o = this.n6 * 9;
    for (let k = 0; k < 4; k++) {
      this.v6[o + k] = first[k]!;
      this.v6[o + 4 + k] = last[k]!;
    }
    this.v6[o + 8] = cc;
    this.n6++;
    this.rangesRead++;
  }

  /** Adds a CIDR network, e.g. from a MaxMind Blocks file. */
  addNetwork(ip: IpAddress, prefix: number, cc: number): void {
    if (ip.family === 4) {
      const size = 2 ** (32 - prefix);
      const first = ip.v4 - (ip.v4 % size);
      this.addV4(first, first + size - 1, cc);
      return;
    }
    const first: Words = [0, 0, 0, 0];
    const last: Words = [0, 0, 0, 0];
    for (let k = 0; k < 4; k++) {
      const bits = Math.min(32, Math.max(0, prefix - k * 32));
      const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
      first[k] = (ip.v6[k]! & mask) >>> 0;
      last[k] = (first[k]! | ~mask) >>> 0;
    }
    this.addV6(first, last, cc);
  }

  build(source: Omit<GeoSource, 'rangesRead'>): GeoTable {
    const { starts: v4Starts, cc: v4Cc } = this.buildV4();
    const { starts: v6Full, cc: v6Cc } = this.buildV6();
    let compact = true;
    for (let i = 0; i < v6Cc.length && compact; i++) if (v6Full[i * 4 + 2] !== 0 || v6Full[i * 4 + 3] !== 0) compact = false;
    let v6Starts = v6Full;
    if (compact) {
      v6Starts = new Uint32Array(v6Cc.length * 2);
      for (let i = 0; i < v6Cc.length; i++) {
        v6Starts[i * 2] = v6Full[i * 4]!;
        v6Starts[i * 2 + 1] = v6Full[i * 4 + 1]!;
      }
    }
    return new GeoTable(v4Starts, v4Cc, v6Starts, v6Cc, { ...source, rangesRead: this.rangesRead }, compact ? 2 : 4);
  }

  private buildV4(): { starts: Uint32Array; cc: Uint16Array } {
    const r = this.v4;
    const order = sortedOrder(this.n4, (a, b) => r[a * 3]! - r[b * 3]!);
    const starts: number[] = [];
    const ccs: number[] = [];
    let nextFree = 0; // first address not yet covered
    const push = (start: number, cc: number) => {
      if (ccs.length > 0 && ccs[ccs.length - 1] === cc) return;
      if (starts.length > 0 && starts[starts.length - 1] === start) {
        ccs[ccs.length - 1] = cc;
        if (ccs.length > 1 && ccs[ccs.length - 2] === cc) {
          starts.pop();
          ccs.pop();
        }
        return;
      }
      starts.push(start);
      ccs.push(cc);
    };
    for (const i of order) {
      let first = r[i * 3]!;
      const last = r[i * 3 + 1]!;
      const cc = r[i * 3 + 2]!;
      if (last < nextFree) continue; // overlaps what is covered: the earlier range wins
      if (first < nextFree) first = nextFree;
      if (first > nextFree) push(nextFree, 0);
      push(first, cc);
      nextFree = last + 1;
    }
    if (nextFree <= 0xffffffff && starts.length > 0) push(nextFree, 0);
    return { starts: Uint32Array.from(starts), cc: Uint16Array.from(ccs) };
  }

  private buildV6(): { starts: Uint32Array; cc: Uint16Array } {
    const r = this.v6;
    const cmp = (a: number, b: number) => {
      for (let k = 0; k < 4; k++) {
        const x = r[a * 9 + k]!;
        const y = r[b * 9 + k]!;
        if (x !== y) return x < y ? -1 : 1;
      }
      return 0;
    };
    const order = sortedOrder(this.n6, cmp);
    const starts: number[] = [];
    const ccs: number[] = [];
    const nextFree: Words = [0, 0, 0, 0];
    let covered = false; // whether nextFree wrapped past the top of the space
    const push = (start: Readonly<Words>, cc: number) => {
      if (ccs.length > 0 && ccs[ccs.length - 1] === cc) return;
      const n = ccs.length;
      if (n > 0 && start[0] === starts[(n - 1) * 4] && start[1] === starts[(n - 1) * 4 + 1] && start[2] === starts[(n - 1) * 4 + 2] && start[3] === starts[(n - 1) * 4 + 3]) {
        ccs[n - 1] = cc;
        if (n > 1 && ccs[n - 2] === cc) {
          starts.length -= 4;
          ccs.pop();
        }
        return;
      }
      starts.push(start[0], start[1], start[2], start[3]);
      ccs.push(cc);
    };
    const first: Words = [0, 0, 0, 0];
    const last: Words = [0, 0, 0, 0];
    for (const i of order) {
      if (covered) break;
      for (let k = 0; k < 4; k++) {
        first[k] = r[i * 9 + k]!;
        last[k] = r[i * 9 + 4 + k]!;
      }
      const cc = r[i * 9 + 8]!;
      if (cmpWords(last, nextFree) < 0) continue;
      if (cmpWords(first, nextFree) < 0) first.splice(0, 4, ...nextFree);
      else if (cmpWords(first, nextFree) > 0) push(nextFree, 0);
      push(first, cc);
      nextFree.splice(0, 4, ...last);
      covered = increment(nextFree);
    }
    if (!covered && ccs.length > 0) push(nextFree, 0);
    return { starts: Uint32Array.from(starts), cc: Uint16Array.from(ccs) };
  }
}

function cmpWords(a: Readonly<Words>, b: Readonly<Words>): number {
  for (let k = 0; k < 4; k++) if (a[k] !== b[k]) return a[k]! < b[k]! ? -1 : 1;
  return 0;
}

/** Adds one; returns true when it wrapped past the last address. */
function increment(w: Words): boolean {
  for (let k = 3; k >= 0; k--) {
    if (w[k] === 0xffffffff) w[k] = 0;
    else {
      w[k] = w[k]! + 1;
      return false;
    }
  }
  return true;
}

/** Indexes 0..n-1 in sorted order; skips the sort when the input is already sorted (the usual case). */
function sortedOrder(n: number, cmp: (a: number, b: number) => number): Uint32Array {
  const order = new Uint32Array(n);
  let sorted = true;
  for (let i = 0; i < n; i++) {
    order[i] = i;
    if (sorted && i > 0 && cmp(i - 1, i) > 0) sorted = false;
  }
  if (!sorted) order.sort(cmp);
  return order;
}

// ---------------------------------------------------------------- ranges to CIDRs (firewall export)

/** The fewest CIDRs that cover exactly [first, last] (IPv4). */
export function v4RangeToCidrs(first: number, last: number, out: string[] = []): string[] {
  let start = first;
  while (start <= last) {
    // Largest block aligned at start that fits in what is left.
    let size = start === 0 ? 2 ** 32 : (start & -start) >>> 0 || 2 ** 32;
    while (start + size - 1 > last) size /= 2;
    const prefix = 32 - Math.log2(size);
    out.push(prefix === 32 ? formatV4(start) : `${formatV4(start)}/${prefix}`);
    start += size;
  }
  return out;
}

/** The fewest CIDRs that cover exactly [first, last] (IPv6, BigInt). */
export function v6RangeToCidrs(first: bigint, last: bigint, out: string[] = []): string[] {
  let start = first;
  while (start <= last) {
    // The block is limited by the alignment of start (its trailing zero bits) and by what is left.
    const align = start === 0n ? 128 : (start & -start).toString(2).length - 1;
    const fits = (last - start + 1n).toString(2).length - 1;
    const bits = Math.min(align, fits);
    const prefix = 128 - bits;
    const w: Words = [Number((start >> 96n) & 0xffffffffn), Number((start >> 64n) & 0xffffffffn), Number((start >> 32n) & 0xffffffffn), Number(start & 0xffffffffn)];
    out.push(prefix === 128 ? formatV6(w) : `${formatV6(w)}/${prefix}`);
    start += 1n << BigInt(bits);
  }
  return out;
}
