// mime: parsing of stored messages for IMAP and search.
// Owns: the MessageSummary computed once at delivery (ENVELOPE, BODYSTRUCTURE with byte offsets, common
// headers), the decoded searchable text, section extraction (BODY[...], BINARY[...]) and RFC 2047 decoding.
// Pure functions over bytes: no I/O, no store, no protocol state. Never throws on any input; every parser
// is bounded (limits.ts).
export type { MessageSummary, Envelope, EnvelopeAddress, BodyPart } from './types.ts';
export type { SectionSpec } from './section.ts';
export { summarizeMessage } from './summarize.ts';
export { extractSearchText, htmlToText } from './text.ts';
export { extractSection, decodeBinarySection, resolvePart } from './section.ts';
export { decodeHeaderValue } from './encoded-word.ts';
export { decodeCharset, isKnownCharset } from './charset.ts';
export { decodeTransfer } from './transfer.ts';
export { renderBodyStructure, renderEnvelope, imapString, imapNString } from './imap-syntax.ts';
export { parseAddressList } from './address.ts';
