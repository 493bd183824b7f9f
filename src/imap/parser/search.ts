// SEARCH keys (RFC 9051 6.4.4, RFC 3501 6.4.4, RFC 7162 3.1.5 MODSEQ) and ESEARCH return options
// (RFC 4731, RFC 5182 SAVE). Pure: builds a typed tree, evaluated by search.ts.
import { ImapNo, ImapSyntaxError } from '../errors.ts';
import { parseSearchDate } from '../datetime.ts';
import { canonicalFlag } from '../flags.ts';
import { parseSequenceSet, type SequenceSet } from './sequence.ts';
import type { CommandParser } from './tokens.ts';

export type DateOp = 'before' | 'on' | 'since';

export type SearchKey =
  | { k: 'all' }
  | { k: 'none' }
  | { k: 'flag'; flag: string; present: boolean }
  | { k: 'seq'; set: SequenceSet }
  | { k: 'uid'; set: SequenceSet }
  | { k: 'internaldate'; op: DateOp; day: number }
  | { k: 'sentdate'; op: DateOp; day: number }
  | { k: 'size'; op: 'larger' | 'smaller'; n: number }
  | { k: 'header'; name: string; value: string }
  | { k: 'text'; field: 'body' | 'text'; value: string }
  | { k: 'modseq'; modseq: number }
  | { k: 'not'; key: SearchKey }
  | { k: 'or'; a: SearchKey; b: SearchKey }
  | { k: 'and'; keys: SearchKey[] };

export type ReturnOption = 'MIN' | 'MAX' | 'ALL' | 'COUNT' | 'SAVE';

export interface SearchArgs {
  /** null: plain SEARCH (untagged SEARCH); else ESEARCH with these options (empty means ALL). */
  returnOptions: ReturnOption[] | null;
  key: SearchKey;
}

/** Keys in one SEARCH: bounds the evaluation work per message. */
const MAX_KEYS = 500;

/** RFC 9051 6.4.4: charsets we can search in. Others get NO [BADCHARSET (...)]. */
export const SEARCH_CHARSETS = ['UTF-8', 'US-ASCII'];

export function parseCharset(p: CommandParser): void {
  const charset = p.astring().toUpperCase();
  if (!SEARCH_CHARSETS.includes(charset)) throw new ImapNo('BADCHARSET', `Charset ${charset.slice(0, 30)} is not supported`, `(${SEARCH_CHARSETS.join(' ')})`);
}

/** Parses "[RETURN (...)] [CHARSET x] keys" (after "SEARCH "). */
export function parseSearch(p: CommandParser): SearchArgs {
  let returnOptions: ReturnOption[] | null = null;
  if (p.take('RETURN ')) {
    returnOptions = p.list(() => {
      const w = p.atom().toUpperCase();
      if (w !== 'MIN' && w !== 'MAX' && w !== 'ALL' && w !== 'COUNT' && w !== 'SAVE') throw new ImapSyntaxError(`Unknown RETURN option ${w.slice(0, 30)}`);
      return w;
    }, true);
    p.sp();
  }
  if (p.take('CHARSET ')) {
    parseCharset(p);
    p.sp();
  }
  return { returnOptions, key: parseSearchKeys(p) };
}

/** One or more keys separated by spaces, up to the end of the command. */
export function parseSearchKeys(p: CommandParser): SearchKey {
  const counter = { n: 0 };
  const keys = [parseKey(p, counter)];
  while (p.maybeSp()) keys.push(parseKey(p, counter));
  p.end();
  return keys.length === 1 ? (keys[0] as SearchKey) : { k: 'and', keys };
}

