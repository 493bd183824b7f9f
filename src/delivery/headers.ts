// Header-block surgery on raw messages: find the header block, drop some fields, prepend trace fields.
// Byte-exact: the body and every header we keep are copied unchanged, so DKIM signatures stay valid.
// Pure functions over Buffers (RFC 5322 2.2: a header field is a name, a colon, and a value that may be
// folded over several lines, each continuation starting with SP or HTAB).

const CRLF = Buffer.from('\r\n');

/** Offset just past the blank line that ends the header block (the body starts there), or raw.length when
 * the message has no body separator (a header-only message). */
export function headerBlockEnd(raw: Buffer): number {
  let pos = 0;
  while (pos < raw.length) {
    const nl = raw.indexOf(0x0a, pos);
    if (nl < 0) return raw.length;
    // An empty line ("\r\n" or "\n") ends the header block.
    const lineLength = nl - pos;
    if (lineLength === 0 || (lineLength === 1 && raw[pos] === 0x0d)) return nl + 1;
    pos = nl + 1;
  }
  return raw.length;
}

export interface HeaderField {
  /** Field name as written (case kept). */
  name: string;
  /** Byte range of the whole field, folded lines and final line break included. */
  start: number;
  end: number;
}

/** The fields of the top-level header block, in order. Lines that are not fields (garbage before the first
 * colon) are reported as fields with an empty name so that nothing is lost when rewriting. */
export function headerFields(raw: Buffer): HeaderField[] {
  const end = headerBlockEnd(raw);
  const fields: HeaderField[] = [];
  let pos = 0;
  while (pos < end) {
    const first = raw[pos];
    const nl = raw.indexOf(0x0a, pos);
    const lineEnd = nl < 0 || nl >= end ? end : nl + 1;
    if ((first === 0x20 || first === 0x09) && fields.length > 0) {
      // RFC 5322 2.2.3: a continuation line belongs to the previous field.
      fields[fields.length - 1]!.end = lineEnd;
    } else {
      const line = raw.subarray(pos, lineEnd);
      const colon = line.indexOf(0x3a);
      const isBlank = line.length <= 2 && (line[0] === 0x0d || line[0] === 0x0a);
      if (isBlank) break;
      const name = colon > 0 ? line.subarray(0, colon).toString('latin1').trimEnd() : '';
      fields.push({ name, start: pos, end: lineEnd });
    }
    pos = lineEnd;
  }
  return fields;
}

/** The unfolded value of a field (without the name and colon). */
export function fieldValue(raw: Buffer, field: HeaderField): string {
  const text = raw.subarray(field.start, field.end).toString('utf8');
  const colon = text.indexOf(':');
  return text
    .slice(colon + 1)
    .replace(/\r?\n[ \t]/g, ' ')
    .trim();
}

/** A copy of raw without the top-level header fields for which `drop` returns true. Returns raw itself
 * (no copy) when nothing is dropped. */
export function removeHeaderFields(raw: Buffer, drop: (name: string, value: string) => boolean): Buffer {
  const fields = headerFields(raw);
  const removed = fields.filter((f) => f.name !== '' && drop(f.name, fieldValue(raw, f)));
  if (removed.length === 0) return raw;
  const parts: Buffer[] = [];
  let pos = 0;
  for (const f of removed) {
    parts.push(raw.subarray(pos, f.start));
    pos = f.end;
  }
  parts.push(raw.subarray(pos));
  return Buffer.concat(parts);
}

/** Every value of one field name (case-insensitive) in the top-level header block. */
export function headerValues(raw: Buffer, name: string): string[] {
  const lower = name.toLowerCase();
  return headerFields(raw)
    .filter((f) => f.name.toLowerCase() === lower)
    .map((f) => fieldValue(raw, f));
}

/** Header lines may be folded ("\r\n" + SP/HTAB) but must hold no other line break: a CR or LF that is not
 * part of a fold would let a value (an address, a HELO name) inject header fields. */
const SAFE_HEADER_LINE = /^[!-9;-~]+:(?:[^\r\n]|\r\n[ \t])*$/;

export function isSafeHeaderLine(line: string): boolean {
  return SAFE_HEADER_LINE.test(line);
}

/** raw with the given header lines (no trailing CRLF) prepended, top first. Throws on an unsafe line: the
 * callers build these lines, so a bad one is a programming error. */
export function prependHeaderLines(raw: Buffer, lines: readonly string[]): Buffer {
  if (lines.length === 0) return raw;
  for (const line of lines) {
    if (!isSafeHeaderLine(line)) throw new Error(`refusing to prepend a malformed header line: ${JSON.stringify(line.slice(0, 80))}`);
  }
  return Buffer.concat([Buffer.from(lines.join('\r\n'), 'utf8'), CRLF, raw]);
}

/** raw with every bare LF turned into CRLF (mail piped from a Unix tool), or raw itself when it has none.
 * IMAP (RFC 9051 2.2) and SMTP both speak CRLF; storing it so keeps RFC822.SIZE and byte offsets true. */
export function toCrlf(raw: Buffer): Buffer {
  let bare = false;
  for (let nl = raw.indexOf(0x0a); nl >= 0; nl = raw.indexOf(0x0a, nl + 1)) {
    if (nl === 0 || raw[nl - 1] !== 0x0d) {
      bare = true;
      break;
    }
  }
  if (!bare) return raw;
  const out: Buffer[] = [];
  let pos = 0;
  for (let nl = raw.indexOf(0x0a); nl >= 0; nl = raw.indexOf(0x0a, nl + 1)) {
    if (nl > 0 && raw[nl - 1] === 0x0d) continue;
    out.push(raw.subarray(pos, nl), CRLF);
    pos = nl + 1;
  }
  out.push(raw.subarray(pos));
  return Buffer.concat(out);
}
