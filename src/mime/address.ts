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

/** A display name: words joined by single spaces (RFC 5322 3.2.5 phrase), quotes removed. */
function phrase(tokens: Token[]): string | null {
  let out = '';
  for (const t of tokens) {
    if (t.kind === 'word') out += out && (t.spaceBefore || t.quoted) ? ' ' + t.text : t.text;
    else if (t.kind === 'special') out += t.text;
  }
  return out === '' ? null : out;
}

/** local-part or domain: words concatenated as written (dot-atoms keep their dots). */
function joinWords(tokens: Token[]): string {
  let out = '';
  for (const t of tokens) {
    // Quoted local parts lose their quotes, as in Dovecot's ENVELOPE ("a b"@x -> mailbox "a b").
    if (t.kind === 'word') out += t.text;
  }
  return out;
}

function lastComment(tokens: Token[]): string | null {
  for (let i = tokens.length - 1; i >= 0; i--) {
    const t = tokens[i]!;
    if (t.kind === 'comment' && t.text.trim()) return t.text.trim();
  }
  return null;
}

function addrSpec(tokens: Token[]): { mailbox: string; host: string } | null {
  const words = tokens.filter((t) => t.kind !== 'comment');
  if (words.length === 0) return null;
  let at = -1;
  for (let i = words.length - 1; i >= 0; i--) {
    const t = words[i]!;
    if (t.kind === 'special' && t.text === '@') {
      at = i;
      break;
    }
  }
  if (at < 0) return { mailbox: joinWords(words) || MISSING_MAILBOX, host: MISSING_DOMAIN };
  const local = joinWords(words.slice(0, at));
  const domain = joinWords(words.slice(at + 1));
  return { mailbox: local || MISSING_MAILBOX, host: domain || MISSING_DOMAIN };
}

function mailbox(tokens: Token[]): EnvelopeAddress | null {
  const open = tokens.findIndex((t) => t.kind === 'special' && t.text === '<');
  if (open < 0) {
    const spec = addrSpec(tokens);
    if (!spec) return null;
    return { name: lastComment(tokens), adl: null, mailbox: spec.mailbox, host: spec.host };
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
      adl = inner
        .slice(0, colon)
        .filter((t) => t.kind !== 'comment')
        .map((t) => t.text)
        .join('');
      inner = inner.slice(colon + 1);
    }
  }
  const spec = addrSpec(inner);
  const name = phrase(tokens.slice(0, open).filter((t) => t.kind !== 'comment'));
  if (!spec) {
    // "<>": the null address. Dovecot keeps it as an address with missing parts.
    return { name, adl, mailbox: MISSING_MAILBOX, host: MISSING_DOMAIN };
  }
  return { name, adl, mailbox: spec.mailbox, host: spec.host };
}

/** Parse an address-list header value (raw, unfolded). Null when it holds no address at all. */
export function parseAddressList(value: string): EnvelopeAddress[] | null {
  const tokens = tokenize(value);
  const out: EnvelopeAddress[] = [];
  let chunk: Token[] = [];
  let inAngle = false;
  let inGroup = false;
  const emit = (): void => {
    if (out.length < MAX_ADDRESSES) {
      const a = mailbox(chunk);
      if (a) out.push(a);
    }
    chunk = [];
  };
  for (const t of tokens) {
    if (t.kind === 'special') {
      if (t.text === '<') inAngle = true;
      else if (t.text === '>') inAngle = false;
      else if (!inAngle && t.text === ',') {
        emit();
        continue;
      } else if (!inAngle && t.text === ':' && !inGroup) {
        // RFC 5322 3.4 group: display-name ":" [group-list] ";". RFC 9051 7.5.2: start marker has the group
        // name as mailbox and NIL host.
        if (out.length < MAX_ADDRESSES) out.push({ name: null, adl: null, mailbox: phrase(chunk) ?? '', host: null });
        chunk = [];
        inGroup = true;
        continue;
      } else if (!inAngle && t.text === ';') {
        emit();
        if (inGroup && out.length < MAX_ADDRESSES) out.push({ name: null, adl: null, mailbox: null, host: null });
        inGroup = false;
        continue;
      }
    }
    chunk.push(t);
  }
  emit();
  if (inGroup && out.length < MAX_ADDRESSES) out.push({ name: null, adl: null, mailbox: null, host: null });
  return out.length > 0 ? out : null;
}
