// The summary rendered in IMAP syntax (RFC 9051 7.5.2 ENVELOPE and BODY/BODYSTRUCTURE). Kept beside the data
// it renders so the IMAP server and the differential tests share one renderer.
import type { BodyPart, Envelope, EnvelopeAddress } from './types.ts';

/** What makes a string more than `"` + s + `"`: a byte a quoted string cannot hold, a quoted-special, 8-bit. */
const NEEDS_CARE = /[\r\n\0"\\\u0080-\uffff]/;

/** RFC 9051 4.3: a quoted string when the text allows it, else a literal (CR, LF or 8-bit text). With
 *  `utf8` (after ENABLE UTF8=ACCEPT, RFC 9051 / RFC 6855) 8-bit text may be quoted. */
export function imapString(s: string, utf8 = false): string {
  // Most strings (subjects, addresses, MIME parameters) are plain ASCII without quotes: one test, no copy.
  if (!NEEDS_CARE.test(s)) return `"${s}"`;
  // NUL fits neither a quoted string nor a literal (RFC 9051: CHAR8 is %x01-ff). Dovecot sends 0x80 for it in
  // message data; in this decoded text U+FFFD, the character for "not representable", says the same.
  if (s.includes('\0')) s = s.replaceAll('\0', '\uFFFD');
  if (/[\r\n]/.test(s) || (!utf8 && /[^\x00-\x7f]/.test(s))) return `{${Buffer.byteLength(s)}}\r\n${s}`;
  return `"${s.replace(/(["\\])/g, '\\$1')}"`;
}

export function imapNString(s: string | null | undefined, utf8 = false): string {
  return s === null || s === undefined ? 'NIL' : imapString(s, utf8);
}

function addressList(list: EnvelopeAddress[] | null, utf8: boolean): string {
  if (!list || list.length === 0) return 'NIL';
  return `(${list.map((a) => `(${imapNString(a.name, utf8)} ${imapNString(a.adl, utf8)} ${imapNString(a.mailbox, utf8)} ${imapNString(a.host, utf8)})`).join('')})`;
}

export function renderEnvelope(e: Envelope, utf8 = false): string {
  return `(${imapNString(e.date, utf8)} ${imapNString(e.subject, utf8)} ${addressList(e.from, utf8)} ${addressList(e.sender, utf8)} ${addressList(e.replyTo, utf8)} ${addressList(e.to, utf8)} ${addressList(e.cc, utf8)} ${addressList(e.bcc, utf8)} ${imapNString(e.inReplyTo, utf8)} ${imapNString(e.messageId, utf8)})`;
}

function params(p: Record<string, string>, utf8: boolean): string {
  const keys = Object.keys(p);
  if (keys.length === 0) return 'NIL';
  return `(${keys.map((k) => `${imapString(k, utf8)} ${imapString(p[k]!, utf8)}`).join(' ')})`;
}

function disposition(d: BodyPart['disposition'], utf8: boolean): string {
  return d ? `(${imapString(d.type, utf8)} ${params(d.params, utf8)})` : 'NIL';
}

function language(l: string[] | null, utf8: boolean): string {
  if (!l || l.length === 0) return 'NIL';
  return `(${l.map((x) => imapString(x, utf8)).join(' ')})`;
}

/** RFC 9051 7.5.2: BODYSTRUCTURE (extended = true) or BODY (extended = false). */
export function renderBodyStructure(part: BodyPart, extended: boolean, utf8 = false): string {
  if (part.type === 'multipart' && part.children && part.children.length > 0) {
    let out = '(' + part.children.map((c) => renderBodyStructure(c, extended, utf8)).join('') + ' ' + imapString(part.subtype, utf8);
    if (extended) out += ` ${params(part.params, utf8)} ${disposition(part.disposition, utf8)} ${language(part.language, utf8)} ${imapNString(part.location, utf8)}`;
    return out + ')';
  }
  let out = `(${imapString(part.type, utf8)} ${imapString(part.subtype, utf8)} ${params(part.params, utf8)} ${imapNString(part.id, utf8)} ${imapNString(part.description, utf8)} ${imapString(part.encoding, utf8)} ${part.size}`;
  if (part.type === 'message' && part.envelope && part.children && part.children[0]) {
    out += ` ${renderEnvelope(part.envelope, utf8)} ${renderBodyStructure(part.children[0], extended, utf8)} ${part.lines ?? 0}`;
  } else if (part.type === 'text') {
    out += ` ${part.lines ?? 0}`;
  }
  if (extended) out += ` ${imapNString(part.md5, utf8)} ${disposition(part.disposition, utf8)} ${language(part.language, utf8)} ${imapNString(part.location, utf8)}`;
  return out + ')';
}
