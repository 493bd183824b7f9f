import { test } from 'node:test';
import assert from 'node:assert/strict';
import { uidRuns } from './uid-runs.ts';

test('uidRuns: contiguous UIDs make one run with no filter', () => {
  assert.deepEqual(uidRuns([1, 2, 3, 4]), [{ first: 1, last: 4, wanted: null }]);
});

test('uidRuns: small gaps stay in a run with a filter, large gaps split runs; input order and duplicates do not matter', () => {
  const runs = uidRuns([100, 3, 1, 5, 3, 1000]);
  assert.equal(runs.length, 3);
  assert.deepEqual(runs[0], { first: 1, last: 5, wanted: new Set([1, 3, 5]) });
  assert.deepEqual(runs[1], { first: 100, last: 100, wanted: null });
  assert.deepEqual(runs[2], { first: 1000, last: 1000, wanted: null });
});

test('uidRuns: an empty list makes no run', () => {
  assert.deepEqual(uidRuns([]), []);
});
