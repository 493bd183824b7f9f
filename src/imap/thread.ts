// SORT and THREAD algorithms (RFC 5256): base subject extraction, sort keys, ORDEREDSUBJECT and REFERENCES.
// Pure: works on summaries already loaded.
import type { MessageWithSummary } from '../store/types.ts';

/** RFC 5256 2.1: the base subject, used by SORT SUBJECT and THREAD. */
export function baseSubject(subject: string): string {
  let s = subject.replace(/[\t\r\n ]+/g, ' ').trim();
  for (;;) {
    const before = s;
    // (2) trailing "(fwd)" and white space
    s = s.replace(/(\s*\(fwd\))+\s*$/i, '').trim();
    // (3)-(5) leading subj-refwd ("re:", "fw:", "fwd:" with optional [blob]) and subj-blob
    for (;;) {
      const b = s;
      s = s.replace(/^(re|fwd?)\s*(\[[^\[\]]*\]\s*)?:\s*/i, '');
      const blob = /^\[[^\[\]]*\]\s*/.exec(s);
      if (blob && s.length > blob[0].length) s = s.slice(blob[0].length);
      if (s === b) break;
    }
    // (6) "[fwd:" ... "]" wrapper
    const wrapped = /^\[fwd:\s*(.*)\]$/i.exec(s);
    if (wrapped) s = (wrapped[1] as string).trim();
    if (s === before) break;
  }
  return s.toLowerCase();
}

export type SortCriterion = 'ARRIVAL' | 'CC' | 'DATE' | 'FROM' | 'SIZE' | 'SUBJECT' | 'TO' | 'DISPLAYFROM' | 'DISPLAYTO';

export interface SortKey {
  criterion: SortCriterion;
  reverse: boolean;
}

function firstMailbox(list: { mailbox: string | null; name: string | null }[] | null, display: boolean): string {
  const a = list?.[0];
  if (!a) return '';
  if (display && a.name) return a.name.toLowerCase();
  return (a.mailbox ?? '').toLowerCase();
}

/** RFC 5256 2.2: the sent date, or the internal date when there is none. */
export function sortDate(m: MessageWithSummary): number {
  return m.summary.sentDate ?? m.internalDate;
}

function keyValue(m: MessageWithSummary, c: SortCriterion): string | number {
  const e = m.summary.envelope;
  switch (c) {
    case 'ARRIVAL':
      return m.internalDate;
    case 'DATE':
      return sortDate(m);
    case 'SIZE':
      return m.size;
    case 'SUBJECT':
      return baseSubject(m.summary.headers['subject'] ?? e.subject ?? '');
    case 'FROM':
      return firstMailbox(e.from, false);
    case 'TO':
      return firstMailbox(e.to, false);
    case 'CC':
      return firstMailbox(e.cc, false);
    case 'DISPLAYFROM':
      return firstMailbox(e.from, true);
    case 'DISPLAYTO':
      return firstMailbox(e.to, true);
  }
}

/** Sorts messages by the keys; ties keep UID order (RFC 5256 3: sequence number as the final key). */
export function sortMessages(messages: MessageWithSummary[], keys: readonly SortKey[]): MessageWithSummary[] {
  const values = new Map(messages.map((m) => [m.uid, keys.map((k) => keyValue(m, k.criterion))]));
  return [...messages].sort((a, b) => {
    const va = values.get(a.uid) as (string | number)[];
    const vb = values.get(b.uid) as (string | number)[];
    for (let i = 0; i < keys.length; i++) {
      const x = va[i] as string | number;
      const y = vb[i] as string | number;
      if (x === y) continue;
      const cmp = x < y ? -1 : 1;
      return (keys[i] as SortKey).reverse ? -cmp : cmp;
    }
    return a.uid - b.uid;
  });
}

/** A thread tree node: a message (id = number to print) or a dummy (id = null) with children. */
export interface ThreadNode {
  id: number | null;
  date: number;
  children: ThreadNode[];
}

/** RFC 5256 3 thread-list syntax. */
export function formatThreads(roots: readonly ThreadNode[]): string {
  return roots.map((r) => `(${formatMembers(r)})`).join('');
}

function formatMembers(node: ThreadNode): string {
  const parts: string[] = [];
  let n: ThreadNode = node;
  // A chain of single children is written flat: (1 2 3).
  for (;;) {
    if (n.id !== null) parts.push(String(n.id));
    if (n.children.length === 1) {
      n = n.children[0] as ThreadNode;
      continue;
    }
    if (n.children.length > 1) parts.push(n.children.map((c) => `(${formatMembers(c)})`).join(''));
    break;
  }
  return parts.join(' ');
}

/** RFC 5256 3 ORDEREDSUBJECT: group by base subject, sort by sent date; later messages are children of the first. */
export function orderedSubject(messages: MessageWithSummary[], idOf: (m: MessageWithSummary) => number): ThreadNode[] {
  const groups = new Map<string, MessageWithSummary[]>();
  for (const m of sortMessages(messages, [{ criterion: 'DATE', reverse: false }])) {
    const subject = baseSubject(m.summary.headers['subject'] ?? m.summary.envelope.subject ?? '');
    const g = groups.get(subject);
    if (g) g.push(m);
    else groups.set(subject, [m]);
  }
  const roots: ThreadNode[] = [];
  for (const g of groups.values()) {
    const [first, ...rest] = g as [MessageWithSummary, ...MessageWithSummary[]];
    roots.push({ id: idOf(first), date: sortDate(first), children: rest.map((m) => ({ id: idOf(m), date: sortDate(m), children: [] })) });
  }
  return roots.sort((a, b) => a.date - b.date);
}

