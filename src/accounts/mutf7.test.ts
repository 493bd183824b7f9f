import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeMutf7, encodeMutf7 } from './mutf7.ts';

test('RFC 3501 5.1.3 example and common names round-trip', () => {
  // The RFC's example: "~peter/mail/台北/日本語".
  assert.equal(encodeMutf7('~peter/mail/\u53f0\u5317/\u65e5\u672c\u8a9e'), '~peter/mail/&U,BTFw-/&ZeVnLIqe-');
  assert.equal(decodeMutf7('~peter/mail/&U,BTFw-/&ZeVnLIqe-'), '~peter/mail/\u53f0\u5317/\u65e5\u672c\u8a9e');
  for (const name of ['Entwürfe', 'Gelöschte Elemente', 'A & B', '&', 'Émoji 😀 box', 'plain']) {
    assert.equal(decodeMutf7(encodeMutf7(name)), name);
  }
  assert.equal(encodeMutf7('Entwürfe'), 'Entw&APw-rfe');
  assert.equal(encodeMutf7('A & B'), 'A &- B');
});

test('malformed names are refused', () => {
  for (const bad of ['&', '&abc', '&!!-', '&AP-']) assert.throws(() => decodeMutf7(bad), { name: 'Error' }, bad);
});
