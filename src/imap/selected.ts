// The selected mailbox of one session: its UID -> sequence number map and the changes other sessions
// (and deliveries) made that this client has not been told about yet.
//
// Implementation notes:
// - The mailbox's current messages, flags and modseqs live in a MailboxState shared by every session that
//   selected the mailbox (mailbox-state.ts). This class holds what is the session's own: the sequence map as
//   the client knows it, the changes not yet reported, and the modseqs the session caused itself.
// - Changes arrive from the state at any time; they are queued and only reported at the points
//   RFC 9051 7.4.1 / 5.5 allow (flush). Expunges are withheld during FETCH/STORE/SEARCH/COPY by sequence
//   number so that the client's sequence numbers stay valid for the command it is running.
// - The sequence map is (array, length). While it equals the state's, it is the state's own UID array
//   (never changed below its count in place), so an idle session costs no per-message memory. It becomes a
//   private copy when it must differ (an expunge not yet reported), and goes back to the shared one once
//   every queued change has been reported.
// - The session's own changes are applied directly (own EXPUNGE, own APPEND); the same change arriving
//   later from the feed is recognised and dropped (UID already gone / already known / own modseq).
import type { Mailbox, MailboxChange } from '../store/types.ts';
import type { Chunk } from './encoder.ts';
import type { MailboxState } from './mailbox-state.ts';
import { formatSet } from './parser/sequence.ts';

export interface FlushOptions {
  allowExpunge: boolean;
  /** QRESYNC enabled: report expunges as VANISHED (RFC 7162 3.2.10). */
  vanished: boolean;
  /** CONDSTORE enabled: unsolicited FETCH carries MODSEQ (RFC 7162 3.1.4). */
  condstore: boolean;
  /** Encodes a flag list as the session sends it. */
  flagList: (flags: readonly string[]) => string;
}

/** Unsolicited FETCH lines joined into one response chunk: a bulk flag change of another session is then a
 * few large writes, not one per message. */
const LINES_PER_CHUNK = 1024;

export class SelectedMailbox {
  /** The sequence map: seq n is view[n - 1], for n in 1..length. */
  private view: Uint32Array;
  private length: number;
  /** The view is this session's own copy (may be written), not the shared state's array. */
  private owned = false;
  /** Modseqs of changes this session made itself (own STORE, FETCH setting \Seen): their feed copies
   * are not reported back. Emptied at each flush, which sees every change made before it. */
  private readonly ownModseqs = new Set<number>();
  private pending: MailboxChange[] = [];
  private unlisten: (() => void) | null = null;
  private waiter: (() => void) | null = null;
  /** Set when the mailbox was deleted by someone else. */
  deleted = false;
  /** Number of messages the client was last told (EXISTS). */
  private reportedExists: number;

  constructor(
    readonly mailbox: Mailbox,
    readonly readOnly: boolean,
    readonly state: MailboxState,
    /** Called once at close (releases the shared state). */
    private readonly onClose: () => void = () => {},
  ) {
    this.view = state.uids;
    this.length = state.count;
    this.reportedExists = this.length;
    this.deleted = state.deleted;
    this.unlisten = state.listen((change) => this.onChange(change));
  }

  /** Ascending UIDs; the sequence number of uids[i] is i + 1. A view: do not keep it across commands. */
  get uids(): Uint32Array {
    return this.view.subarray(0, this.length);
  }

  get exists(): number {
    return this.length;
  }

  /** Highest modseq known for the mailbox (SELECT's HIGHESTMODSEQ). */
  get highestModseq(): number {
    return this.state.highestModseq;
  }

