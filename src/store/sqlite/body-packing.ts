// Body packing: the base64 parts of a body kept decoded in its segment record, and encoded again, byte for
// byte, when the body is read.
//
// Why: most of the bytes of large mail are attachments in base64 (RFC 2045 6.8), four characters for every
// three bytes plus a line break every 76 characters. Kept decoded, a 100 KB message with an attachment takes
// ~75 KB of its segment: a quarter less disk, and a quarter less to write and fdatasync for every delivery
// (bench:store, 100 KB at 32 writers). Dovecot's attachment store decodes base64 the same way, and only when
// encoding it again gives back the same bytes.
//
// A run is packed only when encoding gives it back exactly: lines of one length L (a multiple of 4, at most
// MAX_LINE_LENGTH) joined by CRLF, the last line 1..L characters, the standard alphabet only, "=" padding
// only at the very end, and padding bits of zero. Anything else in the body stays as it is. The check costs
// no pass over the bytes of its own: the line breaks are looked at where they must be, "=", "-" and "_" are
// searched for natively, the decoder's output length must be exactly what the characters give (Node's decoder
// skips a byte outside the alphabet, which shortens it), and the last quantum is encoded again and compared.
// body-packing.test.ts puts every byte value at every kind of position to hold that to account.
//
// Packed form (the plaintext of a v3 record, segment-record.mjs):
//   u8 PACKING_VERSION, u16 run count, then per run: u32 start (offset in the body), u32 encoded length,
//   u32 decoded length, u16 line length; then the body with each run replaced by its decoded bytes.
import { StoreError } from '../types.ts';
import type { BodyPart } from '../../mime/index.ts';

const PACKING_VERSION = 1;
const HEADER_BYTES = 1 + 2;
const RUN_BYTES = 4 + 4 + 4 + 2;
/** Runs shorter than this are not worth their header and the work. */
const MIN_RUN_BYTES = 1024;
/** RFC 5322 2.1.1: a line is at most 998 characters; base64 lines are a multiple of 4. */
const MAX_LINE_LENGTH = 996;
/** Runs per body: bounds the header, and the work of a body with thousands of tiny parts. */
const MAX_RUNS = 1024;
const CR = 13;
const LF = 10;
const EQUALS = 0x3d;
const MINUS = 0x2d;
const UNDERSCORE = 0x5f;

/** The packed form of a body: `parts` concatenated, `length` bytes. The decoded runs are buffers of their own
 * (`owned`), which the caller may hand to another thread instead of copying them. */
export interface PackedBody {
  parts: Uint8Array[];
  length: number;
  owned: ArrayBuffer[];
}

interface Run {
  start: number;
  encodedLength: number;
  decoded: Buffer;
  lineLength: number;
}

/** Where a body's base64 parts are (from its MIME summary): the candidate runs, in order. */
export function base64Regions(root: BodyPart): { start: number; end: number }[] {
  const regions: { start: number; end: number }[] = [];
  const visit = (part: BodyPart): void => {
    if (part.encoding.toLowerCase() === 'base64') {
      if (part.bodyEnd - part.bodyStart >= MIN_RUN_BYTES) regions.push({ start: part.bodyStart, end: part.bodyEnd });
      return;
    }
    for (const child of part.children ?? []) visit(child);
  };
  visit(root);
  return regions;
}

/** The packed form of `raw`, or null when nothing in it packs (or packing would save too little). */
export function packBody(raw: Buffer, regions: readonly { start: number; end: number }[]): PackedBody | null {
  const runs: Run[] = [];
  let after = 0;
  for (const region of regions) {
    if (runs.length >= MAX_RUNS) break;
    if (region.start < after || region.end > raw.length || region.start >= region.end) continue;
    // The line break (or white space) before the next boundary stays as it is.
    let end = region.end;
    while (end > region.start && isSpace(raw[end - 1] as number)) end--;
    const run = packRun(raw, region.start, end);
    if (!run) continue;
    runs.push(run);
    after = end;
  }
  if (runs.length === 0) return null;
  const header = Buffer.alloc(HEADER_BYTES + RUN_BYTES * runs.length);
  header.writeUInt8(PACKING_VERSION, 0);
  header.writeUInt16BE(runs.length, 1);
  const parts: Uint8Array[] = [header];
  const owned: ArrayBuffer[] = [];
  let length = header.length;
  let at = 0;
  runs.forEach((run, i) => {
    const o = HEADER_BYTES + RUN_BYTES * i;
    header.writeUInt32BE(run.start, o);
    header.writeUInt32BE(run.encodedLength, o + 4);
    header.writeUInt32BE(run.decoded.length, o + 8);
    header.writeUInt16BE(run.lineLength, o + 12);
    if (run.start > at) parts.push(raw.subarray(at, run.start));
    parts.push(run.decoded);
    length += run.start - at + run.decoded.length;
    at = run.start + run.encodedLength;
    const buffer = run.decoded.buffer;
    if (buffer instanceof ArrayBuffer && run.decoded.byteOffset === 0 && buffer.byteLength === run.decoded.length) owned.push(buffer);
  });
  if (at < raw.length) parts.push(raw.subarray(at));
  length += raw.length - at;
  return { parts, length, owned };
}

