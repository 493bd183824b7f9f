// SEARCH evaluation over the selected mailbox: flags and modseqs from the shared mailbox state, sizes and
// dates from the message list;
// header keys from the summaries the store keeps (prefiltered by the store's text index); BODY/TEXT by
// store.mail.searchText. Returns UIDs in ascending order.
import { decodeHeaderValue } from '../mime/index.ts';
import type { MessageMeta, MessageWithSummary } from '../store/types.ts';
import { dayOf } from './datetime.ts';
import { hasFlag } from './flags.ts';
import type { SearchKey } from './parser/search.ts';
import { resolveSet } from './parser/sequence.ts';
import type { SelectedMailbox } from './selected.ts';
import type { Session } from './session.ts';

/** Header fields the summary keeps decoded (src/mime summarize.ts); others are read from the message. */
const SUMMARY_FIELDS = new Set(['from', 'to', 'cc', 'bcc', 'sender', 'reply-to', 'subject', 'date', 'message-id', 'in-reply-to', 'references', 'content-type', 'list-id', 'priority', 'x-priority', 'importance']);

/** Messages whose summaries are loaded per store call. */
const SUMMARY_BATCH = 500;

export interface SearchResult {
  uids: number[];
  metas: Map<number, MessageMeta>;
}

export async function runSearch(session: Session, selected: SelectedMailbox, key: SearchKey): Promise<SearchResult> {
  const store = session.store;
  const mailboxId = selected.mailbox.id;
  // Keys on flags, sizes, dates or modseqs need every message's metadata; keys on UIDs, sequence numbers,
  // headers and text do not, and skipping the list makes the common header/body searches cheaper.
  let needMeta = false;
  collect(key, (node) => {
    if (node.k === 'flag' || node.k === 'internaldate' || node.k === 'sentdate' || node.k === 'size' || node.k === 'modseq') needMeta = true;
  });
  // Flags and modseqs are in the shared mailbox state (mailbox-state.ts): keys on those alone (UNSEEN,
  // FLAGGED, MODSEQ, the ones clients send all the time) need no store read.
  let fromState = true;
  collect(key, (node) => {
    if (node.k === 'internaldate' || node.k === 'sentdate' || node.k === 'size') fromState = false;
  });
  // Without such keys no per-message object is built: the walk below reuses one scratch record.
  let all: MessageMeta[] | null = null;
  if (needMeta && fromState) all = metasFromState(selected);
  else if (needMeta) all = (await store.mail.listMessages(mailboxId)).filter((m) => selected.seqOf(m.uid) > 0);
  const metas = new Map((all ?? []).map((m) => [m.uid, m]));
  const inMailbox = (uid: number) => (all ? metas.has(uid) : selected.seqOf(uid) > 0);
  const everyUid = () => (all ? all.map((m) => m.uid) : Array.from(selected.uids));
  const sets = new Map<SearchKey, Set<number>>();
  const needSummary = { sentDate: false };
  const headerNodes: Extract<SearchKey, { k: 'header' }>[] = [];
  collect(key, (node) => {
    if (node.k === 'header') headerNodes.push(node);
    if (node.k === 'sentdate') needSummary.sentDate = true;
  });
  // BODY / TEXT: the store's decoded-text search (RFC 9051 6.4.4: substring, case-insensitive).
  const textNodes: Extract<SearchKey, { k: 'text' }>[] = [];
  collect(key, (node) => {
    if (node.k === 'text') textNodes.push(node);
  });
  for (const node of textNodes) {
    if (node.value === '') {
      sets.set(node, new Set(everyUid()));
      continue;
    }
    sets.set(node, new Set(await store.mail.searchText(mailboxId, node.field, node.value)));
  }
  // Summaries: for every message when SENT* keys are used, else only header-search candidates.
  const summaries = new Map<number, MessageWithSummary>();
  const load = async (uids: number[]) => {
    const missing = uids.filter((u) => !summaries.has(u));
    for (let i = 0; i < missing.length; i += SUMMARY_BATCH) {
      for (const m of await store.mail.getMessages(mailboxId, missing.slice(i, i + SUMMARY_BATCH))) summaries.set(m.uid, m);
    }
  };
  if (needSummary.sentDate) await load(everyUid());
  for (const node of headerNodes) {
    const needle = node.value.toLowerCase();
    let candidates: number[];
    if (needle === '') candidates = everyUid();
    else candidates = await store.mail.searchText(mailboxId, 'header', node.value);
    candidates = candidates.filter(inMailbox);
    await load(candidates);
    const matched = new Set<number>();
    for (const uid of candidates) {
      const m = summaries.get(uid);
      if (!m) continue;
      let value: string | undefined;
      if (SUMMARY_FIELDS.has(node.name)) value = m.summary.headers[node.name];
      else value = headerFromRaw(await store.mail.getBody(m.bodyId), m.summary.headerSize, node.name);
      if (value !== undefined && value.toLowerCase().includes(needle)) matched.add(uid);
    }
    sets.set(node, matched);
  }
  let seqNumbers: number[] | null = null;
  const seqSets = new Map<SearchKey, Set<number>>();
  const saved = new Set(session.savedSearch);
  collect(key, (node) => {
    if (node.k === 'seq') {
      if (node.set.kind === 'saved') seqSets.set(node, saved);
      else seqSets.set(node, new Set(resolveSet(node.set.ranges, (seqNumbers ??= selected.sequenceNumbers())).map((s) => selected.uidAt(s) as number)));
    } else if (node.k === 'uid') {
      if (node.set.kind === 'saved') seqSets.set(node, saved);
      else seqSets.set(node, new Set(resolveSet(node.set.ranges, selected.uids)));
    }
  });
  const matches = (k: SearchKey, m: MessageMeta): boolean => {
    switch (k.k) {
      case 'all':
        return true;
      case 'none':
        return false;
      case 'flag':
        return hasFlag(m.flags, k.flag) === k.present;
      case 'seq':
      case 'uid':
        return seqSets.get(k)?.has(m.uid) ?? false;
      case 'internaldate':
        return compareDay(dayOf(m.internalDate), k.op, k.day);
      case 'sentdate': {
        const s = summaries.get(m.uid);
        return compareDay(sentDay(s, m), k.op, k.day);
      }
      case 'size':
        return k.op === 'larger' ? m.size > k.n : m.size < k.n;
      case 'header':
      case 'text':
        return sets.get(k)?.has(m.uid) ?? false;
      case 'modseq':
        return m.modseq >= k.modseq;
      case 'not':
        return !matches(k.key, m);
      case 'or':
        return matches(k.a, m) || matches(k.b, m);
      case 'and':
        return k.keys.every((x) => matches(x, m));
    }
  };
  // RFC 9051 6.4.4 answers in mailbox order, which is ascending UID order.
  if (key.k === 'header' || key.k === 'text') {
    // The common single-key search: its set is the answer (restricted to the session's view).
    return { uids: [...(sets.get(key) ?? [])].filter(inMailbox).sort((a, b) => a - b), metas };
  }
  let uids: number[];
  if (all) uids = all.filter((m) => matches(key, m)).map((m) => m.uid);
  else {
    const scratch: MessageMeta = { uid: 0, modseq: 0, flags: [], internalDate: 0, size: 0, bodyId: 0 };
    uids = [];
    for (const uid of selected.uids) {
      scratch.uid = uid;
      if (matches(key, scratch)) uids.push(uid);
    }
  }
  return { uids, metas };
}

