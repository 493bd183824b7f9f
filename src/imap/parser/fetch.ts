// FETCH attributes (RFC 9051 6.4.5, RFC 3516 BINARY, RFC 7162 MODSEQ/CHANGEDSINCE/VANISHED). Pure.
import { ImapSyntaxError } from '../errors.ts';
import { MAX_HEADER_FIELDS, MAX_SECTION_DEPTH } from '../limits.ts';
import type { CommandParser } from './tokens.ts';

export type SectionKind = 'full' | 'header' | 'header.fields' | 'header.fields.not' | 'text' | 'mime';

export interface Section {
  part: number[];
  kind: SectionKind;
  fields?: string[];
}

export interface Partial {
  offset: number;
  length: number;
}

export type FetchItem =
  | { kind: 'FLAGS' | 'INTERNALDATE' | 'RFC822.SIZE' | 'ENVELOPE' | 'BODY' | 'BODYSTRUCTURE' | 'UID' | 'MODSEQ' | 'RFC822' | 'RFC822.HEADER' | 'RFC822.TEXT' }
  | { kind: 'section'; peek: boolean; section: Section; partial: Partial | null }
  | { kind: 'binary'; peek: boolean; part: number[]; partial: Partial | null }
  | { kind: 'binary.size'; part: number[] };

export interface FetchArgs {
  items: FetchItem[];
  changedSince: number | null;
  vanished: boolean;
}

const SIMPLE = new Set(['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE', 'BODY', 'BODYSTRUCTURE', 'UID', 'MODSEQ', 'RFC822', 'RFC822.HEADER', 'RFC822.TEXT']);

/** Parses what follows "FETCH <set> ". */
export function parseFetchItems(p: CommandParser): FetchArgs {
  let items: FetchItem[];
  if (p.peek() === '(') {
    items = p.list(() => parseItem(p));
  } else {
    const word = peekWord(p);
    if (word === 'ALL' || word === 'FAST' || word === 'FULL') {
      p.word();
      // RFC 9051 6.4.5 macros.
      items = [{ kind: 'FLAGS' }, { kind: 'INTERNALDATE' }, { kind: 'RFC822.SIZE' }];
      if (word !== 'FAST') items.push({ kind: 'ENVELOPE' });
      if (word === 'FULL') items.push({ kind: 'BODY' });
    } else {
      items = [parseItem(p)];
    }
  }
  const args: FetchArgs = { items, changedSince: null, vanished: false };
  if (p.maybeSp()) {
    // RFC 4466 fetch-modifiers: (CHANGEDSINCE n [VANISHED])
    p.list(() => {
      const m = p.atom().toUpperCase();
      if (m === 'CHANGEDSINCE') {
        p.sp();
        args.changedSince = p.number64();
      } else if (m === 'VANISHED') {
        args.vanished = true;
      } else {
        throw new ImapSyntaxError(`Unknown FETCH modifier ${m.slice(0, 30)}`);
      }
    });
  }
  p.end();
  return args;
}

function peekWord(p: CommandParser): string {
  const m = /^[A-Za-z0-9.]+/.exec(p.rest());
  return m ? m[0].toUpperCase() : '';
}

function parseItem(p: CommandParser): FetchItem {
  const word = p.word();
  if (word === 'BODY' || word === 'BODY.PEEK') {
    if (p.peek() !== '[') {
      if (word === 'BODY.PEEK') p.fail('"[" after BODY.PEEK');
      return { kind: 'BODY' };
    }
    const section = parseSection(p);
    return { kind: 'section', peek: word === 'BODY.PEEK', section, partial: parsePartial(p) };
  }
  if (word === 'BINARY' || word === 'BINARY.PEEK' || word === 'BINARY.SIZE') {
    const part = parseBinarySection(p);
    if (word === 'BINARY.SIZE') return { kind: 'binary.size', part };
    return { kind: 'binary', peek: word === 'BINARY.PEEK', part, partial: parsePartial(p) };
  }
  if (SIMPLE.has(word)) return { kind: word as 'FLAGS' };
  throw new ImapSyntaxError(`Unknown FETCH attribute ${word.slice(0, 30)}`);
}

function parsePartNumbers(p: CommandParser): number[] {
  const part: number[] = [];
  while (/^\d/.test(p.rest())) {
    part.push(p.nzNumber());
    if (part.length > MAX_SECTION_DEPTH) throw new ImapSyntaxError(`Section part deeper than ${MAX_SECTION_DEPTH}`);
    if (!p.take('.')) break;
  }
  return part;
}

export function parseSection(p: CommandParser): Section {
  p.expect('[');
  const part = parsePartNumbers(p);
  let kind: SectionKind = 'full';
  let fields: string[] | undefined;
  if (p.peek() !== ']') {
    const text = p.word();
    if (text === 'HEADER') kind = 'header';
    else if (text === 'TEXT') kind = 'text';
    else if (text === 'MIME' && part.length > 0) kind = 'mime';
    else if (text === 'HEADER.FIELDS' || text === 'HEADER.FIELDS.NOT') {
      kind = text === 'HEADER.FIELDS' ? 'header.fields' : 'header.fields.not';
      p.sp();
      fields = p.list(() => p.astring());
      if (fields.length > MAX_HEADER_FIELDS) throw new ImapSyntaxError(`More than ${MAX_HEADER_FIELDS} header fields`);
    } else {
      throw new ImapSyntaxError(`Unknown section text ${text.slice(0, 30)}`);
    }
  }
  p.expect(']');
  return fields ? { part, kind, fields } : { part, kind };
}

function parseBinarySection(p: CommandParser): number[] {
  p.expect('[');
  const part: number[] = [];
  if (p.peek() !== ']') {
    part.push(p.nzNumber());
    while (p.take('.')) {
      part.push(p.nzNumber());
      if (part.length > MAX_SECTION_DEPTH) throw new ImapSyntaxError(`Section part deeper than ${MAX_SECTION_DEPTH}`);
    }
  }
  p.expect(']');
  return part;
}

function parsePartial(p: CommandParser): Partial | null {
  if (!p.take('<')) return null;
  const offset = p.number();
  p.expect('.');
  const length = p.nzNumber();
  p.expect('>');
  return { offset, length };
}

/** The section as it is echoed in the response, e.g. "1.HEADER.FIELDS (FROM TO)". */
export function sectionLabel(s: Section): string {
  const parts = s.part.join('.');
  let text = '';
  switch (s.kind) {
    case 'full':
      break;
    case 'header':
      text = 'HEADER';
      break;
    case 'text':
      text = 'TEXT';
      break;
    case 'mime':
      text = 'MIME';
      break;
    case 'header.fields':
    case 'header.fields.not':
      text = `${s.kind === 'header.fields' ? 'HEADER.FIELDS' : 'HEADER.FIELDS.NOT'} (${(s.fields ?? []).map(quoteField).join(' ')})`;
      break;
  }
  return parts && text ? `${parts}.${text}` : parts + text;
}

function quoteField(f: string): string {
  return /^[!#$&'+\-.0-9;<=>?@A-Z^_`a-z|}~]+$/.test(f) ? f.toUpperCase() : `"${f.replace(/[\\"]/g, '\\$&')}"`;
}
