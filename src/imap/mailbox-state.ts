// What this process knows of a selected mailbox right now: every message's UID, flags and modseq, shared
// by all sessions that have the mailbox selected and kept current from the store's change feed.
//
// Why: FETCH 1:* (FLAGS) and SELECT used to read every message row from the store; with the state here they
// are answered from memory, and a second session selecting the same mailbox costs no store read and almost
// no memory (its sequence map is a view of the same UID array until the two differ).
//
// Implementation notes:
// - One MailboxState per (store, mailbox), reference-counted by the sessions that selected it; it
//   subscribes to the feed once, applies each change, then hands it to its sessions in the same order.
//   Released by its last session, it lingers (lingerMs), still following the feed, before it is freed.
// - Loading: subscribe first, then read the list; changes that arrive in between are applied after the
//   list, and recognised when the list already holds them (UID present, modseq not newer, UID gone).
// - Memory: 16 bytes per message (Uint32 UID, Uint32 flag-set id, Float64 modseq), once per mailbox and
//   process. Flags are interned: a mailbox has few distinct flag sets, each kept once with its wire form.
// - The UID array is never changed below `count` in place: appends write past `count` (a larger array is a
//   copy), an expunge builds new arrays. A session can therefore keep (array, length) as its sequence map
//   and share it with this state until its own view must differ (withheld expunges).
import type { MailboxChange, MessageMeta, Store } from '../store/types.ts';
import { formatFlags } from './flags.ts';

/** Flag sets kept beyond those in use before the table is rebuilt: bounds what flag churn can leave. */
const FLAG_SET_SLACK = 1024;
/** Initial room for messages beyond what the mailbox holds at load. */
const GROW_MIN = 64;

export class FlagSets {
  /** id -> flags as the store spells them. */
  lists: (readonly string[])[] = [];
  /** id -> the IMAP flag list, e.g. "(\Seen $Label)". */
  wire: string[] = [];
  /** id -> the set holds \Seen (SELECT's UNSEEN, SEARCH). */
  seen: boolean[] = [];
  private byKey = new Map<string, number>();

  intern(flags: readonly string[]): number {
    // Flags are atoms: a space never occurs in one, so the joined list is an exact key.
    const key = flags.join(' ');
    let id = this.byKey.get(key);
    if (id === undefined) {
      id = this.lists.length;
      this.lists.push(flags.slice());
      this.wire.push(formatFlags(flags));
      this.seen.push(flags.includes('\\Seen'));
      this.byKey.set(key, id);
    }
    return id;
  }

  get size(): number {
    return this.lists.length;
  }
}

type Listener = (change: MailboxChange) => void;

export class MailboxState {
  /** Ascending UIDs in [0, count); see the notes above on sharing. */
  uids: Uint32Array;
  /** Flag-set id per message, parallel to uids (changed in place). */
  flagIds: Uint32Array;
  /** Modseq per message, parallel to uids (changed in place). Float64: modseqs are 63-bit in RFC 7162. */
  modseqs: Float64Array;
  count = 0;
  /** The UID array before the last growth: its whole content is the start of `uids`, so sessions still on it
   * can move to the new one without comparing. */
  grownFrom: Uint32Array | null = null;
  flags = new FlagSets();
  /** Highest modseq seen in the list or the feed. */
  highestModseq = 0;
  deleted = false;
  /** Sessions holding this state; at 0 it stops following the feed (closed) and leaves the registry. */
  private refs = 0;
  private closed = false;
  private linger: ReturnType<typeof setTimeout> | null = null;
  private readonly listeners = new Set<Listener>();
  private unsubscribe: (() => void) | null = null;

  private constructor(readonly mailboxId: number) {
    this.uids = new Uint32Array(0);
    this.flagIds = new Uint32Array(0);
    this.modseqs = new Float64Array(0);
  }

