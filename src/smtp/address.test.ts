import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkHelo, isAddressLiteral, isFqdn, routingProblem, splitAddress } from './address.ts';
import { parseListen, trustedNetworks } from './listener.ts';

test('HELO names: valid, invalid, non-FQDN, address literals', () => {
  assert.equal(checkHelo('mail.example.org'), 'ok');
  assert.equal(checkHelo('[192.0.2.1]'), 'ok');
  assert.equal(checkHelo('[IPv6:2001:db8::1]'), 'ok');
  assert.equal(checkHelo('localhost'), 'non_fqdn');
  assert.equal(checkHelo('bad_host!.example'), 'invalid');
  assert.equal(checkHelo('[300.1.1.1]'), 'invalid');
  assert.equal(checkHelo('-leading.example.org'), 'invalid');
  assert.equal(checkHelo('a..b'), 'invalid');
  assert.equal(checkHelo('x'.repeat(64) + '.example'), 'invalid');
});

test('addresses: split at the last @, FQDN, literals', () => {
  assert.deepEqual(splitAddress('a@b.c'), { local: 'a', domain: 'b.c' });
  assert.equal(splitAddress('nodomain'), null);
  assert.equal(splitAddress('a@'), null);
  assert.ok(isFqdn('example.org'));
  assert.ok(!isFqdn('localhost'));
  assert.ok(isFqdn('[192.0.2.1]'));
  assert.ok(isAddressLiteral('[IPv6:::1]'));
  assert.ok(!isAddressLiteral('[example.org]'));
});

test('relay tricks in local parts are named', () => {
  assert.equal(routingProblem('user'), null);
  assert.equal(routingProblem('user+tag'), null);
  assert.match(routingProblem('user%remote.example')!, /%/);
  assert.match(routingProblem('remote!user')!, /!/);
  assert.match(routingProblem('"user@remote"')!, /quoted/);
});

test('listen specs and trusted networks', () => {
  assert.deepEqual(parseListen('127.0.0.1:25'), { host: '127.0.0.1', port: 25 });
  assert.deepEqual(parseListen('[::1]:587'), { host: '::1', port: 587 });
  assert.deepEqual(parseListen(':25'), { host: '0.0.0.0', port: 25 });
  assert.deepEqual(parseListen('/run/lmtp.sock'), { path: '/run/lmtp.sock' });
  const trusted = trustedNetworks(['127.0.0.0/8', '::1/128', '192.0.2.7']);
  assert.ok(trusted('127.0.0.1'));
  assert.ok(trusted('::ffff:127.0.0.1'));
  assert.ok(trusted('::1'));
  assert.ok(trusted('192.0.2.7'));
  assert.ok(!trusted('192.0.2.8'));
  assert.ok(!trusted('not an ip'));
});
