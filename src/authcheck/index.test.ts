import { test } from 'node:test';
import assert from 'node:assert/strict';
import { authenticate } from 'mailauth';
import { createResolver } from '../dns/index.ts';
import { startDnsServer } from '../../test/helpers/dns-server.ts';
import { checkInbound, createAuthCheckCache, ownAuthResults, removeForgedAuthResults } from './index.ts';

const unfold = (lines: string[]) => lines.map((l) => l.replace(/\r\n[ \t]+/g, ' ').replace(/\s+/g, ' ').trim());

test('unsigned mail: the fast path gives the same header fields as mailauth authenticate()', async () => {
  const dns = await startDnsServer({
    'pass.test': { TXT: ['v=spf1 ip4:127.0.0.1 -all'] },
    '_dmarc.pass.test': { TXT: ['v=DMARC1; p=reject'] },
    'fail.test': { TXT: ['v=spf1 ip4:192.0.2.1 -all'] },
    '_dmarc.fail.test': { TXT: ['v=DMARC1; p=quarantine'] },
    'none.test': { A: ['192.0.2.2'] },
  });
  try {
    const resolver = createResolver({ upstream: [dns.upstream], timeoutMs: 1000 });
    const cases = [
      { sender: 'a@pass.test', from: 'A <a@pass.test>' },
      { sender: 'a@fail.test', from: 'a@fail.test' },
      { sender: 'a@none.test', from: '"Quoted, Name" <a@none.test>' },
      { sender: '', from: 'a@pass.test' },
      { sender: 'a@pass.test', from: 'a@pass.test, b@fail.test' },
      { sender: 'a@pass.test', from: null },
    ];
    for (const c of cases) {
      const raw = Buffer.from(`${c.from ? `From: ${c.from}\r\n` : ''}To: x@example.org\r\nSubject: s\r\n\r\nbody\r\n`);
      const ours = await checkInbound({ raw, ip: '127.0.0.1', helo: 'client.pass.test', sender: c.sender, hostname: 'mx.example.org', resolver: resolver.mailauth, timeoutMs: 5000, honourReject: true, honourQuarantine: true });
      const theirs = await authenticate(raw, { ip: '127.0.0.1', helo: 'client.pass.test', sender: c.sender, mta: 'mx.example.org', resolver: resolver.mailauth as never, disableBimi: true, disableArc: true });
      const expected = theirs.headers.replace(/\r\n$/, '').split(/\r\n(?![ \t])/);
      assert.deepEqual(unfold(ours.headers), unfold(expected), JSON.stringify(c));
    }
  } finally {
    await dns.close();
  }
});

test('forged Authentication-Results: only those naming our authserv-id are removed', () => {
  const raw = Buffer.from('Authentication-Results: MX.example.org; dkim=pass\r\nAuthentication-Results: mx.example.org.evil; spf=pass\r\nAuthentication-Results:\r\n mx.example.org 1; dmarc=pass\r\nSubject: s\r\n\r\nAuthentication-Results: mx.example.org; in the body\r\n');
  const clean = removeForgedAuthResults(raw, 'mx.example.org');
  assert.equal(clean.toString(), 'Authentication-Results: mx.example.org.evil; spf=pass\r\nSubject: s\r\n\r\nAuthentication-Results: mx.example.org; in the body\r\n');
  assert.deepEqual(ownAuthResults(clean, 'mx.example.org'), []);
});

test('with a cache, SPF and DMARC results are reused and the verdict stays the same; %{t} records are not reused', async () => {
  const dns = await startDnsServer({
    'pass.test': { TXT: ['v=spf1 ip4:127.0.0.1 -all'] },
    '_dmarc.pass.test': { TXT: ['v=DMARC1; p=reject'] },
    // RFC 7208 7.3: "t" is the current time, so this record's verdict depends on the clock.
    'clock.test': { TXT: ['v=spf1 exists:%{t}.ts.clock.test ip4:127.0.0.1 -all'] },
  });
  try {
    const resolver = createResolver({ upstream: [dns.upstream], timeoutMs: 1000 });
    const cache = createAuthCheckCache(resolver);
    const check = (sender: string, from: string, withCache: boolean) =>
      checkInbound({
        raw: Buffer.from(`From: ${from}\r\nTo: x@example.org\r\nSubject: s\r\n\r\nbody\r\n`),
        ip: '127.0.0.1',
        helo: 'client.pass.test',
        sender,
        hostname: 'mx.example.org',
        resolver: resolver.mailauth,
        timeoutMs: 5000,
        honourReject: true,
        honourQuarantine: true,
        ...(withCache ? { cache } : {}),
      });
    const plain = await check('a@pass.test', 'a@pass.test', false);
    const first = await check('a@pass.test', 'a@pass.test', true);
    const second = await check('a@pass.test', 'a@pass.test', true);
    assert.deepEqual(first, plain);
    assert.deepEqual(second, plain);
    assert.equal(cache.spf.size, 1);
    assert.equal(cache.dmarc.size, 1);
    // Another From with the same SPF identity: the SPF result is shared, DMARC is evaluated for it.
    const other = await check('a@pass.test', 'b@clock.test', true);
    assert.deepEqual(other, await check('a@pass.test', 'b@clock.test', false));
    assert.equal(cache.spf.size, 1);
    assert.equal(cache.dmarc.size, 2);

    const clocked = await check('a@clock.test', 'a@clock.test', true);
    assert.equal(clocked.spf, 'pass');
    assert.deepEqual(clocked, await check('a@clock.test', 'a@clock.test', false));
    assert.equal(cache.spf.size, 1, 'the %{t} record made its SPF result non-reusable');
  } finally {
    await dns.close();
  }
});
