// FETCH and UID FETCH (RFC 9051 6.4.5, 6.4.9) with BINARY (RFC 3516), CONDSTORE CHANGEDSINCE and
// QRESYNC VANISHED (RFC 7162 3.1.4, 3.2.6).
import { decodeBinarySection, extractSection, renderBodyStructure, renderEnvelope, resolvePart } from '../../mime/index.ts';
import type { MessageMeta, MessageWithEnvelope, MessageWithSummary } from '../../store/types.ts';
import { SELECTED, defineCommand } from '../command.ts';
import { literal, type Chunk } from '../encoder.ts';
import { ImapNo, ImapSyntaxError } from '../errors.ts';
import { formatDateTime } from '../datetime.ts';
import { hasFlag } from '../flags.ts';
import { parseFetchItems, sectionLabel, type FetchArgs, type FetchItem, type Partial, type Section } from '../parser/fetch.ts';
import { formatSet, inRanges, parseSequenceSet, type SequenceSet } from '../parser/sequence.ts';
import type { SelectedMailbox } from '../selected.ts';
import type { Session } from '../session.ts';
import { targetUids } from '../targets.ts';

/** Messages loaded per store call: large enough to amortise the call, small enough to stream. */
const FETCH_BATCH = 256;

interface Args extends FetchArgs {
  set: SequenceSet;
}

function needs(items: readonly FetchItem[]): { summary: boolean; body: boolean; setsSeen: boolean } {
  let summary = false;
  let body = false;
  let setsSeen = false;
  for (const it of items) {
    switch (it.kind) {
      case 'ENVELOPE':
      case 'BODY':
      case 'BODYSTRUCTURE':
        summary = true;
        break;
      case 'RFC822':
      case 'RFC822.TEXT':
        summary = body = setsSeen = true;
        break;
      case 'RFC822.HEADER':
        summary = body = true;
        break;
      case 'section':
      case 'binary':
        summary = body = true;
        if (!it.peek) setsSeen = true;
        break;
      case 'binary.size':
        summary = body = true;
        break;
      default:
        break;
    }
  }
  return { summary, body, setsSeen };
}

function fetchCommand(byUid: boolean) {
  return defineCommand({
    name: byUid ? 'UID FETCH' : 'FETCH',
    states: SELECTED,
    allowExpungeAfter: byUid,
    parse(p): Args {
      p.sp();
      const set = parseSequenceSet(p);
      p.sp();
      return { set, ...parseFetchItems(p) };
    },
    async run(session, args: Args) {
      await runFetch(session, args, byUid);
    },
  });
}