  private onChange(change: MailboxChange): void {
    this.pending.push(change);
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  /** True when a flush might report something. */
  get hasPending(): boolean {
    return this.pending.length > 0;
  }

  /** Resolves at the next change (for IDLE). */
  nextChange(): Promise<void> {
    if (this.pending.length > 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  close(): void {
    if (this.unlisten) {
      this.unlisten();
      this.unlisten = null;
      this.onClose();
    }
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  seqOf(uid: number): number {
    let lo = 0;
    let hi = this.length;
    const view = this.view;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const u = view[mid] as number;
      if (u === uid) return mid + 1;
      if (u < uid) lo = mid + 1;
      else hi = mid;
    }
    return 0;
  }

  uidAt(seq: number): number | undefined {
    return seq >= 1 && seq <= this.length ? this.view[seq - 1] : undefined;
  }

  /** Sequence numbers 1..n (for resolving sequence sets). */
  sequenceNumbers(): number[] {
    const out = new Array<number>(this.length);
    for (let i = 0; i < this.length; i++) out[i] = i + 1;
    return out;
  }

  /** Where the message with sequence number `seq` is in the shared state, or -1 when it is gone there
   * (expunged by another session, not yet reported to this one). */
  stateIndex(seq: number): number {
    const i = seq - 1;
    // Same array: the same UID at the same index (the state never rewrites an array below its count).
    if (this.view === this.state.uids && i < this.state.count) return i;
    return this.state.indexOf(this.view[i] as number, i);
  }

  /** Records a change the session made itself (own STORE, \Seen set by FETCH), by its modseq. */
  noteOwnChange(modseq: number): void {
    if (modseq > 0) this.ownModseqs.add(modseq);
  }

  /** Own APPEND/COPY/MOVE into this mailbox: add the UID now so EXISTS is exact at the tagged OK. */
  noteExists(uid: number): void {
    this.insertUid(uid);
  }

  /** Own EXPUNGE/MOVE: removes the UIDs and returns the responses for them. */
  applyExpunge(uids: readonly number[], options: FlushOptions): Chunk[][] {
    const out: Chunk[][] = [];
    this.reportExists(out);
    this.removeUids(uids, options, out);
    return out;
  }

  /** Reports queued changes as untagged responses. */
  flush(options: FlushOptions): Chunk[][] {
    const out: Chunk[][] = [];
    const keep: MailboxChange[] = [];
    const changes = this.pending;
    this.pending = [];
    for (const change of changes) {
      switch (change.kind) {
        case 'exists':
          this.insertUid(change.uid);
          break;
        case 'expunge':
          if (!options.allowExpunge) {
            keep.push(change);
            break;
          }
          this.reportExists(out);
          this.removeUids(change.uids, options, out);
          break;
        case 'flags':
          if (this.ownModseqs.has(change.modseq)) break;
          this.reportFlags(change.uids, change.flags, change.modseq, options, out);
          break;
        case 'deleted':
          this.deleted = true;
          break;
      }
    }
    this.ownModseqs.clear();
    this.pending = keep.concat(this.pending);
    this.reportExists(out);
    if (this.pending.length === 0) this.rejoin();
    return out;
  }

  /** Another session's flag change: one FETCH per message the client knows, in sequence order. */
  private reportFlags(uids: readonly number[], flags: readonly string[], modseq: number, options: FlushOptions, out: Chunk[][]): void {
    const list = options.flagList(flags);
    const tail = options.condstore ? ` MODSEQ (${modseq}))` : ')';
    let lines: string[] = [];
    let p = 0;
    for (const uid of uids) {
      // Both ascend: walk the view forward instead of searching it per UID.
      while (p < this.length && (this.view[p] as number) < uid) p++;
      if (p >= this.length) break;
      if (this.view[p] !== uid) continue;
      // A new message's flags are reported with it (a FETCH before its EXISTS would be a bad number).
      if (p + 1 > this.reportedExists) break;
      lines.push(`* ${p + 1} FETCH (UID ${uid} FLAGS ${list}${tail}`);
      if (lines.length === LINES_PER_CHUNK) {
        out.push([lines.join('\r\n')]);
        lines = [];
      }
    }
    if (lines.length > 0) out.push([lines.join('\r\n')]);
  }

  /** Back to the shared UID array once this session's view equals the state's again. */
  private rejoin(): void {
    const state = this.state;
    if (this.view === state.uids || this.length !== state.count) return;
    for (let i = 0; i < this.length; i++) if (this.view[i] !== state.uids[i]) return;
    this.view = state.uids;
    this.owned = false;
  }

  private insertUid(uid: number): void {
    const n = this.length;
    const last = n > 0 ? (this.view[n - 1] as number) : 0;
    if (uid > last) {
      // The slot past the end already holds this UID (the shared array, where the state wrote it): extend.
      if (n < this.view.length && this.view[n] === uid) {
        this.length++;
        return;
      }
      // The state outgrew the array this view shares: the new one starts with the same UIDs.
      const state = this.state;
      if (!this.owned && this.view === state.grownFrom && n < state.count && state.uids[n] === uid) {
        this.view = state.uids;
        this.length++;
        return;
      }
      if (!this.owned || n === this.view.length) this.copyView(n + 1 + Math.max(16, n >> 3));
      this.view[n] = uid;
      this.length++;
      return;
    }
    // Below the last: only when an own APPEND got ahead of another delivery's queued EXISTS.
    if (this.seqOf(uid) > 0) return;
    let at = n;
    while (at > 0 && (this.view[at - 1] as number) > uid) at--;
    const next = new Uint32Array(n + 1 + Math.max(16, n >> 3));
    next.set(this.view.subarray(0, at));
    next[at] = uid;
    next.set(this.view.subarray(at, n), at + 1);
    this.view = next;
    this.owned = true;
    this.length++;
  }

  private copyView(capacity: number): void {
    const next = new Uint32Array(capacity);
    next.set(this.view.subarray(0, this.length));
    this.view = next;
    this.owned = true;
  }

  private reportExists(out: Chunk[][]): void {
    if (this.length !== this.reportedExists) {
      // Only growth is reported as EXISTS; shrinking is reported by the EXPUNGE responses themselves.
      if (this.length > this.reportedExists) out.push([`* ${this.length} EXISTS`]);
      this.reportedExists = this.length;
    }
  }

  private removeUids(uids: readonly number[], options: FlushOptions, out: Chunk[][]): void {
    const remove = new Set(uids);
    const goneSeqs: number[] = [];
    const gone: number[] = [];
    for (let i = 0; i < this.length; i++) {
      const uid = this.view[i] as number;
      if (remove.has(uid)) {
        goneSeqs.push(i + 1);
        gone.push(uid);
      }
    }
    if (gone.length === 0) return;
    const kept = new Uint32Array(this.length - gone.length + 16);
    let j = 0;
    for (let i = 0; i < this.length; i++) {
      const uid = this.view[i] as number;
      if (!remove.has(uid)) kept[j++] = uid;
    }
    this.view = kept;
    this.owned = true;
    this.length = j;
    this.reportedExists = j;
    if (options.vanished) {
      out.push([`* VANISHED ${formatSet(gone)}`]);
    } else {
      // Highest first: each EXPUNGE then leaves the numbers below it unchanged (RFC 9051 7.5.1).
      for (let i = goneSeqs.length - 1; i >= 0; i--) out.push([`* ${goneSeqs[i]} EXPUNGE`]);
    }
  }
}
