import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeAddress, normalizeDomain, normalizeAliasSource, parseAddress, splitSubaddress, tryParseAddress, AddressError } from './address.ts';

test('domains are lower-cased and IDNs kept in UTF-8', () => {
  assert.equal(normalizeDomain('Example.ORG'), 'example.org');
  assert.equal(normalizeDomain('example.org.'), 'example.org');
  assert.equal(normalizeDomain('BÜCHER.example'), 'bücher.example');
  assert.equal(normalizeDomain('xn--bcher-kva.example'), 'bücher.example');
});

test('addresses: local part lower-cased, angle brackets dropped', () => {
  assert.equal(normalizeAddress('Admin@Example.ORG'), 'admin@example.org');
  assert.equal(normalizeAddress(' <user+Tag@example.net> '), 'user+tag@example.net');
  assert.equal(normalizeAddress('jörg@münchen.de'), 'jörg@münchen.de');
  assert.equal(normalizeAddress("o'brien.x_y-z!#@example.org"), "o'brien.x_y-z!#@example.org");
  assert.deepEqual(parseAddress('a@B.c'), { local: 'a', domain: 'b.c', address: 'a@b.c' });
});

test('junk is rejected with a reason', () => {
  const bad: [string, RegExp][] = [
    ['', /no @/],
    ['plain', /no @/],
    ['@example.org', /empty local part/],
    ['user@', /empty/],
    ['user@localhost', /fully qualified/],
    ['user@[192.0.2.1]', /literal/],
    ['user@1.2.3.4', /IP address/],
    ['.user@example.org', /dot/],
    ['us..er@example.org', /dot/],
    [Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x40]).toString('utf8') + 'example.org', /not valid UTF-8/],
    ['user.@example.org', /dot/],
    ['us er@example.org', /character/],
    ['us(er@example.org', /character/],
    ['"quoted"@example.org', /quoted/],
    ['user@exa mple.org', /not a domain/],
    ['user@-bad.org', /invalid label/],
    ['user@under_score.org', /invalid label/],
    ['user@a..org', /empty label|not a valid/],
    [`${'a'.repeat(65)}@example.org`, /64/],
    [`u@${'a'.repeat(64)}.org`, /label|not a valid/],
    [`u@${'abcdefghi.'.repeat(26)}org`, /255|not a valid/],
    ['user@exa\u0000mple.org', /control/],
  ];
  for (const [input, reason] of bad) {
    assert.throws(() => normalizeAddress(input), (err: unknown) => err instanceof AddressError && reason.test(err.message), input);
    assert.equal(tryParseAddress(input), null, input);
  }
});

test('alias sources: addresses and @domain catch-alls', () => {
  assert.equal(normalizeAliasSource('@Example.NET'), '@example.net');
  assert.equal(normalizeAliasSource('Postmaster@example.org'), 'postmaster@example.org');
  assert.throws(() => normalizeAliasSource('@'), AddressError);
});

test('sub-addresses split at the first +', () => {
  assert.deepEqual(splitSubaddress('user+tag'), { user: 'user', detail: 'tag' });
  assert.deepEqual(splitSubaddress('user+a+b'), { user: 'user', detail: 'a+b' });
  assert.deepEqual(splitSubaddress('user+'), { user: 'user', detail: '' });
  assert.deepEqual(splitSubaddress('+tag'), { user: '+tag', detail: null });
  assert.deepEqual(splitSubaddress('user'), { user: 'user', detail: null });
});
