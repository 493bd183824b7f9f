// Reading GeoIP databases in the forms a user downloads, into a GeoTable:
// - MaxMind GeoLite2/GeoIP2 Country CSV: Blocks-IPv4, Blocks-IPv6 ("network,geoname_id,
//   registered_country_geoname_id,...") and a Locations file ("geoname_id,locale_code,continent_code,
//   continent_name,country_iso_code,...") that maps geoname ids to ISO country codes;
// - MaxMind DB (.mmdb), the binary form, walked node by node into the same range table;
// - "first,last,CC" range CSV (the ip-location-db packages' layout), handy for hand-made data.
// Files are recognised by their content (header line or the .mmdb metadata marker), not their names.
import { readFile, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { Reader } from 'maxmind';
import { GeoTableBuilder, GeoDataError, countryIndex, type GeoTable, type GeoSource } from './geoip.ts';
import { parseIp, type Words } from './ip.ts';

/** GeoLite2-Country CSV files are ~20 MB and the .mmdb ~9 MB; City editions reach a few hundred MB. Past
 * this the file is surely not a country database, and reading it whole would only waste memory. */
export const MAX_GEOIP_FILE_BYTES = 512 * 1024 * 1024;

/** The marker that starts the metadata section at the end of every MaxMind DB file. */
const MMDB_METADATA_MARKER = Buffer.from('\xab\xcd\xefMaxMind.com', 'latin1');

type FileKind = 'blocks' | 'locations' | 'ranges' | 'mmdb';

interface InputFile {
  path: string;
  kind: FileKind;
  data: Buffer;
}

export interface ImportOptions {
  /** Keep only these ISO country codes (a smaller table when only an allow-list matters). */
  onlyCountries?: readonly string[];
  now?: number;
}

export async function importGeoFiles(paths: readonly string[], options: ImportOptions = {}): Promise<GeoTable> {
  if (paths.length === 0) throw new GeoDataError('no files given: pass the GeoLite2 Country CSV files (Blocks-IPv4, Blocks-IPv6, Locations) or a .mmdb');
  const inputs: InputFile[] = [];
  for (const path of paths) {
    const info = await stat(path).catch(() => null);
    if (!info?.isFile()) throw new GeoDataError(`${path}: no such file`);
    if (info.size > MAX_GEOIP_FILE_BYTES) throw new GeoDataError(`${path}: ${info.size} bytes is too large for a country database (limit ${MAX_GEOIP_FILE_BYTES})`);
    const data = await readFile(path);
    inputs.push({ path, data, kind: classify(path, data) });
  }
  return buildFromInputs(inputs, options);
}

/** Same as importGeoFiles, from buffers in memory (name is used for messages and the source list). */
export function importGeoBuffers(files: readonly { name: string; data: Buffer }[], options: ImportOptions = {}): GeoTable {
  return buildFromInputs(
    files.map((f) => ({ path: f.name, data: f.data, kind: classify(f.name, f.data) })),
    options,
  );
}

function buildFromInputs(inputs: InputFile[], options: ImportOptions): GeoTable {
  const now = options.now ?? Date.now();
  const builder = new GeoTableBuilder(options.onlyCountries ? new Set(options.onlyCountries.map(countryIndex)) : null);
  const geonames = new Map<string, number>();
  for (const f of inputs.filter((i) => i.kind === 'locations')) readLocations(f, geonames);
  const blocks = inputs.filter((i) => i.kind === 'blocks');
  if (blocks.length > 0 && geonames.size === 0) {
    throw new GeoDataError(`${blocks.map((b) => basename(b.path)).join(', ')}: the Blocks files need a Locations file too (GeoLite2-Country-Locations-en.csv, any language) in the same import`);
  }
  for (const f of blocks) readBlocks(f, geonames, builder);
  let builtAt: number | undefined;
  for (const f of inputs.filter((i) => i.kind === 'ranges')) readRanges(f, builder);
  for (const f of inputs.filter((i) => i.kind === 'mmdb')) builtAt = readMmdb(f, builder);
  if (builder.rangesRead === 0) throw new GeoDataError(`${inputs.map((i) => basename(i.path)).join(', ')}: no address ranges with a country found`);
  const kinds = new Set(inputs.map((i) => i.kind));
  kinds.delete('locations');
  const format: GeoSource['format'] = kinds.size > 1 ? 'mixed' : kinds.has('mmdb') ? 'mmdb' : kinds.has('ranges') ? 'range-csv' : 'maxmind-csv';
  return builder.build({ files: inputs.map((i) => basename(i.path)), format, importedAt: now, ...(builtAt !== undefined ? { builtAt } : {}) });
}

function classify(path: string, data: Buffer): FileKind {
  const tail = data.subarray(Math.max(0, data.length - 128 * 1024));
  if (tail.lastIndexOf(MMDB_METADATA_MARKER) >= 0) return 'mmdb';
  const firstLine = data.subarray(0, 512).toString('utf8').split(/\r?\n/, 1)[0]?.replace(/^\uFEFF/, '') ?? '';
  if (/^network,geoname_id,registered_country_geoname_id/.test(firstLine)) return 'blocks';
  if (/^geoname_id,locale_code,continent_code/.test(firstLine)) return 'locations';
  if (/^[0-9a-fA-F:.]+,[0-9a-fA-F:.]+,[A-Za-z]{2}\s*$/.test(firstLine)) return 'ranges';
  throw new GeoDataError(
    `${path}: not a GeoIP file this reads (expected a MaxMind GeoLite2 Country CSV with its header line, a .mmdb, or "first,last,CC" lines); first line: ${JSON.stringify(firstLine.slice(0, 80))}`,
  );
}

/** Splits one CSV line (RFC 4180 quoting, as MaxMind writes names like "Bonaire, Sint Eustatius, and Saba"). */
function splitCsv(line: string): string[] {
  if (!line.includes('"')) return line.split(',');
  const out: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      out.push(field);
      field = '';
    } else field += c;
  }
  out.push(field);
  return out;
}

