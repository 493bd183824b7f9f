import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeValue, decodeValue } from './protocol.ts';

const roundTrip = (v: unknown) => decodeValue(JSON.parse(JSON.stringify(encodeValue(v))));

test('buffers survive the admin socket as buffers', () => {
  const out = roundTrip({ raw: Buffer.from('hello\r\n\0'), nested: [Buffer.from([1, 2, 3])] }) as { raw: Buffer; nested: Buffer[] };
  assert.ok(Buffer.isBuffer(out.raw));
  assert.deepEqual(out.raw, Buffer.from('hello\r\n\0'));
  assert.deepEqual(out.nested[0], Buffer.from([1, 2, 3]));
});

test('undefined arguments stay undefined, not null', () => {
  const out = roundTrip([undefined, 'x', undefined]) as unknown[];
  assert.equal(out.length, 3);
  assert.equal(out[0], undefined);
  assert.equal(out[1], 'x');
  assert.equal(out[2], undefined);
});

test('plain values pass unchanged', () => {
  assert.deepEqual(roundTrip({ a: 1, b: 'two', c: [true, null], d: { e: 'f' } }), { a: 1, b: 'two', c: [true, null], d: { e: 'f' } });
});
