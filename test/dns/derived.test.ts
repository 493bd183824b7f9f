// Results computed from DNS answers (DerivedCache over Resolver.track()), against a real DNS server on
// loopback: reused exactly while the answers they came from are cached, recomputed afterwards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createResolver, DerivedCache } from '../../src/dns/index.ts';
import { startDnsServer } from '../helpers/dns-server.ts';

/** A computation that reads one TXT record and counts how often it runs. */
function counter(name: string) {
  let runs = 0;
  return {
    get runs() {
      return runs;
    },
    compute: async (tracker: { mailauth: (name: string, rrtype: string) => Promise<unknown> }) => {
      runs++;
      try {
        return JSON.stringify(await tracker.mailauth(name, 'TXT'));
      } catch (err) {
        return (err as { code: string }).code;
      }
    },
  };
}

test('a derived result is reused while its answers are cached and recomputed once one expires', async (t) => {
  const dns = await startDnsServer({ 'short.test': { TXT: ['one'] }, 'long.test': { TXT: ['x'] } });
  t.after(() => dns.close());
  dns.set('short.test', 'TXT', ['one'], 30);
  dns.set('long.test', 'TXT', ['x'], 3600);
  let clock = 1_000_000;
  const resolver = createResolver({ upstream: [dns.upstream], timeoutMs: 5000, now: () => clock });
  const cache = new DerivedCache<string>(resolver);
  let runs = 0;
  // Two answers with different TTLs: the result lives as long as the shorter one.
  const compute = async (tracker: { mailauth: (name: string, rrtype: string) => Promise<unknown> }) => {
    runs++;
    return JSON.stringify([await tracker.mailauth('long.test', 'TXT'), await tracker.mailauth('short.test', 'TXT')]);
  };
  assert.equal(await cache.get('k', compute), '[[["x"]],[["one"]]]');
  assert.equal(await cache.get('k', compute), '[[["x"]],[["one"]]]');
  assert.equal(runs, 1);

  dns.set('short.test', 'TXT', ['two'], 30);
  clock += 29_000;
  assert.equal(await cache.get('k', compute), '[[["x"]],[["one"]]]', 'still within the 30 s TTL: the answer the cache would give');
  assert.equal(runs, 1);
  clock += 2_000;
  assert.equal(await cache.get('k', compute), '[[["x"]],[["two"]]]', 'past the TTL: computed again from the new answer');
  assert.equal(runs, 2);
  // Another key is another computation.
  assert.equal(await cache.get('other', compute), '[[["x"]],[["two"]]]');
  assert.equal(runs, 3);
});

test('results of negative answers are reused for the negative TTL', async (t) => {
  const dns = await startDnsServer({}, { negativeTtl: 60 });
  t.after(() => dns.close());
  let clock = 1_000_000;
  const resolver = createResolver({ upstream: [dns.upstream], timeoutMs: 5000, now: () => clock });
  const cache = new DerivedCache<string>(resolver);
  const c = counter('missing.test');
  assert.equal(await cache.get('k', c.compute), 'ENOTFOUND');
  assert.equal(await cache.get('k', c.compute), 'ENOTFOUND');
  assert.equal(c.runs, 1);
  clock += 61_000;
  assert.equal(await cache.get('k', c.compute), 'ENOTFOUND');
  assert.equal(c.runs, 2);
});

test('a result that saw a failure, an uncacheable answer or a taint is never reused', async (t) => {
  const dns = await startDnsServer({ 'ok.test': { TXT: ['fine'] }, 'zero.test': { TXT: ['z'] }, 'broken.test': { TXT: ['b'] } });
  t.after(() => dns.close());
  dns.set('zero.test', 'TXT', ['z'], 0);
  dns.fail('broken.test', 'servfail');
  const resolver = createResolver({ upstream: [dns.upstream], timeoutMs: 5000 });
  const cache = new DerivedCache<string>(resolver);

  const broken = counter('broken.test');
  assert.equal(await cache.get('broken', broken.compute), 'ESERVFAIL');
  assert.equal(await cache.get('broken', broken.compute), 'ESERVFAIL');
  assert.equal(broken.runs, 2, 'a temporary failure is asked again, so is what was computed from it');

  const zero = counter('zero.test');
  await cache.get('zero', zero.compute);
  await cache.get('zero', zero.compute);
  assert.equal(zero.runs, 2, 'TTL 0: the answer is not cached, nor is the result');

  let runs = 0;
  const tainted = async (tracker: { mailauth: (n: string, r: string) => Promise<unknown>; taint(): void }) => {
    runs++;
    await tracker.mailauth('ok.test', 'TXT');
    tracker.taint();
    return 'clock-dependent';
  };
  await cache.get('tainted', tainted);
  await cache.get('tainted', tainted);
  assert.equal(runs, 2);
  assert.equal(cache.size, 0);
});

test('clearing the answer cache drops the results computed from it; the cache is bounded', async (t) => {
  const dns = await startDnsServer({ 'ok.test': { TXT: ['fine'] } });
  t.after(() => dns.close());
  const resolver = createResolver({ upstream: [dns.upstream], timeoutMs: 5000 });
  const cache = new DerivedCache<string>(resolver, 3);
  const c = counter('ok.test');
  await cache.get('k', c.compute);
  resolver.clearCache();
  dns.set('ok.test', 'TXT', ['changed']);
  assert.equal(await cache.get('k', c.compute), '[["changed"]]');
  assert.equal(c.runs, 2);
  for (const key of ['a', 'b', 'c', 'd']) await cache.get(key, c.compute);
  assert.equal(cache.size, 3);
  // The least recently used ('k', then 'a') went first.
  const before = c.runs;
  await cache.get('d', c.compute);
  await cache.get('k', c.compute);
  assert.equal(c.runs, before + 1);
});
