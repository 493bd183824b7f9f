import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fromDomain } from './submission.ts';

const withFrom = (from: string) => Buffer.from(`From: ${from}\r\nSubject: x\r\n\r\nbody\r\n`);

test('the signing domain is the From address\'s, else the envelope sender\'s', () => {
  assert.equal(fromDomain(withFrom('Alice <alice@Example.ORG>'), 'env@env.example'), 'example.org');
  assert.equal(fromDomain(withFrom('alice@example.org'), 'env@env.example'), 'example.org');
  assert.equal(fromDomain(withFrom('bob@b.example (Bob), c@c.example'), 'env@env.example'), 'b.example');
  assert.equal(fromDomain(withFrom('@nothing user@ plain'), 'env@env.example'), 'env.example');
  assert.equal(fromDomain(Buffer.from('Subject: no from\r\n\r\n'), 'env@env.example'), 'env.example');
});

test('a long From without an address costs linear time', () => {
  const start = performance.now();
  assert.equal(fromDomain(withFrom('a'.repeat(200_000)), 'env@env.example'), 'env.example');
  assert.equal(fromDomain(withFrom('a'.repeat(3000) + ' x@long.example'), 'env@env.example'), 'long.example');
  assert.ok(performance.now() - start < 2000, 'bounded time');
});
