// Header blocks: where each field starts and ends in the raw bytes, and its unfolded value. Offsets are exact
// byte positions, so sections (HEADER, HEADER.FIELDS, MIME) are sliced from the stored message directly.
import { rangeToString } from './charset.ts';
import { MAX_HEADER_FIELDS, MAX_HEADER_VALUE_CHARS } from './limits.ts';

export interface HeaderField {
  /** Lower-case field name ("" for a line without a colon, which is kept as part of the header). */
  name: string;
  /** Offset of the field's first byte. */
  start: number;
  /** Offset just past the colon. */
  valueStart: number;
  /** Offset of the line break that ends the field's last line (exclusive end of the value). */
  valueEnd: number;
  /** Offset just past that line break. */
  end: number;
}

export interface HeaderBlock {
  fields: HeaderField[];
  /** Offset of the first body byte: just past the blank line, or `end` when there is no blank line. */
  bodyStart: number;
}

/** Parse the header block that starts at `start` (RFC 5322 2.2). The block ends at the first empty line; a part
 *  that has none is all header and an empty body (what Dovecot does too). Bare LF line ends are accepted. */
export function parseHeaderBlock(raw: Buffer, start: number, end: number): HeaderBlock {
  const fields: HeaderField[] = [];
  let pos = start;
  let current: HeaderField | null = null;
  while (pos < end) {
    let nl = raw.indexOf(10, pos);
    if (nl < 0 || nl >= end) nl = end;
    const lineEnd = nl < end ? nl + 1 : end;
    let contentEnd = nl;
    if (contentEnd > pos && raw[contentEnd - 1] === 13) contentEnd--;
    if (contentEnd === pos) {
      // The empty line that separates header and body.
      return { fields, bodyStart: lineEnd };
    }
    const first = raw[pos];
    if ((first === 0x20 || first === 0x09) && current) {
      // RFC 5322 2.2.3: a continuation line of a folded field.
      current.valueEnd = contentEnd;
      current.end = lineEnd;
    } else {
      const colon = raw.indexOf(58, pos);
      const hasColon = colon >= 0 && colon < contentEnd;
      current = {
        name: hasColon ? raw.toString('latin1', pos, colon).trim().toLowerCase() : '',
        start: pos,
        valueStart: hasColon ? colon + 1 : contentEnd,
        valueEnd: contentEnd,
        end: lineEnd,
      };
      if (fields.length < MAX_HEADER_FIELDS) fields.push(current);
    }
    pos = lineEnd;
  }
  return { fields, bodyStart: end };
}

/** The field's value unfolded (line breaks removed, RFC 5322 2.2.3), leading and trailing blanks trimmed.
 *  8-bit bytes are read as UTF-8 when valid, else Latin-1. */
export function fieldValue(raw: Buffer, field: HeaderField): string {
  const limit = Math.min(field.valueEnd, field.valueStart + MAX_HEADER_VALUE_CHARS);
  let text = rangeToString(raw, field.valueStart, limit);
  if (text.includes('\n')) text = text.replace(/\r?\n/g, '');
  return trimBlanks(text);
}

/** Without leading and trailing spaces and tabs (String.prototype.trim takes other whitespace too). */
function trimBlanks(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && (text.charCodeAt(start) === 0x20 || text.charCodeAt(start) === 0x09)) start++;
  while (end > start && (text.charCodeAt(end - 1) === 0x20 || text.charCodeAt(end - 1) === 0x09)) end--;
  return start === 0 && end === text.length ? text : text.slice(start, end);
}

/** The first field of that name, or null. */
export function findField(block: HeaderBlock, name: string): HeaderField | null {
  for (const f of block.fields) if (f.name === name) return f;
  return null;
}