const MESSAGE_ID = /<[^<>\s]+>/g;

interface Container {
  message: MessageWithSummary | null;
  parent: Container | null;
  children: Container[];
}

/** RFC 5256 3 REFERENCES: linking by References/In-Reply-To (steps 1-2), pruning empty containers (4),
 * gathering root threads by base subject (5) and sorting by date (6). */
export function referencesThreads(messages: MessageWithSummary[], idOf: (m: MessageWithSummary) => number): ThreadNode[] {
  const byId = new Map<string, Container>();
  const get = (id: string): Container => {
    let c = byId.get(id);
    if (!c) {
      c = { message: null, parent: null, children: [] };
      byId.set(id, c);
    }
    return c;
  };
  const isAncestor = (a: Container, b: Container): boolean => {
    for (let x: Container | null = b; x; x = x.parent) if (x === a) return true;
    return false;
  };
  const link = (parent: Container, child: Container) => {
    if (child.parent || parent === child || isAncestor(child, parent)) return;
    child.parent = parent;
    parent.children.push(child);
  };
  let unique = 0;
  for (const m of messages) {
    const h = m.summary.headers;
    const ownId = (h['message-id'] ?? m.summary.envelope.messageId ?? '').match(MESSAGE_ID)?.[0];
    let c = ownId ? get(ownId) : null;
    if (!c || c.message) c = get(`<unique-${++unique}@mailstack>`);
    c.message = m;
    let refs: string[] = (h['references'] ?? '').match(MESSAGE_ID) ?? [];
    if (refs.length === 0) refs = (h['in-reply-to'] ?? m.summary.envelope.inReplyTo ?? '').match(MESSAGE_ID)?.slice(0, 1) ?? [];
    let prev: Container | null = null;
    for (const r of refs) {
      const rc = get(r);
      if (prev) link(prev, rc);
      prev = rc;
    }
    // The message's parent is its last reference, replacing any guess made from other messages.
    if (c.parent) {
      c.parent.children = c.parent.children.filter((x) => x !== c);
      c.parent = null;
    }
    if (prev && prev !== c && !isAncestor(c, prev)) link(prev, c);
  }
  const subjects = new Map<ThreadNode, { base: string; reply: boolean }>();
  const toNodes = (c: Container): ThreadNode[] => {
    const kids = c.children.flatMap(toNodes);
    if (!c.message) return kids.length === 0 ? [] : [{ id: null, date: Math.min(...kids.map((k) => k.date)), children: kids }];
    const node: ThreadNode = { id: idOf(c.message), date: sortDate(c.message), children: kids };
    const subject = c.message.summary.headers['subject'] ?? c.message.summary.envelope.subject ?? '';
    const base = baseSubject(subject);
    subjects.set(node, { base, reply: base !== subject.replace(/[\t\r\n ]+/g, ' ').trim().toLowerCase() });
    return [node];
  };
  const roots: ThreadNode[] = [];
  for (const c of byId.values()) if (!c.parent) roots.push(...toNodes(c));
  // Step 4: an empty container is replaced by its children, except at the root with several children.
  const prune = (nodes: ThreadNode[], atRoot: boolean): ThreadNode[] =>
    nodes.flatMap((n) => {
      n.children = prune(n.children, false);
      if (n.id === null && (!atRoot || n.children.length === 1)) return n.children;
      return [n];
    });
  const sortTree = (nodes: ThreadNode[]): ThreadNode[] => {
    for (const n of nodes) n.children = sortTree(n.children);
    return nodes.sort((a, b) => a.date - b.date || (a.id ?? 0) - (b.id ?? 0));
  };
  return sortTree(gatherBySubject(prune(roots, true), subjects));
}

/** RFC 5256 3 step 5: root threads whose base subjects are equal are put together. */
function gatherBySubject(roots: ThreadNode[], subjects: Map<ThreadNode, { base: string; reply: boolean }>): ThreadNode[] {
  const info = (n: ThreadNode) => subjects.get(n.id === null ? (n.children[0] as ThreadNode) : n);
  const table = new Map<string, ThreadNode>();
  for (const r of roots) {
    const s = info(r);
    if (!s || s.base === '') continue;
    const old = table.get(s.base);
    if (!old) table.set(s.base, r);
    else if ((r.id === null && old.id !== null) || (info(old)?.reply && !s.reply && !(old.id === null))) table.set(s.base, r);
  }
  const out: ThreadNode[] = [];
  for (const r of roots) {
    const s = info(r);
    const target = s && s.base !== '' ? table.get(s.base) : undefined;
    if (!target || target === r) {
      out.push(r);
      continue;
    }
    if (target.id === null && r.id === null) {
      target.children.push(...r.children);
    } else if (target.id === null) {
      target.children.push(r);
    } else if (r.id === null) {
      // the dummy becomes the thread: move the old root under it and let it take the old root's place
      r.children.push({ ...target, children: target.children });
      target.id = null;
      target.children = r.children;
    } else if (s?.reply && !info(target)?.reply) {
      target.children.push(r);
    } else {
      const copy: ThreadNode = { ...target, children: target.children };
      subjects.set(copy, info(target)!);
      target.id = null;
      target.children = [copy, r];
    }
    target.date = Math.min(target.date, r.date);
  }
  return out;
}
