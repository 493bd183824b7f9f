// What the store keeps about each message's structure, computed once at delivery (summarize.ts) so that
// IMAP never parses a message to answer FETCH ENVELOPE / BODYSTRUCTURE or SEARCH on headers.
// Everything here is plain JSON-serialisable data.

/** RFC 9051 7.5.2 ENVELOPE address: [name, adl, mailbox, host]; group syntax uses host=null markers. */
export interface EnvelopeAddress {
  name: string | null;
  adl: string | null;
  mailbox: string | null;
  host: string | null;
}

/** RFC 9051 7.5.2 ENVELOPE. Header values are kept as raw (undecoded) strings, as IMAP sends them. */
export interface Envelope {
  date: string | null;
  subject: string | null;
  from: EnvelopeAddress[] | null;
  sender: EnvelopeAddress[] | null;
  replyTo: EnvelopeAddress[] | null;
  to: EnvelopeAddress[] | null;
  cc: EnvelopeAddress[] | null;
  bcc: EnvelopeAddress[] | null;
  inReplyTo: string | null;
  messageId: string | null;
}

/** One node of the MIME tree with the byte offsets IMAP needs to serve BODY[n], BODY[n.MIME], etc. */
export interface BodyPart {
  /** Lower-case type/subtype, e.g. "text", "plain". */
  type: string;
  subtype: string;
  params: Record<string, string>;
  id: string | null;
  description: string | null;
  encoding: string;
  /** Octets of the encoded body. */
  size: number;
  /** Lines of the encoded body, for text/* and message/rfc822. */
  lines?: number;
  md5: string | null;
  disposition: { type: string; params: Record<string, string> } | null;
  language: string[] | null;
  location: string | null;
  /** Byte offsets into the raw message: the part's header block and its body. */
  headerStart: number;
  bodyStart: number;
  bodyEnd: number;
  /** multipart/*: the children. message/rfc822: exactly one child, the encapsulated message's root. */
  children?: BodyPart[];
  /** message/rfc822 only: the encapsulated message's envelope. */
  envelope?: Envelope;
}

export interface MessageSummary {
  envelope: Envelope;
  bodyStructure: BodyPart;
  /** Byte length of the top-level header block, including the blank line that ends it. */
  headerSize: number;
  /** Header fields IMAP clients fetch most, unfolded and decoded (lower-case name -> value). */
  headers: Record<string, string>;
  /** Sent date (Date: header) as ms since epoch, for SENTBEFORE etc. and SORT DATE; null when absent/invalid. */
  sentDate: number | null;
}
