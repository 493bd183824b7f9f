// summarizeMessage: one pass over a raw message computing what IMAP answers from (RFC 9051 7.5.2 ENVELOPE and
// BODYSTRUCTURE) plus the byte offsets of every part, so FETCH BODY[1.2.MIME] is a slice, never a re-parse.
//
// Implementation notes:
// - Offsets are exact byte positions in the raw message. Header text is handled as Latin-1 (one char per
//   byte) wherever offsets matter; only values that leave this module are re-read as UTF-8.
// - RFC 2046 5.1.1: the line break before a boundary delimiter belongs to the delimiter, so a part's body
//   ends before it. Preamble and epilogue belong to no part.
// - Boundaries are found per multipart, outermost first: a child's region ends at its parent's next
//   delimiter, so an inner multipart that never closes cannot swallow its siblings.
// - Nothing here throws on bad input; every loop is bounded by the input length or by a limit in limits.ts.
import type { BodyPart, Envelope, EnvelopeAddress, MessageSummary } from './types.ts';
import { fieldValue, findField, parseHeaderBlock, type HeaderBlock } from './header.ts';
import { parseContentType, parseDisposition, parseLanguageList, parseToken } from './params.ts';
import { parseAddressList } from './address.ts';
import { decodeHeaderValue } from './encoded-word.ts';
import { MAX_ADDRESSES, MAX_DATE_CHARS, MAX_MIME_DEPTH, MAX_MIME_PARTS } from './limits.ts';

/** Header fields copied (decoded) into MessageSummary.headers: those SORT, THREAD, SEARCH and list views use. */
const SUMMARY_HEADERS = [
  'from', 'to', 'cc', 'bcc', 'sender', 'reply-to', 'subject', 'date', 'message-id', 'in-reply-to',
  'references', 'content-type', 'list-id', 'priority', 'x-priority', 'importance',
];

/** Encodings under which a message/rfc822 body is itself a message (RFC 2046 5.2.1: no base64/QP allowed). */
const IDENTITY_ENCODINGS = new Set(['7bit', '8bit', 'binary']);

interface Context {
  raw: Buffer;
  parts: number;
}

function countLines(raw: Buffer, start: number, end: number): number {
  let lines = 0;
  let pos = start;
  while (pos < end) {
    const nl = raw.indexOf(10, pos);
    if (nl < 0 || nl >= end) break;
    lines++;
    pos = nl + 1;
  }
  return lines;
}

function value(raw: Buffer, block: HeaderBlock, name: string): string | null {
  const f = findField(block, name);
  return f ? fieldValue(raw, f) : null;
}

/** The last field of that name: for ENVELOPE strings, where Dovecot lets a repeated field override. */
function lastValue(raw: Buffer, block: HeaderBlock, name: string): string | null {
  let found = null;
  for (const f of block.fields) if (f.name === name) found = f;
  return found ? fieldValue(raw, found) : null;
}

/** Every address of the fields of that name: a repeated address field adds its addresses (as Dovecot does). */
function addressField(raw: Buffer, block: HeaderBlock, name: string): EnvelopeAddress[] | null {
  let list: EnvelopeAddress[] | null = null;
  for (const f of block.fields) {
    if (f.name !== name) continue;
    const more = parseAddressList(fieldValue(raw, f));
    if (more) list = list ? list.concat(more).slice(0, MAX_ADDRESSES) : more;
  }
  return list;
}

function nonEmpty(v: string | null): string | null {
  return v === '' ? null : v;
}

// Helpers here are module functions, not closures made per call: tsx (esbuild keepNames) wraps every named
// closure in a __name() call at creation, ~10% of summarizeMessage's time when they were closures.

/** RFC 9051 7.5.2 ENVELOPE from a header block. Values are raw (RFC 2047 words not decoded), unfolded. */
export function envelopeFromHeader(raw: Buffer, block: HeaderBlock): Envelope {
  // A repeated address field adds its addresses (as Dovecot does); a repeated string field overrides.
  const from = addressField(raw, block, 'from');
  // RFC 9051 7.5.2: absent or empty Sender / Reply-To take the value of From.
  const sender = addressField(raw, block, 'sender') ?? from;
  const replyTo = addressField(raw, block, 'reply-to') ?? from;
  return {
    date: nonEmpty(lastValue(raw, block, 'date')),
    subject: lastValue(raw, block, 'subject'),
    from,
    sender,
    replyTo,
    to: addressField(raw, block, 'to'),
    cc: addressField(raw, block, 'cc'),
    bcc: addressField(raw, block, 'bcc'),
    inReplyTo: nonEmpty(lastValue(raw, block, 'in-reply-to')),
    messageId: nonEmpty(lastValue(raw, block, 'message-id')),
  };
}

