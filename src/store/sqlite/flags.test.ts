import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyFlags, normalizeFlags, sameFlags } from './flags.ts';
import { canonicalName, validName } from './names.ts';
import { StoreError } from '../types.ts';

test('system flags are case-normalised, keywords kept as given, duplicates and \\Recent dropped', () => {
  assert.deepEqual(normalizeFlags(['\\seen', '\\SEEN', 'Work', 'work', '\\Recent', '$Forwarded']), ['\\Seen', 'Work', '$Forwarded']);
});

test('invalid flags are refused', () => {
  for (const bad of ['', 'two words', '(x', 'a]', '\\Bogus', 'in\\side', 'x'.repeat(300)]) {
    assert.throws(() => normalizeFlags([bad]), (e: unknown) => e instanceof StoreError && e.code === 'invalid', bad);
  }
});

test('add, remove and set operate on a set', () => {
  const current = ['\\Seen', 'Work'];
  assert.deepEqual(applyFlags(current, 'add', ['\\Flagged', 'WORK']), ['\\Seen', 'Work', '\\Flagged']);
  assert.deepEqual(applyFlags(current, 'remove', ['work']), ['\\Seen']);
  assert.deepEqual(applyFlags(current, 'set', ['\\Draft']), ['\\Draft']);
  assert.equal(sameFlags(['\\Seen', 'Work'], ['work', '\\Seen']), true);
  assert.equal(sameFlags(['\\Seen'], ['\\Seen', 'x']), false);
});

test('INBOX is case-insensitive, other names exact; bad names refused', () => {
  assert.equal(canonicalName('inbox'), 'INBOX');
  assert.equal(canonicalName('Inbox/Sub'), 'INBOX/Sub');
  assert.equal(canonicalName('Inboxes'), 'Inboxes');
  assert.equal(canonicalName('Sent'), 'Sent');
  for (const bad of ['', 'a//b', '/a', 'a/', 'tab\there', 'x'.repeat(600)]) {
    assert.throws(() => validName(bad), (e: unknown) => e instanceof StoreError && e.code === 'invalid', JSON.stringify(bad));
  }
});
