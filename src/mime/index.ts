// mime: parsing of stored messages for IMAP and search.
// Owns: the MessageSummary computed once at delivery (ENVELOPE, BODYSTRUCTURE with byte offsets, common
// headers), the decoded searchable text, and section extraction. Pure functions over bytes: no I/O, no store.
//
// todo: summarizeMessage and extractSearchText below are the minimal first version the store is built on;
// the imap work replaces them with the full RFC 9051 implementation (summarize.ts, text.ts).
import type { MessageSummary } from './types.ts';

export type { MessageSummary, Envelope, EnvelopeAddress, BodyPart } from './types.ts';

function headerEnd(raw: Buffer): number {
  const crlf = raw.indexOf('\r\n\r\n');
  const lf = raw.indexOf('\n\n');
  if (crlf >= 0 && (lf < 0 || crlf <= lf)) return crlf + 4;
  if (lf >= 0) return lf + 2;
  return raw.length;
}

export function summarizeMessage(raw: Buffer): MessageSummary {
  const headerSize = headerEnd(raw);
  const headerText = raw.subarray(0, headerSize).toString('latin1').replace(/\r?\n[ \t]+/g, ' ');
  const headers: Record<string, string> = {};
  for (const line of headerText.split(/\r?\n/)) {
    const m = /^([!-9;-~]+):[ \t]*(.*)$/.exec(line);
    if (m && m[1] && !(m[1].toLowerCase() in headers)) headers[m[1].toLowerCase()] = (m[2] ?? '').trim();
  }
  const date = headers['date'] ?? null;
  const parsedDate = date ? Date.parse(date) : NaN;
  return {
    envelope: {
      date,
      subject: headers['subject'] ?? null,
      from: null,
      sender: null,
      replyTo: null,
      to: null,
      cc: null,
      bcc: null,
      inReplyTo: headers['in-reply-to'] ?? null,
      messageId: headers['message-id'] ?? null,
    },
    bodyStructure: {
      type: 'text',
      subtype: 'plain',
      params: { charset: 'us-ascii' },
      id: null,
      description: null,
      encoding: '7bit',
      size: raw.length - headerSize,
      md5: null,
      disposition: null,
      language: null,
      location: null,
      headerStart: 0,
      bodyStart: headerSize,
      bodyEnd: raw.length,
    },
    headerSize,
    headers,
    sentDate: Number.isNaN(parsedDate) ? null : parsedDate,
  };
}

/** Decoded text for SEARCH: headers (decoded) and body text (transfer-decoded, charset-converted). */
export function extractSearchText(raw: Buffer): { header: string; body: string } {
  const size = headerEnd(raw);
  return { header: raw.subarray(0, size).toString('utf8'), body: raw.subarray(size).toString('utf8') };
}
