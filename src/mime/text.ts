// extractSearchText: the decoded text SEARCH matches against (RFC 9051 6.4.4: BODY, TEXT, HEADER and the
// address/subject keys compare decoded text). Computed at delivery for the search index.
import type { BodyPart, MessageSummary } from './types.ts';
import { summarizeMessage } from './summarize.ts';
import { parseHeaderBlock, fieldValue } from './header.ts';
import { decodeHeaderValue } from './encoded-word.ts';
import { decodeCharset } from './charset.ts';
import { decodeTransfer } from './transfer.ts';
import { MAX_SEARCH_BODY_CHARS, MAX_SEARCH_HEADER_CHARS, MAX_SEARCH_PART_BYTES } from './limits.ts';

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ', copy: '©', reg: '®', euro: '€', hellip: '…', mdash: '—', ndash: '–' };

function decodeEntity(name: string): string | null {
  if (name[0] === '#') {
    const code = name[1] === 'x' || name[1] === 'X' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
    return Number.isFinite(code) && code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : null;
  }
  return ENTITIES[name.toLowerCase()] ?? null;
}

/** HTML to plain text for searching: tags removed (block tags become line breaks), script/style/head content
 *  dropped, entities decoded. A linear scan: no regular expression that can backtrack on hostile input. */
export function htmlToText(html: string): string {
  let out = '';
  let i = 0;
  const n = html.length;
  const lower = html.toLowerCase();
  while (i < n) {
    const lt = html.indexOf('<', i);
    const stop = lt < 0 ? n : lt;
    // Text run, with entities.
    let j = i;
    while (j < stop) {
      const amp = html.indexOf('&', j);
      if (amp < 0 || amp >= stop) {
        out += html.slice(j, stop);
        break;
      }
      out += html.slice(j, amp);
      const semi = html.indexOf(';', amp);
      const decoded = semi > amp && semi - amp <= 10 && semi < stop ? decodeEntity(html.slice(amp + 1, semi)) : null;
      if (decoded !== null) {
        out += decoded;
        j = semi + 1;
      } else {
        out += '&';
        j = amp + 1;
      }
    }
    if (lt < 0) break;
    if (lower.startsWith('<!--', lt)) {
      const end = html.indexOf('-->', lt + 4);
      i = end < 0 ? n : end + 3;
      continue;
    }
    const gt = html.indexOf('>', lt);
    if (gt < 0) break;
    const tag = /^<\/?([a-z0-9]+)/.exec(lower.slice(lt, Math.min(gt + 1, lt + 12)));
    const name = tag ? tag[1]! : '';
    i = gt + 1;
    if ((name === 'script' || name === 'style' || name === 'head' || name === 'title') && lower[lt + 1] !== '/') {
      const close = lower.indexOf(`</${name}`, i);
      if (name !== 'title') {
        i = close < 0 ? n : close;
        continue;
      }
    }
    if (/^(br|p|div|tr|li|h[1-6]|table|blockquote)$/.test(name)) out += '\n';
    else out += ' ';
  }
  return out.replace(/[ \t\u00a0]+/g, ' ');
}

function headerText(raw: Buffer, start: number, end: number, limit: number): string {
  const block = parseHeaderBlock(raw, start, end);
  let out = '';
  for (const f of block.fields) {
    if (!f.name) continue;
    out += `${f.name}: ${decodeHeaderValue(fieldValue(raw, f))}\n`;
    if (out.length >= limit) return out.slice(0, limit);
  }
  return out;
}

function partText(raw: Buffer, part: BodyPart): string {
  const body = raw.subarray(part.bodyStart, Math.min(part.bodyEnd, part.bodyStart + MAX_SEARCH_PART_BYTES * 2));
  const decoded = decodeTransfer(body, part.encoding) ?? body;
  const bytes = decoded.length > MAX_SEARCH_PART_BYTES ? decoded.subarray(0, MAX_SEARCH_PART_BYTES) : decoded;
  const text = decodeCharset(bytes, part.params['charset'] ?? null);
  return part.subtype === 'html' ? htmlToText(text) : text;
}

/** The text of a part's text/* leaves, in order, until MAX_SEARCH_BODY_CHARS are collected. */
function collectBodyText(raw: Buffer, part: BodyPart, collected: { chunks: string[]; size: number }): void {
  if (collected.size >= MAX_SEARCH_BODY_CHARS) return;
  if (part.children) {
    // An encapsulated message contributes its body text; its header is not body text (Dovecot's BODY
    // search does not match it either).
    for (const c of part.children) collectBodyText(raw, c, collected);
    return;
  }
  if (part.type !== 'text') return;
  const t = partText(raw, part);
  collected.chunks.push(t);
  collected.size += t.length;
}

/** Decoded text for SEARCH: the top-level header fields ("name: value" lines, RFC 2047 decoded) and the body
 *  text (text/* parts transfer-decoded and converted from their charset, HTML reduced to text, non-text parts
 *  skipped; the bodies of encapsulated messages included, their headers not). Both bounded (limits.ts). Never throws.
 *  Pass the message's summary when it is at hand (the store has just computed it) to avoid parsing twice. */
export function extractSearchText(raw: Buffer, summary: MessageSummary = summarizeMessage(raw)): { header: string; body: string } {
  const header = headerText(raw, 0, summary.headerSize, MAX_SEARCH_HEADER_CHARS);
  const collected = { chunks: [] as string[], size: 0 };
  collectBodyText(raw, summary.bodyStructure, collected);
  let body = collected.chunks.join('\n');
  if (body.length > MAX_SEARCH_BODY_CHARS) body = body.slice(0, MAX_SEARCH_BODY_CHARS);
  return { header, body };
}
