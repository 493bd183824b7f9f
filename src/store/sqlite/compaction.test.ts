import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planCompaction, SMALL_SEGMENT_BYTES, type SegmentUsage } from './compaction.ts';

const NOW = Date.UTC(2025, 0, 1);
const TWO_HOURS_MS = 2 * 60 * 60 * 1000;
const MiB = 1024 * 1024;

function file(segment: number, fileBytes: number, liveBytes = fileBytes, modifiedMs = NOW - TWO_HOURS_MS): SegmentUsage {
  return { segment, fileBytes, liveBytes, records: liveBytes > 0 ? 1 : 0, modifiedMs };
}

const serve = { minDeadRatio: 0.5, exclusive: true, nowMs: NOW };
const direct = { ...serve, exclusive: false };

test('two or more small live files are merged; one alone is left', () => {
  assert.deepEqual(planCompaction([file(1, 20_000), file(2, 20_000), file(3, 40 * MiB)], serve), { rewrite: [], merge: [1, 2] });
  assert.deepEqual(planCompaction([file(1, 20_000), file(3, 40 * MiB)], serve), { rewrite: [], merge: [] });
});

test('a file of SMALL_SEGMENT_BYTES or more is not small', () => {
  assert.deepEqual(planCompaction([file(1, SMALL_SEGMENT_BYTES - 1), file(2, SMALL_SEGMENT_BYTES)], serve).merge, []);
});

test('a mostly dead small file is merged with the others; a mostly dead large one is rewritten; an empty one goes', () => {
  const plan = planCompaction([file(1, 1 * MiB, 0.1 * MiB), file(2, 20_000), file(3, 40 * MiB, 1 * MiB), file(4, 5 * MiB, 0)], serve);
  assert.deepEqual(plan, { rewrite: [3, 4], merge: [1, 2] });
});

test('beside other processes, a small file written to within the hour is not merged', () => {
  const young = file(3, 20_000, 20_000, NOW - 1000);
  assert.deepEqual(planCompaction([file(1, 20_000), file(2, 20_000), young], direct).merge, [1, 2]);
  assert.deepEqual(planCompaction([file(1, 20_000), young], direct).merge, []);
  assert.deepEqual(planCompaction([file(1, 20_000), young], serve).merge, [1, 3]);
});

test('beside other processes, a file no row references that was written to within the hour is left (another writer may be filling it); alone, it goes', () => {
  const filling = file(5, 120_000, 0, NOW - 1000);
  const emptiedLongAgo = file(6, 120_000, 0);
  assert.deepEqual(planCompaction([filling, emptiedLongAgo], direct).rewrite, [6]);
  assert.deepEqual(planCompaction([filling, emptiedLongAgo], serve).rewrite, [5, 6]);
});
