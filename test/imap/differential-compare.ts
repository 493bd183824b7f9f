// Comparison helpers for the differential suite: normalisation of harmless differences between two IMAP
// answers, and the "mailstack" answers computed straight from src/mime (before/besides the real server).
import type { ImapValue } from './differential-client.ts';
import { ImapParser } from './differential-client.ts';
import {
  decodeBinarySection, decodeCharset, decodeHeaderValue, decodeTransfer, htmlToText, extractSearchText, extractSection, renderBodyStructure, renderEnvelope,
  summarizeMessage, type BodyPart, type MessageSummary, type SectionSpec,
} from '../../src/mime/index.ts';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** IMAP string bytes as text: UTF-8 when valid, else Latin-1 (Dovecot passes 8-bit header bytes through raw;
 *  mailstack converts Latin-1 to UTF-8: the same characters). */
function text(v: Buffer | string): string {
  if (typeof v === 'string') return v;
  try {
    return strictUtf8.decode(v);
  } catch {
    return v.toString('latin1');
  }
}

/** Plain JSON of an IMAP value, with the harmless differences normalised away:
 *  - strings vs literals (same bytes), Latin-1 bytes vs their UTF-8 form;
 *  - runs of whitespace in strings (Dovecot collapses them in ENVELOPE subjects and names);
 *  - letter case of atoms like type, subtype, encoding and parameter names (case-insensitive by RFC 2045). */
export function normalise(v: ImapValue, lowerCase: boolean): unknown {
  if (v === null) return null;
  if (Array.isArray(v)) return v.map((x) => normalise(x, lowerCase));
  if (typeof v === 'object' && !Buffer.isBuffer(v)) return { atom: v.atom };
  let s = text(v).replace(/[\s]+/g, ' ').trim();
  if (lowerCase) s = s.toLowerCase();
  return s;
}

export function parseImap(s: string | Buffer): ImapValue {
  return new ImapParser(Buffer.isBuffer(s) ? s : Buffer.from(s, 'utf8')).value();
}

/** Every section worth asking for in a message, derived from its structure (capped). */
export function sectionsOf(summary: MessageSummary, maxParts = 30): { fetch: string; spec: SectionSpec }[] {
  const out: { fetch: string; spec: SectionSpec }[] = [
    { fetch: 'HEADER', spec: { part: [], kind: 'header' } },
    { fetch: 'TEXT', spec: { part: [], kind: 'text' } },
    { fetch: 'HEADER.FIELDS (FROM TO SUBJECT CONTENT-TYPE)', spec: { part: [], kind: 'header.fields', fields: ['FROM', 'TO', 'SUBJECT', 'CONTENT-TYPE'] } },
    { fetch: 'HEADER.FIELDS.NOT (RECEIVED SUBJECT)', spec: { part: [], kind: 'header.fields.not', fields: ['RECEIVED', 'SUBJECT'] } },
  ];
  let parts = 0;
  const walk = (body: BodyPart, prefix: number[]): void => {
    const numbered = body.type === 'multipart' && body.children ? body.children : [body];
    numbered.forEach((p, i) => {
      if (parts++ >= maxParts) return;
      const path = [...prefix, i + 1];
      const name = path.join('.');
      out.push({ fetch: name, spec: { part: path, kind: 'full' } });
      out.push({ fetch: `${name}.MIME`, spec: { part: path, kind: 'mime' } });
      if (p.type === 'multipart' && p.children) walk(p, path);
      else if (p.type === 'message' && p.envelope && p.children?.[0]) {
        out.push({ fetch: `${name}.HEADER`, spec: { part: path, kind: 'header' } });
        out.push({ fetch: `${name}.TEXT`, spec: { part: path, kind: 'text' } });
        out.push({ fetch: `${name}.HEADER.FIELDS (SUBJECT)`, spec: { part: path, kind: 'header.fields', fields: ['SUBJECT'] } });
        walk(p.children[0], path);
      }
    });
  };
  walk(summary.bodyStructure, []);
  return out;
}

/** Leaf part paths (for BINARY), capped. */
export function leafPaths(summary: MessageSummary, maxParts = 30): number[][] {
  const out: number[][] = [];
  const walk = (body: BodyPart, prefix: number[]): void => {
    const numbered = body.type === 'multipart' && body.children ? body.children : [body];
    numbered.forEach((p, i) => {
      if (out.length >= maxParts) return;
      const path = [...prefix, i + 1];
      if (p.type === 'multipart' && p.children) walk(p, path);
      else if (p.type === 'message' && p.children?.[0]) walk(p.children[0], path);
      else out.push(path);
    });
  };
  walk(summary.bodyStructure, []);
  return out;
}

/** What mailstack answers, computed directly from src/mime. */
export class DirectSide {
  readonly summaries: MessageSummary[];
  constructor(readonly messages: Buffer[]) {
    this.summaries = messages.map((m) => summarizeMessage(m));
  }
  envelope(i: number): ImapValue {
    return parseImap(renderEnvelope(this.summaries[i]!.envelope, true));
  }
  bodyStructure(i: number): ImapValue {
    return parseImap(renderBodyStructure(this.summaries[i]!.bodyStructure, true, true));
  }
  section(i: number, spec: SectionSpec): Buffer | null {
    return extractSection(this.messages[i]!, this.summaries[i]!, spec);
  }
  binary(i: number, path: number[]): Buffer | null {
    return decodeBinarySection(this.messages[i]!, this.summaries[i]!, path);
  }
  /** True when the message has an HTML part where the needle is found in the HTML source but not in its text,
   *  or the other way round: Dovecot (without FTS) searches HTML source, tags and attributes included;
   *  mailstack searches the text a reader sees (docs/imap-differences.md). */
  htmlExplains(i: number, needle: string): boolean {
    const n = needle.toLowerCase();
    const raw = this.messages[i]!;
    let explained = false;
    const visit = (p: BodyPart): void => {
      if (p.children) return p.children.forEach(visit);
      if (p.type !== 'text' || p.subtype !== 'html') return;
      const body = raw.subarray(p.bodyStart, p.bodyEnd);
      const source = decodeCharset(decodeTransfer(body, p.encoding) ?? body, p.params['charset'] ?? null);
      if (source.toLowerCase().includes(n) !== htmlToText(source).toLowerCase().includes(n)) explained = true;
    };
    visit(this.summaries[i]!.bodyStructure);
    return explained;
  }

  /** SEARCH semantics of RFC 9051 6.4.4 over the decoded text: case-insensitive substring. */
  search(key: 'BODY' | 'TEXT' | 'SUBJECT' | 'FROM', needle: string): number[] {
    const n = needle.toLowerCase();
    const hits: number[] = [];
    this.messages.forEach((raw, i) => {
      const s = this.summaries[i]!;
      let hay: string;
      if (key === 'SUBJECT') hay = s.envelope.subject === null ? '' : decodeHeaderValue(s.envelope.subject);
      else if (key === 'FROM') hay = s.headers['from'] ?? '';
      else {
        const t = extractSearchText(raw);
        hay = key === 'BODY' ? t.body : t.header + '\n' + t.body;
      }
      if (hay.toLowerCase().includes(n)) hits.push(i + 1);
    });
    return hits;
  }
}