function parseKey(p: CommandParser, counter: { n: number }): SearchKey {
  if (++counter.n > MAX_KEYS) throw new ImapSyntaxError(`More than ${MAX_KEYS} search keys`);
  const c = p.peek();
  if (c === '(') {
    p.open();
    const keys = [parseKey(p, counter)];
    while (p.maybeSp()) keys.push(parseKey(p, counter));
    p.close();
    return keys.length === 1 ? (keys[0] as SearchKey) : { k: 'and', keys };
  }
  if (/[0-9*$]/.test(c)) return { k: 'seq', set: parseSequenceSet(p) };
  const word = p.atom().toUpperCase();
  const arg = () => {
    p.sp();
    return p.astring();
  };
  const date = () => {
    p.sp();
    const text = p.atQuoted() ? p.quoted() : p.atom();
    return parseSearchDate(text);
  };
  const number = () => {
    p.sp();
    return p.number64();
  };
  switch (word) {
    case 'ALL':
      return { k: 'all' };
    case 'ANSWERED':
    case 'DELETED':
    case 'DRAFT':
    case 'FLAGGED':
    case 'SEEN':
      return { k: 'flag', flag: canonicalFlag('\\' + word), present: true };
    case 'UNANSWERED':
    case 'UNDELETED':
    case 'UNDRAFT':
    case 'UNFLAGGED':
    case 'UNSEEN':
      return { k: 'flag', flag: canonicalFlag('\\' + word.slice(2)), present: false };
    case 'KEYWORD':
    case 'UNKEYWORD': {
      p.sp();
      return { k: 'flag', flag: p.flag(), present: word === 'KEYWORD' };
    }
    // \Recent is not kept (IMAP4rev2 dropped it): no message is recent, so NEW matches nothing.
    case 'RECENT':
    case 'NEW':
      return { k: 'none' };
    case 'OLD':
      return { k: 'all' };
    case 'BCC':
    case 'CC':
    case 'FROM':
    case 'SUBJECT':
    case 'TO':
      return { k: 'header', name: word.toLowerCase(), value: arg() };
    case 'HEADER': {
      p.sp();
      const name = p.astring().toLowerCase();
      return { k: 'header', name, value: arg() };
    }
    case 'BODY':
      return { k: 'text', field: 'body', value: arg() };
    case 'TEXT':
      return { k: 'text', field: 'text', value: arg() };
    case 'BEFORE':
      return { k: 'internaldate', op: 'before', day: date() };
    case 'ON':
      return { k: 'internaldate', op: 'on', day: date() };
    case 'SINCE':
      return { k: 'internaldate', op: 'since', day: date() };
    case 'SENTBEFORE':
      return { k: 'sentdate', op: 'before', day: date() };
    case 'SENTON':
      return { k: 'sentdate', op: 'on', day: date() };
    case 'SENTSINCE':
      return { k: 'sentdate', op: 'since', day: date() };
    case 'LARGER':
      return { k: 'size', op: 'larger', n: number() };
    case 'SMALLER':
      return { k: 'size', op: 'smaller', n: number() };
    case 'UID': {
      p.sp();
      return { k: 'uid', set: parseSequenceSet(p) };
    }
    case 'NOT': {
      p.sp();
      return { k: 'not', key: parseKey(p, counter) };
    }
    case 'OR': {
      p.sp();
      const a = parseKey(p, counter);
      p.sp();
      const b = parseKey(p, counter);
      return { k: 'or', a, b };
    }
    case 'MODSEQ': {
      p.sp();
      // RFC 7162 3.1.5: [entry-name entry-type-req] mod-sequence-valzer; the entry is accepted and ignored.
      if (p.atQuoted()) {
        p.quoted();
        p.sp();
        const type = p.atom().toLowerCase();
        if (type !== 'priv' && type !== 'shared' && type !== 'all') throw new ImapSyntaxError('MODSEQ entry type must be priv, shared or all');
        p.sp();
      }
      return { k: 'modseq', modseq: p.number64() };
    }
    default:
      throw new ImapSyntaxError(`Unknown search key ${word.slice(0, 30)}`);
  }
}

/** Does the tree use MODSEQ (then the response carries "(MODSEQ n)", RFC 7162 3.1.5)? */
export function usesModseq(key: SearchKey): boolean {
  switch (key.k) {
    case 'modseq':
      return true;
    case 'not':
      return usesModseq(key.key);
    case 'or':
      return usesModseq(key.a) || usesModseq(key.b);
    case 'and':
      return key.keys.some(usesModseq);
    default:
      return false;
  }
}
