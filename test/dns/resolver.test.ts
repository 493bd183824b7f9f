// The caching resolver against a real DNS server on loopback (test/helpers/dns-server.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { createResolver, DnsError } from '../../src/dns/index.ts';
import { startDnsServer } from '../helpers/dns-server.ts';

const require = createRequire(import.meta.url);
const { spf } = require('mailauth/lib/spf') as { spf: (opts: Record<string, unknown>) => Promise<{ status: { result: string } }> };

async function rejectsWith(promise: Promise<unknown>, code: string, temporary: boolean): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof DnsError, `expected DnsError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.equal(err.temporary, temporary);
    return true;
  });
}

test('answers A, AAAA, MX (by priority), TXT, PTR and follows CNAME', async (t) => {
  const dns = await startDnsServer({
    'example.test': {
      A: ['192.0.2.1', '192.0.2.2'],
      AAAA: ['2001:db8::1'],
      MX: [{ exchange: 'mx2.example.test', priority: 20 }, '10 MX1.Example.Test.'],
      TXT: ['v=spf1 -all', ['part one ', 'part two']],
    },
    'www.example.test': { CNAME: ['example.test'] },
  });
  t.after(() => dns.close());
  dns.set('192.0.2.1', 'PTR', ['mail.example.test']);
  dns.set('2001:db8::1', 'PTR', ['mail6.example.test']);
  const r = createResolver({ upstream: [dns.upstream], timeoutMs: 1000 });
  assert.deepEqual((await r.a('example.test')).sort(), ['192.0.2.1', '192.0.2.2']);
  assert.deepEqual(await r.aaaa('EXAMPLE.test.'), ['2001:db8::1']);
  assert.deepEqual(await r.mx('example.test'), [
    { exchange: 'mx1.example.test', priority: 10 },
    { exchange: 'mx2.example.test', priority: 20 },
  ]);
  assert.deepEqual(await r.txt('example.test'), [['v=spf1 -all'], ['part one ', 'part two']]);
  assert.deepEqual(await r.ptr('192.0.2.1'), ['mail.example.test']);
  assert.deepEqual(await r.ptr('2001:db8::1'), ['mail6.example.test']);
  assert.deepEqual((await r.a('www.example.test')).sort(), ['192.0.2.1', '192.0.2.2']);
});

test('NXDOMAIN throws a permanent error; NODATA answers []', async (t) => {
  const dns = await startDnsServer({ 'example.test': { A: ['192.0.2.1'] }, 'mail._domainkey.example.test': { TXT: ['v=DKIM1; p='] } });
  t.after(() => dns.close());
  const r = createResolver({ upstream: [dns.upstream], timeoutMs: 1000 });
  await rejectsWith(r.a('nowhere.test'), 'NXDOMAIN', false);
  await rejectsWith(r.mx('nowhere.test'), 'NXDOMAIN', false);
  assert.deepEqual(await r.mx('example.test'), []);
  assert.deepEqual(await r.aaaa('example.test'), []);
  // An empty non-terminal exists: NODATA, not NXDOMAIN.
  assert.deepEqual(await r.txt('_domainkey.example.test'), []);
});

test('caches answers for their TTL and asks again after it', async (t) => {
  const dns = await startDnsServer();
  t.after(() => dns.close());
  dns.set('cached.test', 'A', ['192.0.2.7'], 60);
  let clock = 1_000_000;
  const r = createResolver({ upstream: [dns.upstream], timeoutMs: 1000, now: () => clock });
  assert.deepEqual(await r.a('cached.test'), ['192.0.2.7']);
  dns.set('cached.test', 'A', ['192.0.2.8'], 60);
  clock += 59_000;
  assert.deepEqual(await r.a('cached.test'), ['192.0.2.7'], 'still cached within the TTL');
  assert.equal(dns.queries, 1);
  clock += 2_000;
  assert.deepEqual(await r.a('cached.test'), ['192.0.2.8'], 'asked again after the TTL');
  assert.equal(dns.queries, 2);
});

test('a TTL of 0 is not cached', async (t) => {
  const dns = await startDnsServer();
  t.after(() => dns.close());
  dns.set('zero.test', 'A', ['192.0.2.9'], 0);
  const r = createResolver({ upstream: [dns.upstream], timeoutMs: 1000 });
  await r.a('zero.test');
  await r.a('zero.test');
  assert.equal(dns.queries, 2);
});

test('negative answers are cached for the SOA minimum (RFC 2308)', async (t) => {
  const dns = await startDnsServer({}, { negativeTtl: 30 });
  t.after(() => dns.close());
  let clock = 5_000_000;
  const r = createResolver({ upstream: [dns.upstream], timeoutMs: 1000, now: () => clock });
  await rejectsWith(r.a('later.test'), 'NXDOMAIN', false);
  dns.set('later.test', 'A', ['192.0.2.10']);
  await rejectsWith(r.a('later.test'), 'NXDOMAIN', false);
  assert.equal(dns.queries, 1);
  clock += 31_000;
  assert.deepEqual(await r.a('later.test'), ['192.0.2.10']);
  assert.equal(dns.queries, 2);
});

test('SERVFAIL and timeouts are temporary errors and are not cached', async (t) => {
  const dns = await startDnsServer({ 'broken.test': { A: ['192.0.2.1'] }, 'slow.test': { A: ['192.0.2.2'] } });
  t.after(() => dns.close());
  dns.fail('broken.test', 'servfail');
  dns.fail('slow.test', 'timeout');
  const r = createResolver({ upstream: [dns.upstream], timeoutMs: 150 });
  await rejectsWith(r.a('broken.test'), 'SERVFAIL', true);
  await rejectsWith(r.mx('slow.test'), 'TIMEOUT', true);
  dns.fail('broken.test', null);
  assert.deepEqual(await r.a('broken.test'), ['192.0.2.1']);
});

test('a second upstream answers when the first does not', async (t) => {
  const dead = await startDnsServer();
  const good = await startDnsServer({ 'example.test': { A: ['192.0.2.3'] } });
  t.after(() => Promise.all([dead.close(), good.close()]));
  dead.fail('example.test', 'timeout');
  const r = createResolver({ upstream: [dead.upstream, good.upstream], timeoutMs: 150 });
  assert.deepEqual(await r.a('example.test'), ['192.0.2.3']);
  assert.ok(dead.queries >= 1);
});

test('a truncated UDP answer is retried over TCP', async (t) => {
  const dns = await startDnsServer();
  t.after(() => dns.close());
  const big = 'k='.padEnd(3000, 'x');
  dns.set('big.test', 'TXT', [big]);
  const r = createResolver({ upstream: [dns.upstream], timeoutMs: 1000 });
  const answer = await r.txt('big.test');
  assert.equal(answer[0]!.join(''), big);
  assert.deepEqual(
    dns.queryLog.map((q) => q.transport),
    ['udp', 'tcp'],
  );
});

test('concurrent lookups of one name share one query', async (t) => {
  const dns = await startDnsServer({ 'example.test': { MX: ['10 mx.example.test'] } });
  t.after(() => dns.close());
  const r = createResolver({ upstream: [dns.upstream], timeoutMs: 1000 });
  await Promise.all([r.mx('example.test'), r.mx('example.test'), r.mx('Example.Test')]);
  assert.equal(dns.queries, 1);
});

test('the cache is bounded', async (t) => {
  const dns = await startDnsServer({ 'a.test': { A: ['192.0.2.1'] }, 'b.test': { A: ['192.0.2.2'] }, 'c.test': { A: ['192.0.2.3'] } });
  t.after(() => dns.close());
  const r = createResolver({ upstream: [dns.upstream], timeoutMs: 1000, maxCacheEntries: 2 });
  await r.a('a.test');
  await r.a('b.test');
  await r.a('c.test'); // evicts a.test, the least recently used
  await r.a('c.test');
  await r.a('b.test');
  assert.equal(dns.queries, 3);
  await r.a('a.test');
  assert.equal(dns.queries, 4);
});

test('invalid names are refused without a query', async (t) => {
  const dns = await startDnsServer();
  t.after(() => dns.close());
  const r = createResolver({ upstream: [dns.upstream], timeoutMs: 1000 });
  await rejectsWith(r.a('bad name.test'), 'BADNAME', false);
  await rejectsWith(r.a('a..test'), 'BADNAME', false);
  await rejectsWith(r.a(`${'x'.repeat(64)}.test`), 'BADNAME', false);
  await rejectsWith(r.ptr('not-an-ip'), 'BADNAME', false);
  assert.equal(dns.queries, 0);
});

test('the mailauth adapter throws node:dns codes and works for an SPF check', async (t) => {
  const dns = await startDnsServer({ 'sender.test': { TXT: ['v=spf1 ip4:192.0.2.0/24 -all'], A: ['192.0.2.1'] } });
  t.after(() => dns.close());
  const r = createResolver({ upstream: [dns.upstream], timeoutMs: 1000 });
  await assert.rejects(r.mailauth('nowhere.test', 'TXT'), { code: 'ENOTFOUND' });
  await assert.rejects(r.mailauth('sender.test', 'MX'), { code: 'ENODATA' });
  assert.deepEqual(await r.mailauth('sender.test', 'TXT'), [['v=spf1 ip4:192.0.2.0/24 -all']]);
  const pass = await spf({ sender: 'a@sender.test', ip: '192.0.2.55', helo: 'mx.sender.test', mta: 'mx.local.test', resolver: r.mailauth });
  assert.equal(pass.status.result, 'pass');
  const fail = await spf({ sender: 'a@sender.test', ip: '198.51.100.1', helo: 'mx.sender.test', mta: 'mx.local.test', resolver: r.mailauth });
  assert.equal(fail.status.result, 'fail');
});