function lines(f: InputFile): string[] {
  const text = f.data.toString('utf8').replace(/^\uFEFF/, '');
  const all = text.split('\n');
  if (all.length > 0 && all[all.length - 1] === '') all.pop();
  return all;
}

function columns(header: string, f: InputFile, wanted: readonly string[]): Map<string, number> {
  const names = splitCsv(header.replace(/\r$/, ''));
  const out = new Map<string, number>();
  for (const w of wanted) {
    const i = names.indexOf(w);
    if (i < 0) throw new GeoDataError(`${basename(f.path)}: the header has no "${w}" column`);
    out.set(w, i);
  }
  return out;
}

function readLocations(f: InputFile, geonames: Map<string, number>): void {
  const all = lines(f);
  const col = columns(all[0] ?? '', f, ['geoname_id', 'country_iso_code']);
  const idCol = col.get('geoname_id')!;
  const ccCol = col.get('country_iso_code')!;
  for (let n = 1; n < all.length; n++) {
    const line = all[n]!.replace(/\r$/, '');
    if (line === '') continue;
    const fields = splitCsv(line);
    const id = fields[idCol];
    const cc = fields[ccCol] ?? '';
    if (!id || !/^\d+$/.test(id)) throw new GeoDataError(`${basename(f.path)}:${n + 1}: geoname_id ${JSON.stringify(id ?? '')} is not a number`);
    // Continent-only rows (an empty country_iso_code) stay unknown: they name no country to allow.
    const idx = countryIndex(cc);
    if (idx !== 0) geonames.set(id, idx);
  }
}

function readBlocks(f: InputFile, geonames: Map<string, number>, builder: GeoTableBuilder): void {
  const all = lines(f);
  const col = columns(all[0] ?? '', f, ['network', 'geoname_id', 'registered_country_geoname_id']);
  const netCol = col.get('network')!;
  const geoCol = col.get('geoname_id')!;
  const regCol = col.get('registered_country_geoname_id')!;
  for (let n = 1; n < all.length; n++) {
    const line = all[n]!;
    if (line === '' || line === '\r') continue;
    const fields = line.split(',');
    const network = fields[netCol] ?? '';
    const slash = network.indexOf('/');
    const ip = slash > 0 ? parseIp(network.slice(0, slash)) : null;
    const prefix = slash > 0 ? Number(network.slice(slash + 1)) : NaN;
    const max = network.includes(':') ? 128 : 32;
    if (!ip || !Number.isInteger(prefix) || prefix < 0 || prefix > max) {
      throw new GeoDataError(`${basename(f.path)}:${n + 1}: ${JSON.stringify(network)} is not a network in CIDR form`);
    }
    // A block may lack a located country (anonymous proxies, satellite providers): fall back to the country
    // the network is registered in, as MaxMind's own readers do for the country field's absence.
    const cc = geonames.get(fields[geoCol] ?? '') ?? geonames.get(fields[regCol] ?? '') ?? 0;
    const mappedPrefix = ip.family === 4 && network.includes(':') ? prefix - 96 : prefix;
    if (mappedPrefix < 0) continue;
    builder.addNetwork(ip, mappedPrefix, cc);
  }
}

function readRanges(f: InputFile, builder: GeoTableBuilder): void {
  const all = lines(f);
  for (let n = 0; n < all.length; n++) {
    const line = all[n]!.replace(/\r$/, '');
    if (line === '' || line.startsWith('#')) continue;
    const [a, b, cc] = line.split(',');
    const first = a ? parseIp(a) : null;
    const last = b ? parseIp(b) : null;
    if (!first || !last || first.family !== last.family || !cc) {
      throw new GeoDataError(`${basename(f.path)}:${n + 1}: expected "first,last,CC" with two addresses of one family`);
    }
    const idx = countryIndex(cc.trim());
    if (first.family === 4 && last.family === 4) builder.addV4(first.v4, last.v4, idx);
    else if (first.family === 6 && last.family === 6) builder.addV6(first.v6, last.v6, idx);
  }
}

// ---------------------------------------------------------------- MaxMind DB

