import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseIp, normaliseIp, parseCidr, cidrContains, sourceNetwork, normaliseTarget, formatV6 } from './ip.ts';

test('IPv4 addresses parse; malformed ones are refused', () => {
  assert.deepEqual(parseIp('192.0.2.7'), { family: 4, v4: 0xc0000207 });
  assert.deepEqual(parseIp('255.255.255.255'), { family: 4, v4: 0xffffffff });
  for (const bad of ['256.1.1.1', '1.2.3', '1.2.3.4.5', '01.2.3.4', '1..2.3', '', 'a.b.c.d', '1.2.3.4 ']) assert.equal(parseIp(bad), null, bad);
});

test('IPv6 addresses parse in every RFC 4291 form and print in RFC 5952 form', () => {
  assert.equal(normaliseIp('2001:DB8:0:0:0:0:0:1'), '2001:db8::1');
  assert.equal(normaliseIp('::'), '::');
  assert.equal(normaliseIp('::1'), '::1');
  assert.equal(normaliseIp('fe80::1%eth0'), 'fe80::1');
  assert.equal(normaliseIp('2001:db8::'), '2001:db8::');
  assert.equal(normaliseIp('64:ff9b::192.0.2.33'), '64:ff9b::c000:221');
  assert.equal(formatV6([0x20010db8, 0, 0x10000, 1]), '2001:db8::1:0:0:1');
  for (const bad of ['1:2:3:4:5:6:7:8:9', '1::2::3', ':1:2', '1:2:', '12345::', 'g::1', '1:2:3:4:5:6:7:8::']) assert.equal(parseIp(bad), null, bad);
});

test('IPv4-mapped IPv6 addresses are normalised to IPv4', () => {
  assert.deepEqual(parseIp('::ffff:127.0.0.10'), { family: 4, v4: 0x7f00000a });
  assert.equal(normaliseIp('::FFFF:c000:0207'), '192.0.2.7');
  assert.equal(parseCidr('::ffff:192.0.2.0/120')?.text, '192.0.2.0/24');
});

test('CIDRs clear host bits and contain what they should', () => {
  const net = parseCidr('192.0.2.77/24')!;
  assert.equal(net.text, '192.0.2.0/24');
  assert.ok(cidrContains(net, parseIp('192.0.2.255')!));
  assert.ok(!cidrContains(net, parseIp('192.0.3.0')!));
  assert.ok(cidrContains(parseCidr('0.0.0.0/0')!, parseIp('8.8.8.8')!));
  const v6 = parseCidr('2001:db8:abcd::/47')!;
  assert.equal(v6.text, '2001:db8:abcc::/47');
  assert.ok(cidrContains(v6, parseIp('2001:db8:abcd:ffff::1')!));
  assert.ok(!cidrContains(v6, parseIp('2001:db8:abce::')!));
  assert.ok(!cidrContains(v6, parseIp('192.0.2.1')!));
  for (const bad of ['192.0.2.0/33', '2001:db8::/129', '192.0.2.0/', 'x/8']) assert.equal(parseCidr(bad), null, bad);
});

test('a source is an IPv4 address or an IPv6 /64', () => {
  assert.equal(sourceNetwork(parseIp('192.0.2.7')!, 64).text, '192.0.2.7');
  assert.equal(sourceNetwork(parseIp('2001:db8:1:2:3:4:5:6')!, 64).text, '2001:db8:1:2::/64');
  assert.equal(sourceNetwork(parseIp('2001:db8:1:2:3:4:5:6')!, 128).text, '2001:db8:1:2:3:4:5:6');
  assert.equal(normaliseTarget('::ffff:192.0.2.7'), '192.0.2.7');
  assert.equal(normaliseTarget('2001:db8::1/128'), '2001:db8::1');
  assert.equal(normaliseTarget('2001:db8::1/64'), '2001:db8::/64');
  assert.equal(normaliseTarget('nonsense'), null);
});

test('listener tables: implicit-TLS twins use their plain listener\'s table unless they have their own', async () => {
  const { listenerAliases } = await import('./policy.ts');
  assert.deepEqual(listenerAliases('imaps'), ['imaps', 'imap']);
  assert.deepEqual(listenerAliases('submission_tls'), ['submission_tls', 'submission']);
  assert.deepEqual(listenerAliases('smtp'), ['smtp']);
});

test('property: parseIp accepts exactly what node:net isIP accepts, and prints IPv6 as the WHATWG URL parser does', async () => {
  const { isIP } = await import('node:net');
  const alphabet = '0123456789abcdefABCDEF:.::::...';
  let seed = 7;
  const r = (n: number) => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n;
  for (let k = 0; k < 200_000; k++) {
    let s = '';
    const len = 1 + r(24);
    for (let i = 0; i < len; i++) s += alphabet[r(alphabet.length)];
    const ours = parseIp(s);
    assert.equal(ours !== null, isIP(s) !== 0, JSON.stringify(s));
    if (ours?.family === 6) assert.equal(normaliseIp(s), new URL(`http://[${s}]/`).hostname.slice(1, -1), JSON.stringify(s));
  }
});
