// RFC 5322 3.4 address lists into RFC 9051 7.5.2 ENVELOPE addresses, including group syntax, source routes
// (obs-route, kept as the "adl") and the damage real mail carries (missing domains, stray commas, comments).
import type { EnvelopeAddress } from './types.ts';
import { MAX_ADDRESSES, MAX_COMMENT_DEPTH } from './limits.ts';

type Token =
  | { kind: 'word'; text: string; quoted: boolean; spaceBefore: boolean }
  | { kind: 'special'; text: string }
  | { kind: 'comment'; text: string };

/** Dovecot's placeholders for the parts an address lacks (host NIL would mean group syntax in IMAP). */
export const MISSING_MAILBOX = 'MISSING_MAILBOX';
export const MISSING_DOMAIN = 'MISSING_DOMAIN';

const SPECIALS = new Set(['<', '>', '@', ',', ';', ':']);

function tokenize(s: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let space = false;
  while (i < s.length) {
    const c = s[i]!;
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n') {
      space = true;
      i++;
    } else if (c === '(') {
      let depth = 0;
      let text = '';
      while (i < s.length) {
        const d = s[i]!;
        if (d === '\\' && i + 1 < s.length) {
          text += s[i + 1];
          i += 2;
          continue;
        }
        if (d === '(') {
          depth++;
          if (depth > 1) text += d;
        } else if (d === ')') {
          depth--;
          if (depth > 0) text += d;
        } else text += d;
        i++;
        if (depth <= 0 || depth > MAX_COMMENT_DEPTH) break;
      }
      tokens.push({ kind: 'comment', text });
      space = true;
    } else if (c === '"') {
      let text = '';
      i++;
      while (i < s.length && s[i] !== '"') {
        if (s[i] === '\\' && i + 1 < s.length) i++;
        text += s[i];
        i++;
      }
      i++;
      tokens.push({ kind: 'word', text, quoted: true, spaceBefore: space });
      space = false;
    } else if (SPECIALS.has(c)) {
      tokens.push({ kind: 'special', text: c });
      space = false;
      i++;
    } else if (c === '[') {
      // RFC 5322 3.4.1 domain-literal, kept with its brackets.
      const close = s.indexOf(']', i);
      const stop = close < 0 ? s.length : close + 1;
      tokens.push({ kind: 'word', text: s.slice(i, stop), quoted: false, spaceBefore: space });
      space = false;
      i = stop;
    } else {
      const start = i;
      while (i < s.length) {
        const d = s[i]!;
        if (d === ' ' || d === '\t' || d === '\r' || d === '\n' || d === '(' || d === '"' || d === '[' || SPECIALS.has(d)) break;
        i++;
      }
      tokens.push({ kind: 'word', text: s.slice(start, i), quoted: false, spaceBefore: space });
      space = false;
    }
  }
  return tokens;
}

/** A display name: words joined by single spaces (RFC 5322 3.2.5 phrase, as Dovecot joins them), quotes removed. */
function phrase(tokens: Token[]): string | null {
  let out = '';
  for (const t of tokens) {
    if (t.kind === 'word') out += out ? ' ' + t.text : t.text;
    else if (t.kind === 'special') out += t.text;
  }
  return out === '' ? null : out;
}

function lastComment(tokens: Token[]): string | null {
  for (let i = tokens.length - 1; i >= 0; i--) {
    const t = tokens[i]!;
    if (t.kind === 'comment' && t.text.trim()) return t.text.trim();
  }
  return null;
}

export const SYNTAX_ERROR = 'SYNTAX_ERROR';

interface Parsed {
  address: EnvelopeAddress | null;
  /** Dovecot stops reading the list at a syntax error; so do we, so both servers list the same addresses. */
  stop: boolean;
}

function wordsOnly(tokens: Token[]): Token[] {
  return tokens.filter((t) => t.kind !== 'comment');
}

function isAt(t: Token | undefined): boolean {
  return !!t && t.kind === 'special' && t.text === '@';
}

/** An addr-spec (RFC 5322 3.4.1) with Dovecot's recovery rules, so both servers report damaged addresses alike:
 *  the local part is words joined by dots with no blank between them, the domain the words right after "@"
 *  (trailing junk ignored). A local part that does not end at "@" is a syntax error inside angle brackets
 *  (mailbox = what was read, host = SYNTAX_ERROR, list reading stops) and a display name without address
 *  outside them. */
function addrSpec(tokens: Token[], inAngle: boolean): { name: string | null; mailbox: string; host: string; error: boolean } | null {
  const words = wordsOnly(tokens);
  if (words.length === 0) return null;
  let i = 0;
  let local = '';
  while (i < words.length) {
    const t = words[i]!;
    if (t.kind !== 'word') break;
    if (i > 0 && (t.spaceBefore || !(local.endsWith('.') || t.text.startsWith('.')))) break;
    // A domain literal cannot start a local part: no address here at all.
    if (i === 0 && !t.quoted && t.text.startsWith('[')) return { name: null, mailbox: MISSING_MAILBOX, host: MISSING_DOMAIN, error: false };
    local += t.text;
    i++;
  }
  if (i === words.length && i > 0) return { name: null, mailbox: local, host: MISSING_DOMAIN, error: false };
  if (isAt(words[i])) {
    // RFC 5322 3.4.1: domain = dot-atom / domain-literal. A quoted word or a stray dot makes it invalid
    // (Dovecot then reports MISSING_DOMAIN and stops reading the list).
    let domain = '';
    let bad = false;
    for (let j = i + 1; j < words.length; j++) {
      const t = words[j]!;
      if (t.kind !== 'word' || (j > i + 1 && t.spaceBefore)) break;
      if (t.quoted) bad = true;
      domain += t.text;
    }
    if (bad || domain.startsWith('.') || domain.endsWith('.') || domain.includes('..')) {
      return { name: null, mailbox: local || MISSING_MAILBOX, host: MISSING_DOMAIN, error: true };
    }
    return { name: null, mailbox: local || MISSING_MAILBOX, host: domain || MISSING_DOMAIN, error: false };
  }
  if (inAngle) return { name: null, mailbox: local || MISSING_MAILBOX, host: SYNTAX_ERROR, error: true };
  const at = words.findIndex(isAt);
  return { name: phrase(at < 0 ? words : words.slice(0, at)), mailbox: MISSING_MAILBOX, host: MISSING_DOMAIN, error: false };
}