function delimiterBytes(boundary: string): Buffer {
  return Buffer.from('--' + boundary, /[^\x00-\xff]/.test(boundary) ? 'utf8' : 'latin1');
}

/** Split a multipart body into child regions (RFC 2046 5.1.1) and parse each. */
/** Move a part's end to include the line break after its close delimiter (see splitMultipart). */
function extendEnd(raw: Buffer, part: BodyPart, newEnd: number): void {
  part.bodyEnd = newEnd;
  part.size = newEnd - part.bodyStart;
  if (part.lines !== undefined) part.lines = countLines(raw, part.bodyStart, newEnd);
  if (part.type === 'message' && part.children?.[0]) extendEnd(raw, part.children[0], newEnd);
}

interface Split {
  children: BodyPart[];
  /** The close delimiter is the region's last line, with its line break cut off by the parent's delimiter. */
  closedAtEnd: boolean;
}

function splitMultipart(ctx: Context, boundary: string, start: number, end: number, depth: number, childDefault: 'text' | 'message'): Split {
  const raw = ctx.raw;
  const delim = delimiterBytes(boundary);
  // [start, end, end including the line break before the next delimiter]
  const regions: [number, number, number][] = [];
  let partStart = -1;
  let closedAtEnd = false;
  let pos = start;
  while (pos < end) {
    const idx = raw.indexOf(delim, pos);
    if (idx < 0 || idx + delim.length > end) break;
    if (idx !== start && raw[idx - 1] !== 10) {
      pos = idx + 1;
      continue;
    }
    const nl = raw.indexOf(10, idx + delim.length);
    const lineEnd = nl < 0 || nl >= end ? end : nl + 1;
    const after = raw[idx + delim.length];
    const isClose = after === 0x2d && raw[idx + delim.length + 1] === 0x2d;
    // RFC 2046 5.1.1: the boundary is followed by "--", blanks or the line end. Anything else means a longer
    // boundary that merely starts with ours ("--L1" is not a delimiter line of "L10").
    if (!isClose && after !== undefined && idx + delim.length < end && after !== 13 && after !== 10 && after !== 0x20 && after !== 0x09) {
      pos = idx + 1;
      continue;
    }
    if (partStart >= 0) {
      let partEnd = idx;
      if (partEnd > partStart && raw[partEnd - 1] === 10) partEnd--;
      if (partEnd > partStart && raw[partEnd - 1] === 13) partEnd--;
      regions.push([partStart, partEnd, idx]);
    }
    if (isClose) {
      partStart = -1;
      closedAtEnd = lineEnd === end && (nl < 0 || nl >= end);
      break;
    }
    partStart = lineEnd;
    pos = lineEnd;
    if (regions.length + ctx.parts >= MAX_MIME_PARTS) break;
  }
  // No close delimiter: the last part runs to the end of the multipart's body.
  if (partStart >= 0) regions.push([partStart, end, end]);
  const children: BodyPart[] = [];
  for (const [s, e, full] of regions) {
    if (ctx.parts >= MAX_MIME_PARTS) break;
    const child = parseEntity(ctx, s, e, depth + 1, childDefault, true);
    // A nested multipart's close delimiter line owns its line break, so the parent's next delimiter has none
    // before it to claim: the child keeps it (Dovecot's reading, and the one that round-trips).
    if (child.closedAtEnd && full > e) extendEnd(ctx.raw, child.part, full);
    children.push(child.part);
  }
  return { children, closedAtEnd };
}

