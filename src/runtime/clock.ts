// Time as the listeners see it when they delay a failed login: injectable so that tests of the delay
// neither sleep nor depend on how fast the machine hashes.

export interface Clock {
  /** Milliseconds on a monotonic scale: only differences mean anything. */
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/**
 * Waits until `delayMs` after `attemptStartedAt` (the clock's time when the login attempt arrived, before the
 * password was checked), not `delayMs` from now. Sleeping after the check would add the delay to the check's
 * own duration and let that duration show through (an unknown account, an imported hash); a deadline fixed
 * before the check hides it whenever the check ends in time.
 */
export async function waitUntilDeadline(clock: Clock, attemptStartedAt: number, delayMs: number): Promise<void> {
  const remainingMs = attemptStartedAt + delayMs - clock.now();
  if (remainingMs > 0) await clock.sleep(remainingMs);
}
