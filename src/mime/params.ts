// Content-Type and Content-Disposition: "type/subtype; name=value; ..." (RFC 2045 5.1, RFC 2183, RFC 2231).
import { MAX_COMMENT_DEPTH, MAX_PARAMS } from './limits.ts';

// RFC 2045 5.1: tspecials; a token is any CHAR except SPACE, CTLs and these.
const TSPECIALS = new Set('()<>@,;:\\"/[]?='.split(''));

class Scanner {
  pos = 0;
  constructor(readonly s: string) {}
  /** Skip blanks and (nested) comments: CFWS. */
  skipCfws(): void {
    const s = this.s;
    while (this.pos < s.length) {
      const c = s[this.pos]!;
      if (c === ' ' || c === '\t' || c === '\r' || c === '\n') this.pos++;
      else if (c === '(') {
        let depth = 0;
        while (this.pos < s.length) {
          const d = s[this.pos]!;
          if (d === '\\') this.pos += 2;
          else {
            if (d === '(') depth++;
            else if (d === ')') depth--;
            this.pos++;
            if (depth <= 0 || depth > MAX_COMMENT_DEPTH) break;
          }
        }
      } else break;
    }
  }
  token(): string {
    const s = this.s;
    const start = this.pos;
    while (this.pos < s.length) {
      const c = s[this.pos]!;
      if (c <= ' ' || c === '\x7f' || TSPECIALS.has(c)) break;
      this.pos++;
    }
    return s.slice(start, this.pos);
  }
  quoted(): string {
    // At '"'. RFC 5322 3.2.4: quoted-string with quoted-pairs. An unterminated one runs to the end.
    const s = this.s;
    let out = '';
    this.pos++;
    while (this.pos < s.length) {
      const c = s[this.pos]!;
      if (c === '"') {
        this.pos++;
        break;
      }
      if (c === '\\' && this.pos + 1 < s.length) {
        out += s[this.pos + 1];
        this.pos += 2;
        continue;
      }
      if (c !== '\r' && c !== '\n') out += c;
      this.pos++;
    }
    return out;
  }
  peek(): string | undefined {
    return this.s[this.pos];
  }
}

export interface ParsedValue {
  /** Lower-case. */
  value: string;
  params: Record<string, string>;
}

/** Parameters after the first ";" of a Content-Type / Content-Disposition value. Names are lower-cased, values
 *  kept as sent (quotes removed). RFC 2231 continuations (name*0, name*1*, ...) are joined; an extended value
 *  keeps its "charset'language'" prefix and %-escapes under the name "name*", as Dovecot sends it. */
function parseParams(sc: Scanner): Record<string, string> {
  const plain: [string, string][] = [];
  const sections = new Map<string, { n: number; extended: boolean; value: string }[]>();
  let count = 0;
  while (sc.pos < sc.s.length && count < MAX_PARAMS * 4) {
    sc.skipCfws();
    if (sc.peek() !== ';') {
      // Junk between parameters: skip to the next ";".
      const next = sc.s.indexOf(';', sc.pos);
      if (next < 0) break;
      sc.pos = next;
    }
    sc.pos++;
    sc.skipCfws();
    const name = sc.token().toLowerCase();
    sc.skipCfws();
    if (!name || sc.peek() !== '=') continue;
    sc.pos++;
    sc.skipCfws();
    let value: string;
    // RFC 2045 5.1: value := token / quoted-string. An unquoted value ends at the first blank or tspecial
    // ("name=my file.doc" gives "my"), as Dovecot reads it; the rest up to the next ";" is skipped.
    if (sc.peek() === '"') value = sc.quoted();
    else value = sc.token();
    count++;
    const m = /^(.+?)\*(?:(\d{1,3})(\*)?)?$/.exec(name);
    if (m) {
      // RFC 2231 3 and 4: name*N (continuation), name*N* and name* (extended, charset'lang'%XX).
      const base = m[1]!;
      const n = m[2] === undefined ? 0 : Number(m[2]);
      const extended = m[2] === undefined ? true : m[3] !== undefined;
      let list = sections.get(base);
      if (!list) sections.set(base, (list = []));
      if (list.length < 100) list.push({ n, extended, value });
    } else plain.push([name, value]);
  }
  const params: Record<string, string> = {};
  let kept = 0;
  for (const [name, value] of plain) {
    if (kept >= MAX_PARAMS) break;
    if (!(name in params)) {
      params[name] = value;
      kept++;
    }
  }
  for (const [base, list] of sections) {
    if (kept >= MAX_PARAMS) break;
    list.sort((a, b) => a.n - b.n);
    const extended = list[0]!.extended;
    let value = '';
    for (const s of list) {
      // A plain section inside an extended value must be %-escaped to keep the value decodable.
      value += extended && !s.extended ? s.value.replace(/[%\s*'()<>@,;:\\"/[\]?=\x00-\x1f\x7f-\uffff]/g, (ch) => encodeURIComponent(ch)) : s.value;
    }
    const key = extended ? `${base}*` : base;
    if (!(key in params)) {
      params[key] = value;
      kept++;
    }
  }
  return params;
}

/** RFC 2045 5.1: Content-Type. Null when there is no valid "type/subtype" (the caller applies the default). */
export function parseContentType(value: string): { type: string; subtype: string; params: Record<string, string> } | null {
  const sc = new Scanner(value);
  sc.skipCfws();
  const type = sc.token().toLowerCase();
  sc.skipCfws();
  if (!type || sc.peek() !== '/') return null;
  sc.pos++;
  sc.skipCfws();
  const subtype = sc.token().toLowerCase();
  if (!subtype) return null;
  return { type, subtype, params: parseParams(sc) };
}

/** RFC 2183: Content-Disposition. Null when there is no disposition type. */
export function parseDisposition(value: string): ParsedValue | null {
  const sc = new Scanner(value);
  sc.skipCfws();
  const type = sc.token().toLowerCase();
  if (!type) return null;
  return { value: type, params: parseParams(sc) };
}

/** A single token value (Content-Transfer-Encoding), lower-cased, comments removed. */
export function parseToken(value: string): string {
  const sc = new Scanner(value);
  sc.skipCfws();
  return sc.token().toLowerCase();
}

/** RFC 3282: Content-Language, a comma-separated list of language tags. */
export function parseLanguageList(value: string): string[] | null {
  const out: string[] = [];
  const sc = new Scanner(value);
  while (sc.pos < value.length && out.length < MAX_PARAMS) {
    sc.skipCfws();
    const tag = sc.token();
    if (tag) out.push(tag);
    sc.skipCfws();
    if (sc.peek() === ',') sc.pos++;
    else if (!tag) break;
  }
  return out.length > 0 ? out : null;
}
