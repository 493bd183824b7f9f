import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeValue, decodeValue, LineSplitter } from './protocol.ts';

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

test('LineSplitter: lines cut anywhere across chunks come out whole, the unfinished one is held and counted', () => {
  const lines = new LineSplitter();
  assert.deepEqual(lines.push('{"a"'), []);
  assert.equal(lines.pending, 4);
  assert.deepEqual(lines.push(':1}\n{"b":2}\n{"c'), ['{"a":1}', '{"b":2}']);
  assert.equal(lines.pending, 3);
  assert.deepEqual(lines.push('"'), []);
  assert.deepEqual(lines.push(':3}\n'), ['{"c":3}']);
  assert.equal(lines.pending, 0);
  assert.deepEqual(lines.push('\n\n'), ['', '']);
});

test('LineSplitter: a line of 64 MiB in 64 KiB chunks is joined once, not searched again with every chunk', () => {
  const lines = new LineSplitter();
  const chunk = 'A'.repeat(64 * 1024);
  const started = performance.now();
  for (let i = 0; i < 1024; i++) assert.deepEqual(lines.push(chunk), []);
  const [line] = lines.push('\n');
  // Appending to one string and searching it all each time took over 20 s here; this takes well under one.
  assert.ok(performance.now() - started < 5000, `${performance.now() - started} ms`);
  assert.equal(line!.length, 64 * 1024 * 1024);
});