async function runFetch(session: Session, args: Args, byUid: boolean): Promise<void> {
  const selected = session.requireSelected();
  if (args.vanished && (!byUid || !session.enabled.has('QRESYNC') || args.changedSince === null)) {
    throw new ImapSyntaxError('VANISHED needs UID FETCH, CHANGEDSINCE and ENABLE QRESYNC');
  }
  const items = [...args.items];
  if (byUid && !items.some((i) => i.kind === 'UID')) items.unshift({ kind: 'UID' });
  if (args.changedSince !== null || items.some((i) => i.kind === 'MODSEQ')) session.enabled.add('CONDSTORE');
  if (args.changedSince !== null && !items.some((i) => i.kind === 'MODSEQ')) items.push({ kind: 'MODSEQ' });
  let uids = targetUids(selected, args.set, byUid, session.savedSearch);
  const store = session.store;
  const mailboxId = selected.mailbox.id;
  const need = needs(items);
  const setSeen = need.setsSeen && !selected.readOnly;

  if (args.vanished && args.changedSince !== null) {
    // RFC 7162 3.2.6: expunged UIDs in the set, since the given modseq.
    const set = args.set;
    const gone = (await store.mail.expungedSince(mailboxId, args.changedSince)).filter((u) => set.kind === 'ranges' && inRanges(u, set.ranges));
    if (gone.length > 0) session.send(`* VANISHED (EARLIER) ${formatSet(gone)}`);
  }

  if (items.every((i) => i.kind === 'UID' || i.kind === 'FLAGS' || i.kind === 'MODSEQ')) {
    await fetchFromState(session, selected, uids, items, args.changedSince);
    return;
  }

  let metaByUid: Map<number, MessageMeta> | null = null;
  // Flags-only FETCH of a few messages (what interactive clients send all the time) asks the store for
  // just those; for many, one pass over the mailbox's list is cheaper than loading summaries.
  const fewMessages = uids.length <= FETCH_BATCH && args.changedSince === null;
  const useSummaries = need.summary || fewMessages;
  // ENVELOPE without BODY/BODYSTRUCTURE or body data (what clients list a mailbox with): the envelope was
  // rendered at delivery and is read as it is, without parsing and rendering each summary.
  const envelopesOnly = need.summary && !need.body && !items.some((i) => i.kind === 'BODY' || i.kind === 'BODYSTRUCTURE');
  if (!useSummaries || args.changedSince !== null) {
    const all = args.changedSince !== null ? await store.mail.changedSince(mailboxId, args.changedSince) : await store.mail.listMessages(mailboxId);
    metaByUid = new Map(all.map((m) => [m.uid, m]));
    if (args.changedSince !== null) uids = uids.filter((u) => metaByUid!.has(u));
  }

  for (let i = 0; i < uids.length; i += FETCH_BATCH) {
    const batch = uids.slice(i, i + FETCH_BATCH);
    let messages: (MessageMeta | MessageWithSummary | MessageWithEnvelope)[];
    if (envelopesOnly) messages = await store.mail.getEnvelopes(mailboxId, batch);
    else if (useSummaries) messages = await store.mail.getMessages(mailboxId, batch);
    else messages = batch.map((u) => metaByUid!.get(u)).filter((m): m is MessageMeta => m !== undefined);
    const seenNow = new Map<number, { flags: string[]; modseq: number }>();
    if (setSeen) {
      const unseen = messages.filter((m) => !hasFlag(m.flags, '\\Seen')).map((m) => m.uid);
      if (unseen.length > 0) {
        // RFC 9051 6.4.5: a non-PEEK body fetch sets \Seen; the new flags are sent with the data.
        const res = await store.mail.updateFlags(mailboxId, unseen, 'add', ['\\Seen']);
        selected.noteOwnChange(res.modseq);
        for (const group of res.updated) for (const uid of group.uids) seenNow.set(uid, { flags: group.flags, modseq: res.modseq });
      }
    }
    // Text-only responses (FLAGS, ENVELOPE, ... without literals) of a batch go out as one buffer.
    let text: string[] = [];
    for (const m of messages) {
      const seq = selected.seqOf(m.uid);
      if (seq === 0) continue;
      const changed = seenNow.get(m.uid);
      const meta = changed ? { ...m, flags: changed.flags, modseq: changed.modseq } : m;
      const body = need.body ? await store.mail.getBody(m.bodyId) : null;
      const chunks = renderMessage(session, seq, meta, body, items, changed !== undefined);
      if (chunks.every((c) => typeof c === 'string')) {
        text.push((chunks as string[]).join(''));
        continue;
      }
      if (text.length > 0) session.send(text.join('\r\n'));
      text = [];
      session.send(chunks);
    }
    if (text.length > 0) session.send(text.join('\r\n'));
    await session.backpressure();
  }
}

/** Lines per write of a FETCH answered from the mailbox state: ~64 KiB of flag lines per socket write. */
const STATE_LINES_PER_WRITE = 1024;

/**
 * FETCH of UID/FLAGS/MODSEQ only, answered from the shared mailbox state (mailbox-state.ts) without a store
 * call: what clients send to resynchronise flags, often for the whole mailbox. Lines are joined into large
 * writes, with the socket's backpressure honoured between them.
 */
