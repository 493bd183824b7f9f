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

const PACKING_VERSION = 1;
const HEADER_BYTES = 1 + 2;
const RUN_BYTES = 4 + 4 + 4 + 2;
/** Runs shorter than this are not worth their header and the work. */
const MIN_RUN_BYTES = 1024;
/** RFC 5322 2.1.1: a line is at most 998 characters; base64 lines are a multiple of 4. */
const MAX_LINE_LENGTH = 996;
/** Runs per body: bounds the header, and the work of a body with thousands of tiny parts. */
const MAX_RUNS = 1024;
/** Base64 text decoded or encoded at a time: bounds the strings made on the way (a string holds at most ~512 MiB
 * characters, and a body may be as large). */
const CHUNK_BYTES = 1024 * 1024;
const CR = 13;
const LF = 10;
const EQUALS = 0x3d;
const MINUS = 0x2d;
const UNDERSCORE = 0x5f;
const BLANK_LINE = Buffer.from('\r\n\r\n');
/** 1 for the bytes of the standard base64 alphabet. */
const IS_BASE64 = new Uint8Array(256);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/') IS_BASE64[c.charCodeAt(0)] = 1;

interface Run {
  start: number;
  end: number;
  lineLength: number;
  padding: number;
  decodedLength: number;
}

/**
 * The packed form of `raw` in a buffer from `allocate` (of exactly the length asked for), or null when nothing
 * in it packs. The runs are looked for without parsing MIME: lines of base64 after a blank line. Whatever part
 * a run is in, it is packed only if it comes back exactly, so a wrong guess costs nothing but the look.
 */
export function packBody(raw: Buffer, allocate: (length: number) => Buffer = Buffer.allocUnsafe): Buffer | null {
  const runs = findRuns(raw);
  if (runs.length === 0) return null;
  let length = HEADER_BYTES + RUN_BYTES * runs.length + raw.length;
  for (const run of runs) length -= run.end - run.start - run.decodedLength;
  const packed = allocate(length);
  packed.writeUInt8(PACKING_VERSION, 0);
  packed.writeUInt16BE(runs.length, 1);
  let write = HEADER_BYTES + RUN_BYTES * runs.length;
  let at = 0;
  for (const [i, run] of runs.entries()) {
    const o = HEADER_BYTES + RUN_BYTES * i;
    packed.writeUInt32BE(run.start, o);
    packed.writeUInt32BE(run.end - run.start, o + 4);
    packed.writeUInt32BE(run.decodedLength, o + 8);
    packed.writeUInt16BE(run.lineLength, o + 12);
    write += raw.copy(packed, write, at, run.start);
    // Decoded straight into place, whole lines at a time (each a whole number of quanta). A byte outside the
    // alphabet (a stray CR or LF inside a line, a space, 8-bit data) is skipped by the decoder: then fewer bytes
    // come out than the characters give.
    const chunk = Math.max(1, Math.floor(CHUNK_BYTES / (run.lineLength + 2))) * (run.lineLength + 2);
    let decoded = 0;
    for (let from = run.start; from < run.end; from += chunk) {
      decoded += packed.write(raw.toString('latin1', from, Math.min(from + chunk, run.end)), write + decoded, run.decodedLength - decoded, 'base64');
    }
    if (decoded !== run.decodedLength) return null;
    // Non-zero padding bits decode like zero ones; encoding would not give them back.
    const lastQuantum = packed.toString('base64', write + decoded - (3 - run.padding), write + decoded);
    if (raw.toString('latin1', run.end - 4, run.end) !== lastQuantum) return null;
    write += decoded;
    at = run.end;
  }
  raw.copy(packed, write, at);
  return packed;
}

/** The runs of `raw` that look like base64 that encoding gives back exactly; packBody checks the rest. Each
 * candidate starts after a blank line and is walked line by line, so that finding where it ends costs no
 * search through it. */
function findRuns(raw: Buffer): Run[] {
  const runs: Run[] = [];
  let blank = raw.indexOf(BLANK_LINE);
  while (blank >= 0 && runs.length < MAX_RUNS) {
    // More blank lines before the text stay as they are.
    let start = blank + BLANK_LINE.length;
    while (raw[start] === CR && raw[start + 1] === LF) start += 2;
    const run = base64Run(raw, start);
    if (run) runs.push(run);
    blank = raw.indexOf(BLANK_LINE, run ? run.end : start);
  }
  return runs;
}

/** The run of base64 lines from `start`, when its shape is that of base64 that encoding gives back: lines of
 * one length joined by CRLF, the last one no longer, no "=" but the padding, none of the URL-safe alphabet. It
 * ends with the last line followed by something that cannot begin a line of it. */
function base64Run(raw: Buffer, start: number): Run | null {
  const firstBreak = raw.indexOf(CR, start);
  const lineLength = (firstBreak < 0 ? raw.length : firstBreak) - start;
  if (lineLength < 4 || lineLength % 4 !== 0 || lineLength > MAX_LINE_LENGTH) return null;
  let line = start;
  let fullLines = 0;
  while (raw[line + lineLength] === CR && raw[line + lineLength + 1] === LF && IS_BASE64[raw[line + lineLength + 2] ?? 0] === 1) {
    line += lineLength + 2;
    fullLines++;
  }
  const lastBreak = raw.indexOf(CR, line);
  let end = lastBreak < 0 ? raw.length : lastBreak;
  // White space at the end of the last line stays as it is.
  while (end > line && (raw[end - 1] === 0x20 || raw[end - 1] === 0x09)) end--;
  const lastLine = end - line;
  if (lastLine < 1 || lastLine > lineLength || end - start < MIN_RUN_BYTES) return null;
  const chars = fullLines * lineLength + lastLine;
  if (chars % 4 !== 0) return null;
  const padding = raw[end - 1] === EQUALS ? (raw[end - 2] === EQUALS ? 2 : 1) : 0;
  const span = raw.subarray(start, end);
  const equals = span.indexOf(EQUALS);
  if ((equals >= 0 && equals < span.length - padding) || span.indexOf(MINUS) >= 0 || span.indexOf(UNDERSCORE) >= 0) return null;
  return { start, end, lineLength, padding, decodedLength: (chars / 4) * 3 - padding };
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

/** Writes `decoded` in base64 to `out` at `start`: `lines` lines of `lineLength` characters joined by CRLF. A
 * chunk of lines at a time: its characters are written in one go at the end of the chunk's place, then each
 * line moved to where it belongs (forward, never over a line not yet moved). */
function encodeLines(decoded: Buffer, out: Buffer, start: number, lineLength: number, lines: number): void {
  const lineBytes = (lineLength / 4) * 3;
  const linesPerChunk = Math.max(1, Math.floor(CHUNK_BYTES / lineLength));
  for (let first = 0; first < lines; first += linesPerChunk) {
    const count = Math.min(linesPerChunk, lines - first);
    const last = first + count === lines;
    const at = start + first * (lineLength + 2);
    // A line break after every line of the chunk, but for the run's last line.
    const breaks = 2 * (last ? count - 1 : count);
    const chunk = decoded.subarray(first * lineBytes, Math.min(decoded.length, (first + count) * lineBytes));
    const chars = out.write(chunk.toString('base64'), at + breaks, 'latin1');
    for (let k = 0; k < count; k++) {
      const from = at + breaks + k * lineLength;
      const to = at + k * (lineLength + 2);
      out.copyWithin(to, from, Math.min(from + lineLength, at + breaks + chars));
      if (!last || k < count - 1) {
        out[to + lineLength] = CR;
        out[to + lineLength + 1] = LF;
      }
    }
  }
}
