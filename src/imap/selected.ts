// The selected mailbox of one session: its UID -> sequence number map and the changes other sessions
// (and deliveries) made that this client has not been told about yet.
//
// Implementation notes:
// - Changes arrive from store.changes at any time; they are queued and only reported at the points
//   RFC 9051 7.4.1 / 5.5 allow (flush). Expunges are withheld during FETCH/STORE/SEARCH/COPY by sequence
//   number so that the client's sequence numbers stay valid for the command it is running.
// - The session's own changes are applied directly (own EXPUNGE, own APPEND); the same change arriving
//   later from the feed is recognised and dropped (UID already gone / already known / modseq not newer).
import type { Mailbox, MailboxChange, MessageMeta } from '../store/types.ts';
import type { Chunk } from './encoder.ts';
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

export class SelectedMailbox {
  /** Ascending UIDs; the sequence number of uids[i] is i + 1. */
  uids: number[];
  /** Highest modseq this session knows per UID: drops stale or self-caused flag changes. */
  private readonly modseqs = new Map<number, number>();
  private pending: MailboxChange[] = [];
  private unsubscribe: (() => void) | null = null;
  private waiter: (() => void) | null = null;
  /** Set when the mailbox was deleted by someone else. */
  deleted = false;
  /** Number of messages the client was last told (EXISTS). */
  private reportedExists: number;

  constructor(
    readonly mailbox: Mailbox,
    readonly readOnly: boolean,
    messages: readonly MessageMeta[],
  ) {
    this.uids = messages.map((m) => m.uid);
    for (const m of messages) this.modseqs.set(m.uid, m.modseq);
    this.reportedExists = this.uids.length;
  }

  /** Buffers feed changes; call before reading the message list so that nothing falls in between. */
  static subscribeFirst(subscribe: (listener: (c: MailboxChange) => void) => () => void): { buffer: MailboxChange[]; unsubscribe: () => void; attach: (s: SelectedMailbox) => void } {
    const buffer: MailboxChange[] = [];
    let target: SelectedMailbox | null = null;
    const unsubscribe = subscribe((change) => {
      if (target) target.onChange(change);
      else buffer.push(change);
    });
    return {
      buffer,
      unsubscribe,
      attach: (s) => {
        target = s;
        s.unsubscribe = unsubscribe;
        for (const c of buffer) s.onChange(c);
        buffer.length = 0;
      },
    };
  }

  get exists(): number {
    return this.uids.length;
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
    this.unsubscribe?.();
    this.unsubscribe = null;
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  seqOf(uid: number): number {
    let lo = 0;
    let hi = this.uids.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const u = this.uids[mid] as number;
      if (u === uid) return mid + 1;
      if (u < uid) lo = mid + 1;
      else hi = mid;
    }
    return 0;
  }

  uidAt(seq: number): number | undefined {
    return this.uids[seq - 1];
  }

  /** Sequence numbers 1..n (for resolving sequence sets). */
  sequenceNumbers(): number[] {
    return this.uids.map((_, i) => i + 1);
  }

  knownModseq(uid: number): number {
    return this.modseqs.get(uid) ?? 0;
  }

  /** Records a modseq the session itself caused (own STORE), so the feed's copy is not reported again. */
  noteModseq(uid: number, modseq: number): void {
    if (this.seqOf(uid) > 0 && modseq > (this.modseqs.get(uid) ?? 0)) this.modseqs.set(uid, modseq);
  }

  /** Own APPEND/COPY/MOVE into this mailbox: add the UID now so EXISTS is exact at the tagged OK. */
  noteExists(uid: number, modseq: number): void {
    const last = this.uids[this.uids.length - 1] ?? 0;
    if (uid > last) {
      this.uids.push(uid);
      this.modseqs.set(uid, modseq);
    }
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
          this.noteExists(change.uid, change.modseq);
          break;
        case 'expunge':
          if (!options.allowExpunge) {
            keep.push(change);
            break;
          }
          this.reportExists(out);
          this.removeUids(change.uids, options, out);
          break;
        case 'flags': {
          const seq = this.seqOf(change.uid);
          if (seq === 0 || change.modseq <= (this.modseqs.get(change.uid) ?? 0)) break;
          this.modseqs.set(change.uid, change.modseq);
          // A new message's flags are reported with it (a FETCH before its EXISTS would be a bad number).
          if (seq > this.reportedExists) break;
          const modseq = options.condstore ? ` MODSEQ (${change.modseq})` : '';
          out.push([`* ${seq} FETCH (UID ${change.uid} FLAGS ${options.flagList(change.flags)}${modseq})`]);
          break;
        }
        case 'deleted':
          this.deleted = true;
          break;
      }
    }
    this.pending = keep.concat(this.pending);
    this.reportExists(out);
    return out;
  }

  private reportExists(out: Chunk[][]): void {
    if (this.uids.length !== this.reportedExists) {
      // Only growth is reported as EXISTS; shrinking is reported by the EXPUNGE responses themselves.
      if (this.uids.length > this.reportedExists) out.push([`* ${this.uids.length} EXISTS`]);
      this.reportedExists = this.uids.length;
    }
  }

  private removeUids(uids: readonly number[], options: FlushOptions, out: Chunk[][]): void {
    const remove = new Set(uids);
    const goneSeqs: number[] = [];
    const gone: number[] = [];
    const kept: number[] = [];
    this.uids.forEach((uid, i) => {
      if (remove.has(uid)) {
        goneSeqs.push(i + 1);
        gone.push(uid);
        this.modseqs.delete(uid);
      } else {
        kept.push(uid);
      }
    });
    if (gone.length === 0) return;
    this.uids = kept;
    this.reportedExists = kept.length;
    if (options.vanished) {
      out.push([`* VANISHED ${formatSet(gone)}`]);
    } else {
      // Highest first: each EXPUNGE then leaves the numbers below it unchanged (RFC 9051 7.5.1).
      for (let i = goneSeqs.length - 1; i >= 0; i--) out.push([`* ${goneSeqs[i]} EXPUNGE`]);
    }
  }
}