/** UID, flags and modseq of every message of the session's view that the state still holds (one expunged
 * elsewhere and not yet reported has no data left, as with the store's list). Dates and sizes are not there:
 * callers use this only for keys that do not read them. */
function metasFromState(selected: SelectedMailbox): MessageMeta[] {
  const state = selected.state;
  const out: MessageMeta[] = [];
  for (let seq = 1; seq <= selected.exists; seq++) {
    const at = selected.stateIndex(seq);
    if (at < 0) continue;
    const flags = state.flags.lists[state.flagIds[at] as number] as string[];
    out.push({ uid: state.uids[at] as number, modseq: state.modseqs[at] as number, flags, internalDate: 0, size: 0, bodyId: 0 });
  }
  return out;
}

function collect(key: SearchKey, visit: (k: SearchKey) => void): void {
  visit(key);
  if (key.k === 'not') collect(key.key, visit);
  else if (key.k === 'or') {
    collect(key.a, visit);
    collect(key.b, visit);
  } else if (key.k === 'and') for (const k of key.keys) collect(k, visit);
}

function compareDay(day: number, op: 'before' | 'on' | 'since', target: number): boolean {
  if (op === 'before') return day < target;
  if (op === 'on') return day === target;
  return day >= target;
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

/** RFC 9051 6.4.4 SENT*: the date of the Date: header, disregarding time and timezone; messages without
 * a usable Date: header use their internal date (as Dovecot does). */
function sentDay(s: MessageWithSummary | undefined, m: MessageMeta): number {
  const text = s?.summary.envelope.date;
  if (text) {
    const match = /(\d{1,2})\s+([A-Za-z]{3})[a-z]*\s+(\d{2,4})/.exec(text);
    if (match) {
      const mon = MONTHS.indexOf((match[2] as string).toLowerCase());
      let year = Number(match[3]);
      if (year < 50) year += 2000;
      else if (year < 1000) year += 1900;
      if (mon >= 0) return Math.floor(Date.UTC(year, mon, Number(match[1])) / 86_400_000);
    }
  }
  if (s?.summary.sentDate != null) return dayOf(s.summary.sentDate);
  return dayOf(m.internalDate);
}

/** The decoded value(s) of a header field from the raw message, or undefined when absent. */
export function headerFromRaw(raw: Buffer, headerSize: number, name: string): string | undefined {
  const text = raw.subarray(0, headerSize).toString('utf8').replace(/\r?\n[ \t]/g, ' ');
  const values: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === name) values.push(decodeHeaderValue(line.slice(colon + 1).trim()));
  }
  return values.length > 0 ? values.join('\n') : undefined;
}