async function fetchFromState(session: Session, selected: SelectedMailbox, uids: readonly number[], items: readonly FetchItem[], changedSince: number | null): Promise<void> {
  const state = selected.state;
  const kinds = items.map((i) => i.kind);
  // The usual shapes get a fixed template; any other order of the three items goes item by item.
  const shape = kinds.join(' ');
  let lines: string[] = [];
  // `uids` ascends, as does the session's view: one forward walk gives each sequence number.
  const view = selected.uids;
  let p = 0;
  for (const uid of uids) {
    while (p < view.length && (view[p] as number) < uid) p++;
    if (p >= view.length) break;
    if (view[p] !== uid) continue;
    const seq = p + 1;
    // Not in the state: expunged by another session and not yet reported here; like the store read this
    // replaces, there is nothing left to answer for it.
    const at = selected.stateIndex(seq);
    if (at < 0) continue;
    const modseq = state.modseqs[at] as number;
    // RFC 7162 3.1.4.1: CHANGEDSINCE keeps the messages whose modseq is above the given value.
    if (changedSince !== null && modseq <= changedSince) continue;
    const flags = state.flags.wire[state.flagIds[at] as number] as string;
    let line: string;
    if (shape === 'UID FLAGS') line = `* ${seq} FETCH (UID ${uid} FLAGS ${flags})`;
    else if (shape === 'FLAGS') line = `* ${seq} FETCH (FLAGS ${flags})`;
    else if (shape === 'UID FLAGS MODSEQ') line = `* ${seq} FETCH (UID ${uid} FLAGS ${flags} MODSEQ (${modseq}))`;
    else {
      line = `* ${seq} FETCH (`;
      for (let k = 0; k < kinds.length; k++) {
        if (k > 0) line += ' ';
        const kind = kinds[k];
        if (kind === 'UID') line += `UID ${uid}`;
        else if (kind === 'FLAGS') line += `FLAGS ${flags}`;
        else line += `MODSEQ (${modseq})`;
      }
      line += ')';
    }
    lines.push(line);
    if (lines.length === STATE_LINES_PER_WRITE) {
      session.send(lines.join('\r\n'));
      lines = [];
      await session.backpressure();
    }
  }
  if (lines.length > 0) session.send(lines.join('\r\n'));
}

function renderMessage(
  session: Session,
  seq: number,
  m: MessageMeta | MessageWithSummary | MessageWithEnvelope,
  raw: Buffer | null,
  items: readonly FetchItem[],
  flagsChanged: boolean,
): Chunk[] {
  const utf8 = session.utf8;
  const out: Chunk[][] = [];
  const summary = 'summary' in m ? m.summary : null;
  const envelope = 'envelope' in m ? m.envelope : null;
  const needSummary = () => {
    if (!summary) throw new Error('FETCH item needs a summary that was not loaded');
    return summary;
  };
  let sentFlags = false;
  for (const it of items) {
    switch (it.kind) {
      case 'FLAGS':
        out.push([`FLAGS ${session.flagList(m.flags)}`]);
        sentFlags = true;
        break;
      case 'UID':
        out.push([`UID ${m.uid}`]);
        break;
      case 'MODSEQ':
        out.push([`MODSEQ (${m.modseq})`]);
        break;
      case 'INTERNALDATE':
        out.push([`INTERNALDATE "${formatDateTime(m.internalDate)}"`]);
        break;
      case 'RFC822.SIZE':
        out.push([`RFC822.SIZE ${m.size}`]);
        break;
      case 'ENVELOPE':
        out.push([`ENVELOPE ${envelope ?? renderEnvelope(needSummary().envelope, utf8)}`]);
        break;
      case 'BODYSTRUCTURE':
        out.push([`BODYSTRUCTURE ${renderBodyStructure(needSummary().bodyStructure, true, utf8)}`]);
        break;
      case 'BODY':
        out.push([`BODY ${renderBodyStructure(needSummary().bodyStructure, false, utf8)}`]);
        break;
      case 'RFC822':
        out.push(['RFC822 ', ...literal(raw as Buffer)]);
        break;
      case 'RFC822.HEADER':
        out.push(['RFC822.HEADER ', ...literal(extractSection(raw as Buffer, needSummary(), { part: [], kind: 'header' }) ?? Buffer.alloc(0))]);
        break;
      case 'RFC822.TEXT':
        out.push(['RFC822.TEXT ', ...literal(extractSection(raw as Buffer, needSummary(), { part: [], kind: 'text' }) ?? Buffer.alloc(0))]);
        break;
      case 'section':
        out.push(renderSection(raw as Buffer, needSummary(), it.section, it.partial));
        break;
      case 'binary':
        out.push(renderBinary(raw as Buffer, needSummary(), it.part, it.partial));
        break;
      case 'binary.size': {
        const data = binaryData(raw as Buffer, needSummary(), it.part);
        out.push([`BINARY.SIZE[${it.part.join('.')}] ${data ? data.length : 0}`]);
        break;
      }
    }
  }
  if (flagsChanged && !sentFlags) out.push([`FLAGS ${session.flagList(m.flags)}`]);
  const chunks: Chunk[] = [`* ${seq} FETCH (`];
  out.forEach((item, i) => {
    if (i > 0) chunks.push(' ');
    chunks.push(...item);
  });
  chunks.push(')');
  return chunks;
}

