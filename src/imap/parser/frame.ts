// Framing: raw bytes -> complete commands (one line, or several lines joined by literals).
// Pure: no socket. The connection feeds bytes with push() and acts on the events it returns: send a
// continuation request, reject a command (line too long, literal too big) or run a frame.
//
// RFC 9051 4.3 / RFC 7888: a line ending in {n} announces a synchronising literal (the client waits for
// "+" before sending n octets); {n+} (LITERAL+) and {n-} (LITERAL-) are sent without waiting. A literal over
// the limit is refused BEFORE its bytes are read: for a synchronising one no continuation is sent, so the
// client never sends the octets; non-synchronising octets are already on their way and are discarded.
import { isTagChar } from './chars.ts';
import { MAX_LINE_BYTES, MAX_LITERALS_PER_COMMAND, MAX_SMALL_LITERAL_BYTES } from '../limits.ts';

export interface CommandFrame {
  /** Text lines without CRLF. Every line but the last ends with a literal marker ({n}, {n+}, ~{n}). */
  lines: string[];
  /** literals[i] follows lines[i]. */
  literals: Buffer[];
}

export type FrameEvent =
  | { kind: 'frame'; frame: CommandFrame }
  | { kind: 'continue' }
  /** The command is refused before its literal: answer `tag <status> [code] text`. With close, end the connection. */
  | { kind: 'reject'; tag: string; status: 'BAD' | 'NO'; code: string | null; text: string; close: boolean };

/** What the literals of a command may weigh together, decided from its first line (APPEND carries messages). */
export type LiteralLimit = (firstLine: string) => number;

const LITERAL_AT_END = /(~?)\{(\d{1,20})([+-]?)\}$/;

/** Non-synchronising octets over the limit are read and dropped; past this multiple of the limit we stop
 * reading and close instead, so an absurd announced size cannot keep the connection busy forever. */
const DISCARD_FACTOR = 4;

export class Framer {
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  private lines: string[] = [];
  private literals: Buffer[] = [];
  /** Octets still expected for the literal being read. */
  private literalRemaining = 0;
  private literalChunks: Buffer[] = [];
  /** Octets to drop (an oversized non-synchronising literal); then the rest of that line is dropped too. */
  private discardRemaining = 0;
  private discardingLine = false;
  private closed = false;

  constructor(private readonly literalLimit: LiteralLimit = () => MAX_SMALL_LITERAL_BYTES) {}

  /** Feeds bytes; returns what to do, in order. */
  push(chunk: Buffer): FrameEvent[] {
    const events: FrameEvent[] = [];
    let data = chunk;
    while (data.length > 0 && !this.closed) {
      if (this.discardRemaining > 0) {
        const n = Math.min(this.discardRemaining, data.length);
        this.discardRemaining -= n;
        data = data.subarray(n);
        if (this.discardRemaining === 0) this.discardingLine = true;
        continue;
      }
      if (this.literalRemaining > 0) {
        const n = Math.min(this.literalRemaining, data.length);
        this.literalChunks.push(data.subarray(0, n));
        this.literalRemaining -= n;
        data = data.subarray(n);
        if (this.literalRemaining === 0) {
          this.literals.push(Buffer.concat(this.literalChunks));
          this.literalChunks = [];
        }
        continue;
      }
      const nl = data.indexOf(0x0a);
      if (nl < 0) {
        if (!this.discardingLine) {
          this.buffered.push(data);
          this.bufferedBytes += data.length;
          if (this.bufferedBytes > MAX_LINE_BYTES) {
            events.push(this.rejectLongLine());
            this.discardingLine = true;
          }
        }
        break;
      }
      const piece = data.subarray(0, nl);
      data = data.subarray(nl + 1);
      if (this.discardingLine) {
        this.discardingLine = false;
        this.reset();
        continue;
      }
      if (this.bufferedBytes + piece.length > MAX_LINE_BYTES) {
        events.push(this.rejectLongLine());
        this.reset();
        continue;
      }
      this.buffered.push(piece);
      let lineBuf = Buffer.concat(this.buffered);
      this.buffered = [];
      this.bufferedBytes = 0;
      if (lineBuf.length > 0 && lineBuf[lineBuf.length - 1] === 0x0d) lineBuf = lineBuf.subarray(0, lineBuf.length - 1);
      const line = lineBuf.toString('utf8');
      this.lines.push(line);
      const m = LITERAL_AT_END.exec(line);
      if (!m) {
        const frame: CommandFrame = { lines: this.lines, literals: this.literals };
        this.lines = [];
        this.literals = [];
        events.push({ kind: 'frame', frame });
        continue;
      }
      const size = Number(m[2]);
      const synchronising = m[3] === '';
      const first = this.lines[0] ?? '';
      // The limit holds for all literals of one command together (APPEND has a single one).
      const limit = this.literalLimit(first) - this.literals.reduce((n, l) => n + l.length, 0);
      const tag = tagOf(first);
      if (this.literals.length >= MAX_LITERALS_PER_COMMAND) {
        events.push({ kind: 'reject', tag, status: 'BAD', code: 'LIMIT', text: `More than ${MAX_LITERALS_PER_COMMAND} literals in one command`, close: !synchronising });
        if (!synchronising) this.closed = true;
        this.reset();
        continue;
      }
      if (size > limit) {
        const text = `Literal of ${size} octets is over the limit of ${limit}`;
        if (synchronising) {
          // RFC 9051 7.1 TOOBIG; no continuation is sent, so the client does not send the octets.
          events.push({ kind: 'reject', tag, status: 'NO', code: 'TOOBIG', text, close: false });
          this.reset();
        } else if (size > limit * DISCARD_FACTOR) {
          events.push({ kind: 'reject', tag, status: 'BAD', code: 'TOOBIG', text, close: true });
          this.closed = true;
        } else {
          // RFC 7888 4: the octets are on their way; read and drop them, then the rest of the command.
          events.push({ kind: 'reject', tag, status: 'BAD', code: 'TOOBIG', text, close: false });
          this.reset();
          this.discardRemaining = size;
          if (size === 0) this.discardingLine = true;
        }
        continue;
      }
      if (synchronising) events.push({ kind: 'continue' });
      if (size === 0) this.literals.push(Buffer.alloc(0));
      else this.literalRemaining = size;
    }
    return events;
  }

  /** Bytes held for a command not yet complete (for memory accounting in tests). */
  get pendingBytes(): number {
    return this.bufferedBytes + this.literals.reduce((n, l) => n + l.length, 0) + this.literalChunks.reduce((n, l) => n + l.length, 0);
  }

  private rejectLongLine(): FrameEvent {
    const first = this.lines[0] ?? Buffer.concat(this.buffered).subarray(0, 200).toString('latin1');
    this.buffered = [];
    this.bufferedBytes = 0;
    return { kind: 'reject', tag: tagOf(first), status: 'BAD', code: 'TOOBIG', text: `Command line longer than ${MAX_LINE_BYTES} octets`, close: false };
  }

  private reset(): void {
    this.buffered = [];
    this.bufferedBytes = 0;
    this.lines = [];
    this.literals = [];
    this.literalChunks = [];
    this.literalRemaining = 0;
  }
}

/** The tag of a (possibly broken) command line, or "*" when there is none we could echo safely. */
export function tagOf(line: string): string {
  const sp = line.indexOf(' ');
  const tag = sp < 0 ? line : line.slice(0, sp);
  if (tag.length === 0 || tag.length > 64) return '*';
  for (let i = 0; i < tag.length; i++) if (!isTagChar(tag.charCodeAt(i))) return '*';
  return tag;
}
