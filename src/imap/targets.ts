// Turning a sequence set into the UIDs it names in the selected mailbox.
import { ImapSyntaxError } from './errors.ts';
import { resolveSet, type SequenceSet } from './parser/sequence.ts';
import type { SelectedMailbox } from './selected.ts';

/** UIDs named by `set`, ascending. By sequence number, a number past the end is a client error
 * (RFC 9051 6.4.8 / 9: seq-number must be a valid number); by UID, unknown UIDs are simply skipped. */
export function targetUids(selected: SelectedMailbox, set: SequenceSet, byUid: boolean, saved: readonly number[]): number[] {
  if (set.kind === 'saved') {
    // RFC 5182 2.1: "$" is the saved result (kept as UIDs), restricted to messages that still exist.
    return saved.filter((uid) => selected.seqOf(uid) > 0).sort((a, b) => a - b);
  }
  if (byUid) return resolveSet(set.ranges, selected.uids);
  const n = selected.exists;
  // An empty mailbox: "1:*" names nothing; clients send it anyway, so it is not an error.
  if (n === 0) return [];
  for (const r of set.ranges) {
    if (r.from > n || r.to > n) throw new ImapSyntaxError(`Invalid message sequence number (the mailbox has ${n} messages)`);
  }
  const seqs = resolveSet(set.ranges, selected.sequenceNumbers());
  return seqs.map((s) => selected.uidAt(s) as number);
}