function applyPartial(data: Buffer, partial: Partial | null): Buffer {
  if (!partial) return data;
  if (partial.offset >= data.length) return Buffer.alloc(0);
  return data.subarray(partial.offset, partial.offset + partial.length);
}

function renderSection(raw: Buffer, summary: MessageWithSummary['summary'], section: Section, partial: Partial | null): Chunk[] {
  const label = `BODY[${sectionLabel(section)}]${partial ? `<${partial.offset}>` : ''} `;
  const spec = section.fields ? { part: section.part, kind: section.kind, fields: section.fields } : { part: section.part, kind: section.kind };
  const data = extractSection(raw, summary, spec);
  // A part that does not exist is answered with an empty string, as Dovecot does (RFC 9051 leaves it open).
  if (data === null) return [label, '""'];
  return [label, ...literal(applyPartial(data, partial))];
}

function binaryData(raw: Buffer, summary: MessageWithSummary['summary'], part: number[]): Buffer | null {
  const node = resolvePart(summary.bodyStructure, part);
  if (!node) throw new ImapNo('NONEXISTENT', `No part ${part.join('.')} in this message`);
  const data = decodeBinarySection(raw, summary, part);
  // RFC 3516 4.3: an encoding we cannot undo is answered with NO [UNKNOWN-CTE].
  if (data === null) throw new ImapNo('UNKNOWN-CTE', `Unknown Content-Transfer-Encoding "${node.encoding.slice(0, 40)}" in part ${part.join('.')}`);
  return data;
}

function renderBinary(raw: Buffer, summary: MessageWithSummary['summary'], part: number[], partial: Partial | null): Chunk[] {
  const data = applyPartial(binaryData(raw, summary, part) as Buffer, partial);
  const label = `BINARY[${part.join('.')}]${partial ? `<${partial.offset}>` : ''} `;
  return [label, ...literal(data, data.includes(0))];
}

export const fetch = fetchCommand(false);
export const uidFetch = fetchCommand(true);

/** Used by other commands that render flags in a FETCH response (STORE). */
export function flagsResponse(session: Session, seq: number, uid: number, flags: readonly string[], modseq: number | null): Chunk[] {
  return [`* ${seq} FETCH (UID ${uid} FLAGS ${session.flagList(flags)}${modseq !== null ? ` MODSEQ (${modseq})` : ''})`];
}
