import { test } from 'node:test';
import assert from 'node:assert/strict';
import { waitUntilDeadline, type Clock } from './clock.ts';

/** A clock that only moves when told to, and records the sleeps asked of it. */
function fakeClock(): Clock & { nowMs: number; slept: number[] } {
  const clock = {
    nowMs: 0,
    slept: [] as number[],
    now: () => clock.nowMs,
    async sleep(ms: number) {
      clock.slept.push(ms);
      clock.nowMs += ms;
    },
  };
  return clock;
}

test('waitUntilDeadline sleeps only what is left of the delay after the work since the attempt began', async () => {
  const clock = fakeClock();
  const started = clock.now();
  clock.nowMs += 250; // the password check
  await waitUntilDeadline(clock, started, 1000);
  assert.deepEqual(clock.slept, [750]);
  assert.equal(clock.nowMs, started + 1000);
});

test('waitUntilDeadline does not sleep when the work outlasted the delay', async () => {
  const clock = fakeClock();
  clock.nowMs += 300;
  await waitUntilDeadline(clock, 0, 200);
  await waitUntilDeadline(clock, 0, 0);
  assert.deepEqual(clock.slept, []);
});
