// Tokenizer over one framed command (lines joined by literals): the primitives of RFC 9051 9 that
// command parsers combine. Every failure throws ImapSyntaxError (-> tagged BAD). Pure, no I/O.
import { ImapSyntaxError } from '../errors.ts';
import { MAX_NESTING_DEPTH } from '../limits.ts';
import { isAstringChar, isAtomChar, isListChar, isTagChar } from './chars.ts';
import type { CommandFrame } from './frame.ts';

const LITERAL_MARKER = /^(~?)\{(\d{1,20})([+-]?)\}$/;

export class CommandParser {
  private lineIndex = 0;
  private pos = 0;
  private depth = 0;

  constructor(private readonly frame: CommandFrame) {}

  private get line(): string {
    return this.frame.lines[this.lineIndex] ?? '';
  }

  /** Next character of the current line, or '' at its end. */
  peek(): string {
    return this.line.charAt(this.pos);
  }

  peekCode(): number {
    const c = this.line.charCodeAt(this.pos);
    return Number.isNaN(c) ? -1 : c;
  }

  /** Text not yet consumed on the current line (for error messages and raw continuations). */
  rest(): string {
    return this.line.slice(this.pos);
  }

  atEnd(): boolean {
    return this.pos >= this.line.length && this.lineIndex >= this.frame.lines.length - 1;
  }

  /** The command must be over. */
  end(): void {
    if (!this.atEnd()) throw new ImapSyntaxError(`Unexpected text at the end of the command: "${clip(this.rest())}"`);
  }

  fail(what: string): never {
    const rest = this.rest();
    throw new ImapSyntaxError(rest ? `Expected ${what} at "${clip(rest)}"` : `Expected ${what} at the end of the line`);
  }

  /** Consumes `s` (case-insensitively) if it comes next. */
  take(s: string): boolean {
    const got = this.line.substr(this.pos, s.length);
    if (got.length === s.length && got.toUpperCase() === s.toUpperCase()) {
      this.pos += s.length;
      return true;
    }
    return false;
  }

  expect(s: string): void {
    if (!this.take(s)) this.fail(`"${s}"`);
  }

  sp(): void {
    if (this.peek() !== ' ') this.fail('a space');
    this.pos++;
  }

  /** Consumes a space if there is one. */
  maybeSp(): boolean {
    if (this.peek() === ' ') {
      this.pos++;
      return true;
    }
    return false;
  }

  /** Enters a parenthesised group, bounded by MAX_NESTING_DEPTH. */
  open(): void {
    this.expect('(');
    if (++this.depth > MAX_NESTING_DEPTH) throw new ImapSyntaxError(`Parentheses nested deeper than ${MAX_NESTING_DEPTH}`);
  }

  close(): void {
    this.expect(')');
    this.depth--;
  }

  tag(): string {
    const start = this.pos;
    while (this.pos < this.line.length && isTagChar(this.line.charCodeAt(this.pos))) this.pos++;
    if (this.pos === start) this.fail('a tag');
    return this.line.slice(start, this.pos);
  }

  atom(): string {
    const start = this.pos;
    while (this.pos < this.line.length && isAtomChar(this.line.charCodeAt(this.pos))) this.pos++;
    if (this.pos === start) this.fail('an atom');
    return this.line.slice(start, this.pos);
  }

  /** An atom that may contain "[...]" (FETCH att names like BODY.PEEK[1.MIME]) is parsed piecewise by
   * callers; this reads letters, digits and dots only. */
  word(): string {
    const start = this.pos;
    while (this.pos < this.line.length && /[A-Za-z0-9.=\-]/.test(this.line.charAt(this.pos))) this.pos++;
    if (this.pos === start) this.fail('a keyword');
    return this.line.slice(start, this.pos).toUpperCase();
  }

  number(): number {
    const m = /^\d{1,10}/.exec(this.rest());
    if (!m) this.fail('a number');
    const n = Number(m[0]);
    if (n > 0xffffffff) throw new ImapSyntaxError(`Number ${m[0]} is out of range`);
    this.pos += m[0].length;
    return n;
  }

  nzNumber(): number {
    const n = this.number();
    if (n === 0) throw new ImapSyntaxError('Expected a non-zero number');
    return n;
  }