  /** The shared state of a mailbox, loaded on first use. Pair with release(). */
  static async acquire(store: Store, mailboxId: number): Promise<MailboxState> {
    let perStore = registry.get(store);
    if (!perStore) registry.set(store, (perStore = new Map()));
    const table = perStore;
    for (;;) {
      let entry = table.get(mailboxId);
      if (!entry) {
        const created: Entry = { loading: MailboxState.load(store, mailboxId), state: null };
        table.set(mailboxId, created);
        created.loading.then(
          (state) => {
            created.state = state;
          },
          // A failed load is forgotten so that the next SELECT tries again.
          () => {
            if (table.get(mailboxId) === created) table.delete(mailboxId);
          },
        );
        entry = created;
      }
      const state = await entry.loading;
      // Released by its last holder while this caller waited, or its mailbox deleted (a new mailbox may
      // get the same id): never hand out a state that no longer follows the feed.
      if (state.closed || state.deleted) {
        if (table.get(mailboxId) === entry) table.delete(mailboxId);
        continue;
      }
      state.refs++;
      if (state.linger) {
        clearTimeout(state.linger);
        state.linger = null;
      }
      return state;
    }
  }

  /** How long a state no session holds stays loaded (still following the feed): a client that SELECTs the
   * mailbox again, or another folder and back, or reconnects, finds it ready instead of re-reading every
   * message. Bounded memory: only mailboxes released within this window are kept. */
  static lingerMs = 30_000;

  /** Drops one reference; the last one unsubscribes and frees the state (after lingerMs). */
  static release(store: Store, state: MailboxState): void {
    if (--state.refs > 0 || state.closed) return;
    if (MailboxState.lingerMs > 0) {
      if (state.linger) clearTimeout(state.linger);
      state.linger = setTimeout(() => {
        state.linger = null;
        if (state.refs === 0) MailboxState.close(store, state);
      }, MailboxState.lingerMs);
      state.linger.unref();
      return;
    }
    MailboxState.close(store, state);
  }

  private static close(store: Store, state: MailboxState): void {
    if (state.closed) return;
    state.closed = true;
    state.unsubscribe?.();
    state.unsubscribe = null;
    state.listeners.clear();
    const table = registry.get(store);
    if (table && table.get(state.mailboxId)?.state === state) table.delete(state.mailboxId);
  }

  /** Number of live states for a store (tests check that sessions release theirs). */
  static liveCount(store: Store): number {
    return registry.get(store)?.size ?? 0;
  }

  private static async load(store: Store, mailboxId: number): Promise<MailboxState> {
    const state = new MailboxState(mailboxId);
    const early: MailboxChange[] = [];
    let loaded = false;
    const unsubscribe = store.changes.subscribe(mailboxId, (change) => {
      if (loaded) state.apply(change);
      else early.push(change);
    });
    let messages: MessageMeta[];
    try {
      messages = await store.mail.listMessages(mailboxId);
    } catch (error) {
      unsubscribe();
      throw error;
    }
    state.unsubscribe = unsubscribe;
    state.fill(messages);
    loaded = true;
    for (const change of early) state.apply(change);
    return state;
  }

  private fill(messages: readonly MessageMeta[]): void {
    const n = messages.length;
    const capacity = n + Math.max(GROW_MIN, n >> 3);
    this.uids = new Uint32Array(capacity);
    this.flagIds = new Uint32Array(capacity);
    this.modseqs = new Float64Array(capacity);
    for (let i = 0; i < n; i++) {
      const m = messages[i] as MessageMeta;
      this.uids[i] = m.uid;
      this.flagIds[i] = this.flags.intern(m.flags);
      this.modseqs[i] = m.modseq;
      if (m.modseq > this.highestModseq) this.highestModseq = m.modseq;
    }
    this.count = n;
  }

  /** A session's listener: called with every change after the state applied it. */
  listen(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Index of `uid` in [0, count), or -1. */
  indexOf(uid: number, hint = -1): number {
    const uids = this.uids;
    if (hint >= 0 && hint < this.count && uids[hint] === uid) return hint;
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const u = uids[mid] as number;
      if (u === uid) return mid;
      if (u < uid) lo = mid + 1;
      else hi = mid;
    }
    return -1;
  }

