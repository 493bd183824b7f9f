import { test } from 'node:test';
import assert from 'node:assert/strict';
import { headerBlockEnd, headerFields, headerValues, prependHeaderLines, removeHeaderFields, toCrlf, isSafeHeaderLine } from './headers.ts';

const msg = Buffer.from('Received: from a\r\n\tby b\r\nAuthentication-Results: mx.example.org; spf=pass\r\nSubject: hi\r\n\r\nbody\r\nSubject: not a header\r\n');

test('header fields: folding kept together, body untouched', () => {
  assert.equal(headerBlockEnd(msg), msg.indexOf('body'));
  const fields = headerFields(msg);
  assert.deepEqual(fields.map((f) => f.name), ['Received', 'Authentication-Results', 'Subject']);
  assert.deepEqual(headerValues(msg, 'received'), ['from a by b']);
  assert.deepEqual(headerValues(msg, 'Subject'), ['hi']);
});

test('removing fields is byte-exact for the rest', () => {
  const out = removeHeaderFields(msg, (name) => name.toLowerCase() === 'authentication-results');
  assert.equal(out.toString(), 'Received: from a\r\n\tby b\r\nSubject: hi\r\n\r\nbody\r\nSubject: not a header\r\n');
  assert.equal(removeHeaderFields(msg, () => false), msg);
});

test('prepending refuses header injection', () => {
  assert.equal(prependHeaderLines(Buffer.from('X: y\r\n\r\n'), ['A: 1', 'B: 2\r\n\tcont']).toString(), 'A: 1\r\nB: 2\r\n\tcont\r\nX: y\r\n\r\n');
  assert.ok(!isSafeHeaderLine('A: 1\r\nInjected: yes'));
  assert.ok(!isSafeHeaderLine('A: 1\nB: 2'));
  assert.throws(() => prependHeaderLines(Buffer.from(''), ['Bad line']));
});

test('bare LF becomes CRLF; CRLF input is returned as is', () => {
  assert.equal(toCrlf(Buffer.from('a\nb\r\nc\n')).toString(), 'a\r\nb\r\nc\r\n');
  const crlf = Buffer.from('a\r\nb\r\n');
  assert.equal(toCrlf(crlf), crlf);
});
