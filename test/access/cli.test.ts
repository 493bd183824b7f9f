// The access commands as a user runs them, on a stopped server's data directory: geoip import/status/lookup,
// ban add/list/del/flush, firewall export.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FIXTURE_FILES, instanceWithAccess } from './harness.ts';

test('geoip import reads the MaxMind CSV set, stores it in the vault, and reports what it loaded', async () => {
  const { inst, cli } = await instanceWithAccess();
  try {
    const none = await cli('geoip', 'status');
    assert.equal(none.code, 0, none.stderr);
    assert.match(none.stdout, /no GeoIP database imported/);
    const r = await cli('geoip', 'import', ...FIXTURE_FILES);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /21 ranges read from GeoLite2-Country-Blocks-IPv4\.csv, GeoLite2-Country-Blocks-IPv6\.csv, GeoLite2-Country-Locations-en\.csv/);
    assert.match(r.stdout, /DE: \d+ IPv4 and 2 IPv6 networks \(client_countries\)/);
    assert.match(r.stdout, /stored in the vault/);
    const status = await cli('geoip', 'status');
    assert.match(status.stdout, /10 countries/);
    const lookup = await cli('geoip', 'lookup', '127.0.0.10', '::ffff:192.0.2.200', '2001:db8:a7::1', '8.8.8.8');
    assert.equal(lookup.stdout, '127.0.0.10 DE\n::ffff:192.0.2.200 LU\n2001:db8:a7::1 AT\n8.8.8.8 --\n');
    const bad = await cli('geoip', 'import', join(inst.dir, 'passphrase'));
    assert.equal(bad.code, 65);
    assert.match(bad.stderr, /passphrase: not a GeoIP file/);
  } finally {
    await inst.cleanup();
  }
});

test('ban add, list, del and flush on the data directory; admin networks cannot be banned', async () => {
  const { inst, cli } = await instanceWithAccess();
  try {
    const add = await cli('ban', 'add', '192.0.2.7', '--duration', '2h', '--reason', 'guessing passwords');
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, /banned 192\.0\.2\.7 +expires .* \(in 2h\), ban #1: guessing passwords/);
    assert.equal((await cli('ban', 'add', '2001:db8::/48', '--duration', 'never')).code, 0);
    const again = await cli('ban', 'add', '192.0.2.7');
    assert.match(again.stdout, /ban #2/);
    const list = await cli('ban', 'list', '--json');
    const bans = JSON.parse(list.stdout) as { target: string }[];
    assert.deepEqual(bans.map((b) => b.target).sort(), ['192.0.2.7', '2001:db8::/48']);
    const exempt = await cli('ban', 'add', '203.0.113.9');
    assert.equal(exempt.code, 64);
    assert.match(exempt.stderr, /admin network \(203\.0\.113\.0\/24\): it is never banned/);
    const garbage = await cli('ban', 'add', 'example.com');
    assert.equal(garbage.code, 64);
    assert.equal((await cli('ban', 'add', '192.0.2.8', '--duration', 'soon')).code, 64);
    assert.equal((await cli('ban', 'del', '::ffff:192.0.2.7')).stdout, 'unbanned 192.0.2.7\n');
    assert.equal((await cli('ban', 'del', '192.0.2.7')).code, 67);
    assert.equal((await cli('ban', 'flush')).stdout, '1 ban removed\n');
    assert.equal((await cli('ban', 'list')).stdout, 'no active bans\n');
  } finally {
    await inst.cleanup();
  }
});

test('firewall export writes PF tables and an nftables script with merged networks and the bans', async () => {
  const { inst, cli } = await instanceWithAccess();
  try {
    assert.equal((await cli('geoip', 'import', ...FIXTURE_FILES)).code, 0);
    assert.equal((await cli('ban', 'add', '192.0.2.99', '--duration', '1h')).code, 0);
    const pf = await cli('firewall', 'export', '--format', 'pf');
    assert.equal(pf.code, 0, pf.stderr);
    // DE+AT: 127.0.0.10/31 (two adjacent /32s of DE and AT merged), 127.0.0.64/26 + 127.0.0.128/25, 127.0.1.0/24 + 127.0.2.0/24;
    // FR+LU: 192.0.2.0/25 + 192.0.2.128/25 merged into one /24.
    const clients = pf.stdout.slice(pf.stdout.indexOf('table <mailstack_clients>'), pf.stdout.indexOf('table <mailstack_imap_allow>'));
    for (const net of ['127.0.0.10/31', '127.0.0.64/26', '127.0.0.128/25', '127.0.1.0/24', '127.0.2.0/24', '192.0.2.0/24', '2001:db8:de::/48', '2001:db8:de01::/48', '2001:db8:a7::/48']) {
      assert.ok(clients.includes(`  ${net}`), `${net} in mailstack_clients:\n${clients}`);
    }
    assert.ok(!clients.includes('127.0.0.20'), 'CN is not in the allow-list');
    assert.match(pf.stdout, /table <mailstack_imap_allow> persist \{ \\\n(  .*\n)*  198\.51\.100\.7, \\\n/);
    assert.match(pf.stdout, /table <mailstack_bans> persist \{ \\\n  192\.0\.2\.99 \}/);

    const out = join(inst.dir, 'bans.pf');
    const one = await cli('firewall', 'export', '--format', 'pf', '--table', 'mailstack_bans', '--out', out);
    assert.equal(one.code, 0, one.stderr);
    assert.match(await readFile(out, 'utf8'), /^# .*\n(# .*\n)*192\.0\.2\.99\n$/);

    const nft = await cli('firewall', 'export', '--format', 'nftables');
    assert.equal(nft.code, 0, nft.stderr);
    assert.match(nft.stdout, /^#!\/usr\/sbin\/nft -f\n/);
    assert.match(nft.stdout, /add set inet mailstack mailstack_clients_v4 \{ type ipv4_addr; flags interval; \}\nflush set inet mailstack mailstack_clients_v4\nadd element inet mailstack mailstack_clients_v4 \{ 127\.0\.0\.10\/31, /);
    assert.match(nft.stdout, /add element inet mailstack mailstack_bans_v4 \{ 192\.0\.2\.99 timeout 3\d{3}s \}/);
    assert.match(nft.stdout, /add set inet mailstack mailstack_bans_v6 \{ type ipv6_addr; flags interval, timeout; \}/);
    const bad = await cli('firewall', 'export', '--format', 'iptables');
    assert.equal(bad.code, 64);
  } finally {
    await inst.cleanup();
  }
});