function isSpace(byte: number): boolean {
  return byte === CR || byte === LF || byte === 0x20 || byte === 0x09;
}

/** `raw[start, end)` decoded, when encoding the result with its line length gives those bytes back exactly. */
function packRun(raw: Buffer, start: number, end: number): Run | null {
  const length = end - start;
  if (length < MIN_RUN_BYTES) return null;
  const firstBreak = raw.indexOf(CR, start);
  const lineLength = firstBreak < 0 || firstBreak >= end ? length : firstBreak - start;
  if (lineLength < 4 || lineLength % 4 !== 0 || lineLength > MAX_LINE_LENGTH) return null;
  const fullLines = Math.floor((length - 1) / (lineLength + 2));
  const lastLine = length - fullLines * (lineLength + 2);
  if (lastLine > lineLength) return null;
  for (let k = 0, p = start + lineLength; k < fullLines; k++, p += lineLength + 2) {
    if (raw[p] !== CR || raw[p + 1] !== LF) return null;
  }
  const chars = fullLines * lineLength + lastLine;
  if (chars % 4 !== 0) return null;
  const padding = raw[end - 1] === EQUALS ? (raw[end - 2] === EQUALS ? 2 : 1) : 0;
  const span = raw.subarray(start, end);
  const equals = span.indexOf(EQUALS);
  if ((equals >= 0 && equals < length - padding) || span.indexOf(MINUS) >= 0 || span.indexOf(UNDERSCORE) >= 0) return null;
  const decoded = Buffer.from(raw.toString('latin1', start, end), 'base64');
  // A byte outside the alphabet (a stray CR or LF inside a line, a space, 8-bit data) is skipped by the
  // decoder: then fewer bytes come out than the characters give.
  if (decoded.length !== (chars / 4) * 3 - padding) return null;
  // Non-zero padding bits decode like zero ones; encoding would not give them back.
  if (raw.toString('latin1', end - 4, end) !== decoded.toString('base64', decoded.length - (3 - padding))) return null;
  return { start, encodedLength: length, decoded, lineLength };
}

/** The body of `size` bytes whose packed form is `packed`; StoreError 'corrupt' when the form is not one
 * packBody makes (the record's tag passed, so this is a bug or a forged key, never a torn write). */
export function unpackBody(packed: Buffer, size: number): Buffer {
  const corrupt = (why: string): StoreError => new StoreError('corrupt', `a packed body record is malformed: ${why}`);
  if (packed.length < HEADER_BYTES || packed[0] !== PACKING_VERSION) throw corrupt('unknown packing version');
  const count = packed.readUInt16BE(1);
  let read = HEADER_BYTES + RUN_BYTES * count;
  if (count === 0 || count > MAX_RUNS || read > packed.length) throw corrupt('bad run count');
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (let i = 0; i < count; i++) {
    const o = HEADER_BYTES + RUN_BYTES * i;
    const start = packed.readUInt32BE(o);
    const encodedLength = packed.readUInt32BE(o + 4);
    const decodedLength = packed.readUInt32BE(o + 8);
    const lineLength = packed.readUInt16BE(o + 12);
    const chars = Math.ceil(decodedLength / 3) * 4;
    const lines = Math.ceil(chars / lineLength);
    if (start < at || lineLength < 4 || lineLength % 4 !== 0 || decodedLength === 0 || encodedLength !== chars + 2 * (lines - 1) || start + encodedLength > size) {
      throw corrupt(`run ${i + 1} does not fit`);
    }
    const verbatim = start - at;
    if (read + verbatim + decodedLength > packed.length) throw corrupt('shorter than its runs');
    packed.copy(out, at, read, read + verbatim);
    read += verbatim;
    encodeLines(packed.subarray(read, read + decodedLength), out, start, lineLength, lines);
    read += decodedLength;
    at = start + encodedLength;
  }
  if (packed.length - read !== size - at) throw corrupt('its length does not match the body size');
  packed.copy(out, at, read);
  return out;
}

/** Writes `decoded` in base64 to `out` at `start`: lines of `lineLength` characters joined by CRLF. The
 * characters are written in one go at the end of the run's place, then each line moved to where it belongs
 * (forward, never over a line not yet moved). */
function encodeLines(decoded: Buffer, out: Buffer, start: number, lineLength: number, lines: number): void {
  const breaks = 2 * (lines - 1);
  const chars = out.write(decoded.toString('base64'), start + breaks, 'latin1');
  if (breaks === 0) return;
  for (let k = 0; k < lines; k++) {
    const from = start + breaks + k * lineLength;
    const to = start + k * (lineLength + 2);
    const lineEnd = Math.min(from + lineLength, start + breaks + chars);
    out.copyWithin(to, from, lineEnd);
    if (k < lines - 1) {
      out[to + lineLength] = CR;
      out[to + lineLength + 1] = LF;
    }
  }
}