  /** number64 (RFC 9051): mod-sequences. */
  number64(): number {
    const m = /^\d{1,19}/.exec(this.rest());
    if (!m) this.fail('a number');
    const n = Number(m[0]);
    if (!Number.isSafeInteger(n)) throw new ImapSyntaxError(`Number ${m[0]} is out of range`);
    this.pos += m[0].length;
    return n;
  }

  /** Is a literal (or literal8) next? */
  atLiteral(): boolean {
    const r = this.rest();
    return (r.startsWith('{') || r.startsWith('~{')) && LITERAL_MARKER.test(r) && this.lineIndex < this.frame.literals.length;
  }

  /** Reads a literal's octets; `binary` says whether literal8 (~{n}) is acceptable. */
  literal(binary = false): Buffer {
    const m = LITERAL_MARKER.exec(this.rest());
    if (!m || this.lineIndex >= this.frame.literals.length) this.fail('a literal');
    if (m[1] === '~' && !binary) throw new ImapSyntaxError('literal8 (~{n}) is only allowed in APPEND and BINARY');
    const data = this.frame.literals[this.lineIndex] as Buffer;
    if (!binary && data.includes(0)) throw new ImapSyntaxError('NUL octet in a literal');
    this.lineIndex++;
    this.pos = 0;
    return data;
  }

  atQuoted(): boolean {
    return this.peek() === '"';
  }

  quoted(): string {
    this.expect('"');
    let out = '';
    for (;;) {
      if (this.pos >= this.line.length) throw new ImapSyntaxError('Unterminated quoted string');
      const c = this.line.charAt(this.pos++);
      if (c === '"') return out;
      if (c === '\\') {
        const n = this.line.charAt(this.pos++);
        if (n !== '"' && n !== '\\') throw new ImapSyntaxError('Only \\" and \\\\ may be escaped in a quoted string');
        out += n;
      } else {
        out += c;
      }
    }
  }

  /** string = quoted / literal, as text (UTF-8). */
  string(): string {
    if (this.atQuoted()) return this.quoted();
    if (this.atLiteral()) return this.literal().toString('utf8');
    return this.fail('a string');
  }

  /** astring = 1*ASTRING-CHAR / string */
  astring(): string {
    if (this.atQuoted() || this.atLiteral()) return this.string();
    const start = this.pos;
    while (this.pos < this.line.length && isAstringChar(this.line.charCodeAt(this.pos))) this.pos++;
    if (this.pos === start) this.fail('a string or atom');
    return this.line.slice(start, this.pos);
  }

  /** nstring = string / NIL */
  nstring(): string | null {
    if (this.atQuoted() || this.atLiteral()) return this.string();
    this.expect('NIL');
    return null;
  }

  /** list-mailbox = 1*list-char / string */
  listMailbox(): string {
    if (this.atQuoted() || this.atLiteral()) return this.string();
    const start = this.pos;
    while (this.pos < this.line.length && isListChar(this.line.charCodeAt(this.pos))) this.pos++;
    if (this.pos === start) this.fail('a mailbox pattern');
    return this.line.slice(start, this.pos);
  }

  /** flag / flag-keyword: "\" atom or atom. */
  flag(allowRecentWildcard = false): string {
    if (this.peek() === '\\') {
      this.pos++;
      if (allowRecentWildcard && this.peek() === '*') {
        this.pos++;
        return '\\*';
      }
      return '\\' + this.atom();
    }
    return this.atom();
  }

  /** flag-list = "(" [flag *(SP flag)] ")" */
  flagList(): string[] {
    const flags: string[] = [];
    this.open();
    if (this.peek() !== ')') {
      flags.push(this.flag());
      while (this.maybeSp()) flags.push(this.flag());
    }
    this.close();
    return flags;
  }

  /** A parenthesised list of items (at least one unless allowEmpty). */
  list<T>(item: () => T, allowEmpty = false): T[] {
    const out: T[] = [];
    this.open();
    if (this.peek() === ')') {
      if (!allowEmpty) this.fail('at least one item');
    } else {
      out.push(item());
      while (this.maybeSp()) out.push(item());
    }
    this.close();
    return out;
  }
}

function clip(s: string): string {
  return s.length > 40 ? s.slice(0, 40) + '...' : s;
}
