import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GeoTable, GeoTableBuilder, countryIndex, countryCode, v4RangeToCidrs, v6RangeToCidrs } from './geoip.ts';
import { importGeoBuffers, countryOfRecord } from './geoip-import.ts';
import { parseIp } from './ip.ts';

const ip4 = (s: string) => (parseIp(s) as { v4: number }).v4;

test('country codes map to small indexes and back', () => {
  assert.equal(countryCode(countryIndex('DE')), 'DE');
  assert.equal(countryCode(countryIndex('zz')), 'ZZ');
  assert.equal(countryIndex(''), 0);
  assert.equal(countryIndex('D1'), 0);
  assert.equal(countryCode(0), null);
});

test('ranges build a merged partition: gaps are unknown, adjacent ranges of one country merge', () => {
  const b = new GeoTableBuilder();
  b.addV4(ip4('10.0.0.0'), ip4('10.0.0.255'), countryIndex('DE'));
  b.addV4(ip4('10.0.1.0'), ip4('10.0.1.255'), countryIndex('DE'));
  b.addV4(ip4('10.0.3.0'), ip4('10.0.3.255'), countryIndex('FR'));
  b.addV4(ip4('1.0.0.0'), ip4('1.0.0.0'), countryIndex('AU')); // out of order
  const t = b.build({ files: [], format: 'range-csv', importedAt: 0 });
  assert.equal(t.lookupText('10.0.1.200'), 'DE');
  assert.equal(t.lookupText('10.0.2.1'), null);
  assert.equal(t.lookupText('10.0.3.255'), 'FR');
  assert.equal(t.lookupText('10.0.4.0'), null);
  assert.equal(t.lookupText('1.0.0.0'), 'AU');
  assert.equal(t.lookupText('0.0.0.0'), null);
  assert.equal(t.lookupText('255.255.255.255'), null);
  // 1.0.0.0 AU, gap, DE 10.0.0.0-10.0.1.255 (merged), gap, FR, gap: 6 entries plus the leading gap.
  assert.equal(t.stats().v4Ranges, 7);
  assert.deepEqual(t.v4RangesFor(new Set([countryIndex('DE'), countryIndex('FR')])), [
    [ip4('10.0.0.0'), ip4('10.0.1.255')],
    [ip4('10.0.3.0'), ip4('10.0.3.255')],
  ]);
});

test('the table survives serialisation, with both IPv6 layouts', () => {
  for (const prefix of [48, 65]) {
    const b = new GeoTableBuilder();
    b.addNetwork(parseIp('2001:db8:1::')!, prefix, countryIndex('NL'));
    b.addNetwork(parseIp('192.0.2.0')!, 24, countryIndex('LU'));
    const t = GeoTable.deserialize(b.build({ files: ['x'], format: 'maxmind-csv', importedAt: 5 }).serialize());
    assert.equal(t.lookupText('2001:db8:1::1'), 'NL');
    assert.equal(t.lookupText(prefix === 48 ? '2001:db8:1:ffff::' : '2001:db8:1:0:7fff::'), 'NL');
    assert.equal(t.lookupText(prefix === 48 ? '2001:db8:2::' : '2001:db8:1:0:8000::'), null);
    assert.equal(t.lookupText('::ffff:192.0.2.9'), 'LU');
    assert.deepEqual(t.source.files, ['x']);
  }
  assert.throws(() => GeoTable.deserialize(Buffer.from('not a table at all, really')), /not in a known format/);
});

test('ranges become the fewest exact CIDRs', () => {
  assert.deepEqual(v4RangeToCidrs(ip4('192.0.2.0'), ip4('192.0.2.255')), ['192.0.2.0/24']);
  assert.deepEqual(v4RangeToCidrs(ip4('192.0.2.1'), ip4('192.0.2.6')), ['192.0.2.1', '192.0.2.2/31', '192.0.2.4/31', '192.0.2.6']);
  assert.deepEqual(v4RangeToCidrs(0, 0xffffffff), ['0.0.0.0/0']);
  assert.deepEqual(v6RangeToCidrs(0x20010db8n << 96n, ((0x20010db8n << 96n) | ((1n << 96n) - 1n))), ['2001:db8::/32']);
  assert.deepEqual(v6RangeToCidrs(1n, 2n), ['::1', '::2']);
});