  private apply(change: MailboxChange): void {
    switch (change.kind) {
      case 'exists':
        this.append(change.uid, change.flags, change.modseq);
        break;
      case 'expunge':
        this.remove(change.uids);
        break;
      case 'flags':
        this.setFlags(change.uids, change.flags, change.modseq);
        break;
      case 'deleted':
        this.deleted = true;
        break;
    }
    if ('modseq' in change && change.modseq > this.highestModseq) this.highestModseq = change.modseq;
    for (const listener of this.listeners) listener(change);
  }

  private append(uid: number, flags: readonly string[], modseq: number): void {
    // UIDs only grow (RFC 9051 2.3.1.1): one not above the last is already here (or was expunged).
    if (this.count > 0 && uid <= (this.uids[this.count - 1] as number)) return;
    if (this.count === this.uids.length) {
      const capacity = Math.max(GROW_MIN, this.count * 2);
      const uids = new Uint32Array(capacity);
      uids.set(this.uids.subarray(0, this.count));
      const flagIds = new Uint32Array(capacity);
      flagIds.set(this.flagIds.subarray(0, this.count));
      const modseqs = new Float64Array(capacity);
      modseqs.set(this.modseqs.subarray(0, this.count));
      this.grownFrom = this.uids;
      this.uids = uids;
      this.flagIds = flagIds;
      this.modseqs = modseqs;
    }
    this.uids[this.count] = uid;
    this.flagIds[this.count] = this.flags.intern(flags);
    this.modseqs[this.count] = modseq;
    this.count++;
  }

  private remove(gone: readonly number[]): void {
    const drop = new Set(gone);
    let kept = 0;
    for (let i = 0; i < this.count; i++) if (!drop.has(this.uids[i] as number)) kept++;
    if (kept === this.count) return;
    // New arrays: sessions may still hold the old UID array as their sequence map. The array before the last
    // growth is no longer the start of the UIDs.
    this.grownFrom = null;
    const capacity = kept + Math.max(GROW_MIN, kept >> 3);
    const uids = new Uint32Array(capacity);
    const flagIds = new Uint32Array(capacity);
    const modseqs = new Float64Array(capacity);
    let j = 0;
    for (let i = 0; i < this.count; i++) {
      const uid = this.uids[i] as number;
      if (drop.has(uid)) continue;
      uids[j] = uid;
      flagIds[j] = this.flagIds[i] as number;
      modseqs[j] = this.modseqs[i] as number;
      j++;
    }
    this.uids = uids;
    this.flagIds = flagIds;
    this.modseqs = modseqs;
    this.count = kept;
  }

  private setFlags(uids: readonly number[], flags: readonly string[], modseq: number): void {
    const id = this.flags.intern(flags);
    // Both lists ascend: one forward walk, each lookup starting where the last one ended.
    let from = 0;
    for (const uid of uids) {
      const i = from < this.count && this.uids[from] === uid ? from : this.indexOf(uid);
      if (i < 0) continue;
      // A change the loaded list already holds (it arrived while the list was read) is not applied again.
      if ((this.modseqs[i] as number) < modseq) {
        this.flagIds[i] = id;
        this.modseqs[i] = modseq;
      }
      from = i + 1;
    }
    if (this.flags.size > FLAG_SET_SLACK + this.count) this.compactFlagSets();
  }

  /** Rebuilds the flag-set table from the sets in use (after much flag churn). */
  private compactFlagSets(): void {
    const old = this.flags;
    const fresh = new FlagSets();
    const remap = new Map<number, number>();
    for (let i = 0; i < this.count; i++) {
      const id = this.flagIds[i] as number;
      let next = remap.get(id);
      if (next === undefined) remap.set(id, (next = fresh.intern(old.lists[id] as readonly string[])));
      this.flagIds[i] = next;
    }
    this.flags = fresh;
  }
}

/** Per store (a vault lock and unlock opens a new one), per mailbox id: the state, or its load. */
interface Entry {
  loading: Promise<MailboxState>;
  /** Set once loaded. */
  state: MailboxState | null;
}
const registry = new WeakMap<Store, Map<number, Entry>>();
