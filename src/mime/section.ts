// Section extraction for FETCH BODY[...] (RFC 9051 6.4.5) and BINARY[...] (RFC 3516), sliced from the raw
// message with the offsets the summary stored: no re-parse of the MIME tree.
import type { BodyPart, MessageSummary } from './types.ts';
import { parseHeaderBlock } from './header.ts';
import { decodeTransfer } from './transfer.ts';

export interface SectionSpec {
  /** Part path, e.g. [1, 2] for BODY[1.2...]; [] for the message itself. */
  part: number[];
  kind: 'full' | 'header' | 'header.fields' | 'header.fields.not' | 'text' | 'mime';
  /** Field names for header.fields / header.fields.not. */
  fields?: string[];
}

const CRLF = Buffer.from('\r\n');

function isMessage(part: BodyPart): boolean {
  return part.type === 'message' && part.children !== undefined && part.children.length === 1 && part.envelope !== undefined;
}

/** The parts a message body is numbered into: a multipart's children, else the body itself as part 1. */
function numberedParts(body: BodyPart): BodyPart[] {
  return body.type === 'multipart' && body.children ? body.children : [body];
}

/** RFC 9051 6.4.5: resolve a part path. Each number indexes the children of a multipart; a message/rfc822
 *  part's numbers index its encapsulated message's body; a non-multipart message has a single part 1. */
export function resolvePart(root: BodyPart, path: number[]): BodyPart | null {
  if (path.length === 0) return root;
  let list = numberedParts(root);
  let node: BodyPart | null = null;
  for (let i = 0; i < path.length; i++) {
    const n = path[i]!;
    if (!Number.isInteger(n) || n < 1 || n > list.length) return null;
    node = list[n - 1]!;
    if (i === path.length - 1) break;
    if (node.type === 'multipart' && node.children) list = node.children;
    else if (isMessage(node)) list = numberedParts(node.children![0]!);
    else return null;
  }
  return node;
}

function filterHeader(raw: Buffer, start: number, end: number, fields: string[], keep: boolean): Buffer {
  const wanted = new Set(fields.map((f) => f.toLowerCase()));
  const block = parseHeaderBlock(raw, start, end);
  const chunks: Buffer[] = [];
  for (const f of block.fields) {
    if (!f.name || wanted.has(f.name) !== keep) continue;
    const bytes = raw.subarray(f.start, f.end);
    chunks.push(bytes);
    // The header's last field may lack its line break when the message has no body.
    if (bytes[bytes.length - 1] !== 10) chunks.push(CRLF);
  }
  // RFC 9051 6.4.5: the subset includes the blank line that ends the header.
  chunks.push(CRLF);
  return Buffer.concat(chunks);
}

/** The header block of an entity, from its headerStart to its bodyStart (blank line included). */
function headerOf(raw: Buffer, part: BodyPart): Buffer {
  return raw.subarray(part.headerStart, part.bodyStart);
}

/** Bytes of a BODY[section] (without partial range), or null when the section does not exist. */
export function extractSection(raw: Buffer, summary: MessageSummary, section: SectionSpec): Buffer | null {
  const root = summary.bodyStructure;
  const node = resolvePart(root, section.part);
  if (!node) return null;
  const fields = section.fields ?? [];
  if (section.part.length === 0) {
    switch (section.kind) {
      case 'full':
        return raw;
      case 'header':
        return headerOf(raw, root);
      case 'text':
        return raw.subarray(root.bodyStart, root.bodyEnd);
      case 'header.fields':
        return filterHeader(raw, root.headerStart, root.bodyStart, fields, true);
      case 'header.fields.not':
        return filterHeader(raw, root.headerStart, root.bodyStart, fields, false);
      case 'mime':
        return null;
    }
  }
  switch (section.kind) {
    case 'full':
      return raw.subarray(node.bodyStart, node.bodyEnd);
    case 'mime':
      // RFC 9051 6.4.5: the MIME header of this part.
      return headerOf(raw, node);
    default: {
      // HEADER, HEADER.FIELDS[.NOT] and TEXT of a part apply to the message encapsulated in a message/rfc822
      // part. For any other part they are answered from the part's own MIME header and body, as Dovecot does.
      const inner = isMessage(node) ? node.children![0]! : node;
      if (section.kind === 'text') return raw.subarray(inner.bodyStart, inner.bodyEnd);
      if (section.kind === 'header') return headerOf(raw, inner);
      return filterHeader(raw, inner.headerStart, inner.bodyStart, fields, section.kind === 'header.fields');
    }
  }
}

/** RFC 3516 BINARY[part]: the part's body with its Content-Transfer-Encoding removed. Null when the part does
 *  not exist or its encoding is unknown (the server then answers NO [UNKNOWN-CTE]). Multiparts and messages
 *  are returned as they are (their encoding can only be 7bit/8bit/binary). */
export function decodeBinarySection(raw: Buffer, summary: MessageSummary, part: number[]): Buffer | null {
  const node = resolvePart(summary.bodyStructure, part);
  if (!node) return null;
  if (part.length === 0) return raw;
  const body = raw.subarray(node.bodyStart, node.bodyEnd);
  if (node.children) return body;
  return decodeTransfer(body, node.encoding);
}
