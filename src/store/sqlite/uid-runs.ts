// UID lists as runs of nearby UIDs, so the reader and the writer touch a mailbox's messages with range
// scans over the (mailbox_id, uid) primary key instead of an IN list or one seek per UID.

export interface UidRun {
  first: number;
  last: number;
  /** The UIDs wanted in first..last, or null when that is every UID from first to last. */
  wanted: Set<number> | null;
}

/**
 * A requested UID list cut into runs for range queries: sorted and deduplicated, a new run starts where the
 * next UID is more than MAX_RUN_GAP past the previous one, so a run reads at most MAX_RUN_GAP rows per
 * requested UID that it then drops.
 */
export function uidRuns(uids: readonly number[]): UidRun[] {
  let sorted = true;
  for (let i = 1; i < uids.length; i++) {
    if ((uids[i] as number) <= (uids[i - 1] as number)) {
      sorted = false;
      break;
    }
  }
  const list = sorted ? uids : [...new Set(uids)].sort((a, b) => a - b);
  const runs: UidRun[] = [];
  let start = 0;
  for (let i = 1; i <= list.length; i++) {
    if (i < list.length && (list[i] as number) - (list[i - 1] as number) <= MAX_RUN_GAP) continue;
    const first = list[start] as number;
    const last = list[i - 1] as number;
    runs.push({ first, last, wanted: last - first === i - 1 - start ? null : new Set(list.slice(start, i)) });
    start = i;
  }
  return runs;
}

/** Rows read and dropped per wanted UID at most, in a range query (a B-tree step costs far less than a seek). */
const MAX_RUN_GAP = 8;