function mailbox(tokens: Token[]): Parsed {
  const open = tokens.findIndex((t) => t.kind === 'special' && t.text === '<');
  const before = open < 0 ? tokens : tokens.slice(0, open);
  const beforeWords = wordsOnly(before);
  if (open < 0 || beforeWords.some(isAt)) {
    // No angle brackets, or an addr-spec before them ("a@b <c@d>": Dovecot reads a@b, then stops at "<").
    if (beforeWords.length === 0) return { address: null, stop: false };
    if (!beforeWords.some(isAt)) {
      // RFC 5322 needs an "@"; a lone word is a mailbox without a domain, several words a name without address.
      const multi = beforeWords.some((t, i) => i > 0 && t.kind === 'word' && t.spaceBefore);
      if (multi) return { address: { name: phrase(beforeWords), adl: null, mailbox: MISSING_MAILBOX, host: MISSING_DOMAIN }, stop: false };
    }
    const spec = addrSpec(before, false);
    if (!spec) return { address: null, stop: false };
    return { address: { name: spec.name ?? lastComment(before), adl: null, mailbox: spec.mailbox, host: spec.host }, stop: spec.error || open >= 0 };
  }
  let close = tokens.findIndex((t, i) => i > open && t.kind === 'special' && t.text === '>');
  if (close < 0) close = tokens.length;
  let inner = tokens.slice(open + 1, close);
  let adl: string | null = null;
  // RFC 5322 4.4 obs-route: "<@a,@b:user@host>".
  const first = inner.find((t) => t.kind !== 'comment');
  if (first && first.kind === 'special' && first.text === '@') {
    const colon = inner.findIndex((t) => t.kind === 'special' && t.text === ':');
    if (colon >= 0) {
      adl = wordsOnly(inner.slice(0, colon))
        .map((t) => t.text)
        .join('');
      inner = inner.slice(colon + 1);
    }
  }
  const spec = addrSpec(inner, true);
  const name = phrase(beforeWords);
  // Words after the closing ">" ("<a@b>junk") are a syntax error: the address counts, the list ends there.
  const trailing = wordsOnly(tokens.slice(close + 1)).length > 0;
  if (!spec) {
    // "<>": the null address. Dovecot keeps it as an address with missing parts.
    return { address: { name, adl, mailbox: MISSING_MAILBOX, host: MISSING_DOMAIN }, stop: trailing };
  }
  return { address: { name, adl, mailbox: spec.mailbox, host: spec.host }, stop: spec.error || trailing };
}

/** The state of parseAddressList: the addresses so far and the tokens of the one being read. */
interface ListState {
  out: EnvelopeAddress[];
  chunk: Token[];
  stopped: boolean;
}

/** Ends the address being read: parses its tokens and adds it. (A module function, not a closure per call:
 *  tsx's keepNames wraps each named closure in a __name() call when it is made.) */
function emitAddress(state: ListState): void {
  if (state.out.length < MAX_ADDRESSES && !state.stopped) {
    const parsed = mailbox(state.chunk);
    if (parsed.address) state.out.push(parsed.address);
    state.stopped = parsed.stop;
  }
  state.chunk = [];
}

/** Parse an address-list header value (raw, unfolded). Null when it holds no address at all. */
export function parseAddressList(value: string): EnvelopeAddress[] | null {
  const tokens = tokenize(value);
  const state: ListState = { out: [], chunk: [], stopped: false };
  const out = state.out;
  let inAngle = false;
  let inGroup = false;
  for (const t of tokens) {
    if (state.stopped) break;
    if (t.kind === 'special') {
      if (t.text === '<') inAngle = true;
      else if (t.text === '>') inAngle = false;
      else if (!inAngle && t.text === ',') {
        emitAddress(state);
        continue;
      } else if (!inAngle && t.text === ':' && !inGroup && state.chunk.some(isAt)) {
        // "a@b: ..." is not a group name: a syntax error after an address, which ends the list.
        emitAddress(state);
        state.stopped = true;
        continue;
      } else if (!inAngle && t.text === ':' && !inGroup) {
        // RFC 5322 3.4 group: display-name ":" [group-list] ";". RFC 9051 7.5.2: start marker has the group
        // name as mailbox and NIL host.
        if (out.length < MAX_ADDRESSES) out.push({ name: null, adl: null, mailbox: phrase(state.chunk) ?? '', host: null });
        state.chunk = [];
        inGroup = true;
        continue;
      } else if (!inAngle && t.text === ';') {
        emitAddress(state);
        if (inGroup && !state.stopped && out.length < MAX_ADDRESSES) out.push({ name: null, adl: null, mailbox: null, host: null });
        inGroup = false;
        continue;
      }
    }
    state.chunk.push(t);
  }
  if (!state.stopped) emitAddress(state);
  if (inGroup && !state.stopped && out.length < MAX_ADDRESSES) out.push({ name: null, adl: null, mailbox: null, host: null });
  return out.length > 0 ? out : null;
}