type RecordReader = (node: number, bit: 0 | 1) => number;

/** Reads a node's left (0) or right (1) record; the node layout of the MaxMind DB spec, section
 * "Search Tree Section": records of 24, 28 or 32 bits, big-endian, the 28-bit form sharing a middle byte. */
function recordReader(db: Buffer, recordSize: number): RecordReader {
  switch (recordSize) {
    case 24:
      return (node, bit) => db.readUIntBE(node * 6 + bit * 3, 3);
    case 28:
      return (node, bit) => {
        const o = node * 7;
        return bit === 0 ? (((db[o + 3]! & 0xf0) << 20) | db.readUIntBE(o, 3)) >>> 0 : (((db[o + 3]! & 0x0f) << 24) | db.readUIntBE(o + 4, 3)) >>> 0;
      };
    case 32:
      return (node, bit) => db.readUInt32BE(node * 8 + bit * 4);
    default:
      throw new GeoDataError(`unsupported MaxMind DB record size ${recordSize}`);
  }
}

/** The country of a data record: MaxMind's layout ({country: {iso_code}}, falling back to the registered
 * country) or the flat {country_code} layout of the ip-location-db builds. */
export function countryOfRecord(record: unknown): string | null {
  if (!record || typeof record !== 'object') return null;
  const r = record as Record<string, unknown>;
  const iso = (m: unknown) => (m && typeof m === 'object' ? (m as Record<string, unknown>)['iso_code'] : undefined);
  const code = iso(r['country']) ?? iso(r['registered_country']) ?? r['country_code'];
  return typeof code === 'string' ? code : null;
}

function readMmdb(f: InputFile, builder: GeoTableBuilder): number | undefined {
  let reader: Reader<Record<string, unknown>>;
  try {
    reader = new Reader<Record<string, unknown>>(f.data);
  } catch (err) {
    throw new GeoDataError(`${basename(f.path)}: not a readable MaxMind DB: ${(err as Error).message}`);
  }
  const meta = reader.metadata;
  const nodeCount = meta.nodeCount;
  const record = recordReader(f.data, meta.recordSize);
  // A data pointer is decoded once through the library, by looking up the first address that reaches it.
  const countryOfPointer = new Map<number, number>();
  const countryAt = (pointer: number, address: string): number => {
    let cc = countryOfPointer.get(pointer);
    if (cc === undefined) {
      cc = countryIndex(countryOfRecord(reader.get(address)) ?? '');
      countryOfPointer.set(pointer, cc);
    }
    return cc;
  };

  const walkV4 = (node: number, depth: number, prefix: number) => {
    for (const bit of [0, 1] as const) {
      const next = record(node, bit);
      const start = (prefix | (bit << (31 - depth))) >>> 0;
      if (next === nodeCount) continue; // no data
      if (next > nodeCount) {
        const size = 2 ** (31 - depth);
        builder.addV4(start, start + size - 1, countryAt(next, formatDotted(start)));
      } else if (depth < 31) walkV4(next, depth + 1, start);
    }
  };

  if (meta.ipVersion === 4) {
    walkV4(0, 0, 0);
    return meta.buildEpoch.getTime();
  }

  // An IPv6 tree holds IPv4 at ::/96. MaxMind also links ::ffff:0:0/96 (IPv4-mapped), 2002::/16 (6to4) and
  // 2001::/32 (Teredo) to that same subtree; those aliases are skipped so each range is read once.
  let ipv4Start = 0;
  for (let i = 0; i < 96 && ipv4Start < nodeCount; i++) ipv4Start = record(ipv4Start, 0);
  const w: Words = [0, 0, 0, 0];
  const walkV6 = (node: number, depth: number) => {
    for (const bit of [0, 1] as const) {
      const word = depth >>> 5;
      const mask = (1 << (31 - (depth & 31))) >>> 0;
      if (bit) w[word] = (w[word]! | mask) >>> 0;
      const next = record(node, bit);
      if (next === ipv4Start && ipv4Start < nodeCount) {
        if (depth === 95 && w[0] === 0 && w[1] === 0 && w[2] === 0) walkV4(ipv4Start, 0, 0);
      } else if (next > nodeCount) {
        const first: Words = [w[0], w[1], w[2], w[3]];
        const last: Words = [0, 0, 0, 0];
        for (let k = 0; k < 4; k++) {
          const bits = Math.min(32, Math.max(0, depth + 1 - k * 32));
          const m = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
          last[k] = (first[k]! | ~m) >>> 0;
        }
        builder.addV6(first, last, countryAt(next, formatHex(first)));
      } else if (next < nodeCount && depth < 127) walkV6(next, depth + 1);
      if (bit) w[word] = (w[word]! & ~mask) >>> 0;
    }
  };
  walkV6(0, 0);
  return meta.buildEpoch.getTime();
}

function formatDotted(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

function formatHex(w: Readonly<Words>): string {
  const g: string[] = [];
  for (const x of w) g.push((x >>> 16).toString(16), (x & 0xffff).toString(16));
  return g.join(':');
}