test('MaxMind CSV: locations map geoname ids, a block without one falls back to its registered country', () => {
  const t = importGeoBuffers([
    { name: 'GeoLite2-Country-Blocks-IPv4.csv', data: Buffer.from('network,geoname_id,registered_country_geoname_id,represented_country_geoname_id,is_anonymous_proxy,is_satellite_provider\r\n192.0.2.0/24,,2921044,,1,0\r\n198.51.100.0/24,3017382,2921044,,0,0\r\n') },
    { name: 'GeoLite2-Country-Locations-de.csv', data: Buffer.from('geoname_id,locale_code,continent_code,continent_name,country_iso_code,country_name,is_in_european_union\r\n2921044,de,EU,Europa,DE,Deutschland,1\r\n3017382,de,EU,Europa,FR,"Frankreich, Republik",1\r\n') },
  ]);
  assert.equal(t.lookupText('192.0.2.1'), 'DE');
  assert.equal(t.lookupText('198.51.100.1'), 'FR');
  assert.equal(t.source.format, 'maxmind-csv');
});

test('bad GeoIP input is a clear error naming the file and line', () => {
  assert.throws(() => importGeoBuffers([{ name: 'notes.txt', data: Buffer.from('hello\n') }]), /notes\.txt: not a GeoIP file/);
  assert.throws(
    () => importGeoBuffers([{ name: 'b.csv', data: Buffer.from('network,geoname_id,registered_country_geoname_id\n1.2.3.0/24,1,1\n') }]),
    /need a Locations file/,
  );
  assert.throws(
    () =>
      importGeoBuffers([
        { name: 'b.csv', data: Buffer.from('network,geoname_id,registered_country_geoname_id\n1.2.3.0/33,1,1\n') },
        { name: 'l.csv', data: Buffer.from('geoname_id,locale_code,continent_code,continent_name,country_iso_code\n1,en,EU,Europe,DE\n') },
      ]),
    /b\.csv:2: "1\.2\.3\.0\/33" is not a network/,
  );
  assert.throws(() => importGeoBuffers([{ name: 'r.csv', data: Buffer.from('1.0.0.0,1.0.0.255,AU\n1.0.1.0,zzz,CN\n') }]), /r\.csv:2:/);
});

test('mmdb records: MaxMind layout and the flat country_code layout', () => {
  assert.equal(countryOfRecord({ country: { iso_code: 'DE' }, registered_country: { iso_code: 'AT' } }), 'DE');
  assert.equal(countryOfRecord({ registered_country: { iso_code: 'AT' } }), 'AT');
  assert.equal(countryOfRecord({ country_code: 'CH' }), 'CH');
  assert.equal(countryOfRecord({ continent: { code: 'EU' } }), null);
  assert.equal(countryOfRecord(null), null);
});

test('indexed lookups agree with a linear scan of the ranges (random tables, both families)', () => {
  let seed = 99;
  const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
  for (let round = 0; round < 5; round++) {
    const b = new GeoTableBuilder();
    const ranges: [number, number, number][] = [];
    let at = rand() % 65536;
    while (at < 0xffffffff - 2 ** 26 && ranges.length < 2000) {
      const len = 1 + (rand() % (round % 2 ? 2 ** 24 : 2 ** 17));
      const cc = 1 + (rand() % 5);
      if (rand() % 3) {
        ranges.push([at, at + len - 1, cc]);
        b.addV4(at, at + len - 1, cc);
        b.addV6([at, 0, 0, 0], [at + len - 1, 0xffffffff, 0xffffffff, 0xffffffff], cc);
      }
      at += len + (rand() % 2 ? 0 : rand() % 2 ** 20);
    }
    const t = b.build({ files: [], format: 'range-csv', importedAt: 0 });
    const scan = (ip: number) => ranges.find(([a, z]) => a <= ip && ip <= z)?.[2] ?? 0;
    for (let i = 0; i < 3000; i++) {
      const probe: number = i % 3 === 0 ? ranges[rand() % ranges.length]![rand() % 2]! : rand();
      assert.equal(t.lookupV4(probe), scan(probe), `IPv4 ${probe}`);
      assert.equal(t.lookupV6([probe, rand(), 0, 1]), scan(probe), `IPv6 ${probe}`);
    }
    assert.equal(t.lookupV4(0), scan(0));
    assert.equal(t.lookupV4(0xffffffff), scan(0xffffffff));
  }
});