/** `inMultipart`: the entity is a body part of a multipart, where MIME applies without a MIME-Version field. */
function parseEntity(ctx: Context, start: number, end: number, depth: number, defaultType: 'text' | 'message', inMultipart: boolean): { part: BodyPart; block: HeaderBlock; closedAtEnd: boolean } {
  const raw = ctx.raw;
  ctx.parts++;
  const block = parseHeaderBlock(raw, start, end);
  const bodyStart = block.bodyStart;

  // RFC 2045 5.2: no (or an unparsable) Content-Type means text/plain; charset=us-ascii. RFC 2046 5.1.5: in a
  // multipart/digest the default is message/rfc822.
  const ctValue = value(raw, block, 'content-type');
  let ct = ctValue === null ? null : parseContentType(ctValue);
  if (!ct) ct = defaultType === 'message' ? { type: 'message', subtype: 'rfc822', params: {} } : { type: 'text', subtype: 'plain', params: { charset: 'us-ascii' } };
  // RFC 2045 5.2: a text part without a charset is us-ascii; IMAP servers (Dovecot too) send it explicitly.
  if (ct.type === 'text' && !('charset' in ct.params)) ct.params = { ...ct.params, charset: 'us-ascii' };
  const encoding = parseToken(value(raw, block, 'content-transfer-encoding') ?? '') || '7bit';
  const dispValue = value(raw, block, 'content-disposition');
  const disposition = dispValue === null ? null : parseDisposition(dispValue);
  const langValue = value(raw, block, 'content-language');

  // RFC 2045 4: a message without MIME-Version and without Content-Type is plain RFC 5322 text; its other
  // Content-* fields are ignored and the defaults apply (Dovecot does the same).
  const plainRfc822 = ctValue === null && !inMultipart && findField(block, 'mime-version') === null;
  const part: BodyPart = plainRfc822
    ? {
        type: ct.type, subtype: ct.subtype, params: ct.params, id: null, description: null, encoding: '7bit',
        size: end - bodyStart, md5: null, disposition: null, language: null, location: null,
        headerStart: start, bodyStart, bodyEnd: end,
      }
    : {
      type: ct.type,
      subtype: ct.subtype,
      params: ct.params,
      id: value(raw, block, 'content-id'),
      description: value(raw, block, 'content-description'),
      encoding,
      size: end - bodyStart,
      md5: value(raw, block, 'content-md5'),
      disposition: disposition ? { type: disposition.value, params: disposition.params } : null,
      language: langValue === null ? null : parseLanguageList(langValue),
      location: value(raw, block, 'content-location'),
      headerStart: start,
      bodyStart,
      bodyEnd: end,
    };

  const boundary = ct.params['boundary'];
  let closedAtEnd = false;
  if (ct.type === 'multipart') {
    if (depth + 1 >= MAX_MIME_DEPTH) {
      // Too deep to split: an opaque leaf, typed application/octet-stream as Dovecot does at its limit.
      part.type = 'application';
      part.subtype = 'octet-stream';
    } else {
      const split = boundary ? splitMultipart(ctx, boundary, bodyStart, end, depth, ct.subtype === 'digest' ? 'message' : 'text') : null;
      if (split && split.children.length > 0) {
        part.children = split.children;
        closedAtEnd = split.closedAtEnd;
      }
      else {
        // No boundary parameter, or no delimiter line in the body: all of it is preamble, which RFC 2046
        // 5.1.1 says to ignore. IMAP's body-type-mpart needs a child: one empty text/plain part at the end,
        // as Dovecot reports it.
        ctx.parts++;
        part.children = [
          {
            type: 'text', subtype: 'plain', params: { charset: 'us-ascii' }, id: null, description: null, encoding: '7bit',
            size: 0, lines: 0, md5: null, disposition: null, language: null, location: null,
            headerStart: end, bodyStart: end, bodyEnd: end,
          },
        ];
      }
    }
  } else if (ct.type === 'message' && (ct.subtype === 'rfc822' || ct.subtype === 'global') && IDENTITY_ENCODINGS.has(encoding) && depth < MAX_MIME_DEPTH && ctx.parts < MAX_MIME_PARTS) {
    // RFC 9051 7.5.2: message/rfc822 carries the encapsulated message's envelope and body structure.
    const inner = parseEntity(ctx, bodyStart, end, depth + 1, 'text', false);
    closedAtEnd = inner.closedAtEnd;
    part.envelope = envelopeFromHeader(raw, inner.block);
    part.children = [inner.part];
    part.lines = countLines(raw, bodyStart, end);
  } else if (ct.type === 'text') {
    part.lines = countLines(raw, bodyStart, end);
  }
  return { part, block, closedAtEnd };
}

function parseSentDate(date: string | null): number | null {
  if (!date || date.length > MAX_DATE_CHARS) return null;
  // Comments such as "(EDT)" confuse Date.parse; RFC 5322 3.3 allows them. `[^()]`, not `[^)]`: with the
  // latter, each of n unclosed "(" scans to the end of the value, n^2 steps (250 KB of "(" took 48 s).
  const ms = Date.parse(date.replace(/\([^()]*\)/g, ' ').trim());
  return Number.isNaN(ms) ? null : ms;
}

/** Compute the stored summary of a raw message. Never throws; bounded time and memory (limits.ts). */
export function summarizeMessage(raw: Buffer): MessageSummary {
  const ctx: Context = { raw, parts: 0 };
  const { part, block } = parseEntity(ctx, 0, raw.length, 0, 'text', false);
  const headers: Record<string, string> = {};
  for (const f of block.fields) {
    if (f.name && !(f.name in headers) && SUMMARY_HEADERS.includes(f.name)) headers[f.name] = decodeHeaderValue(fieldValue(raw, f));
  }
  const envelope = envelopeFromHeader(raw, block);
  return {
    envelope,
    bodyStructure: part,
    headerSize: block.bodyStart,
    headers,
    sentDate: parseSentDate(envelope.date),
  };
}
