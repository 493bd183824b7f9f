// Bounds on what the MIME code will do with one message. Every loop over untrusted input is capped by one of
// these, so a hostile message costs bounded time and memory at delivery (it runs on every message).

/** Nesting of multiparts and message/rfc822. Real mail stays under 10; Dovecot's cap is 100 and we match it so
 *  both servers describe the same tree. Beyond this depth a container is served as one text/plain leaf (its
 *  bytes are still there, just not split). Recursion of 100 frames is cheap. */
export const MAX_MIME_DEPTH = 100;

/** Parts in one message. A legitimate message with thousands of attachments is unheard of; a crafted one with
 *  millions of empty parts would make BODYSTRUCTURE (and the stored summary) enormous. */
export const MAX_MIME_PARTS = 5000;

/** Header fields recorded per part. Fields past this are still skipped over (the header block's extent stays
 *  exact) but not looked at. Spam with thousands of Received lines exists; 2000 is generous. */
export const MAX_HEADER_FIELDS = 2000;

/** Longest header value (after unfolding) we decode or parse structurally (addresses, parameters). A longer one
 *  is cut: an address list of 256 KiB is already a few thousand recipients. */
export const MAX_HEADER_VALUE_CHARS = 256 * 1024;

/** Longest Date value parsed for the sent date (SEARCH SENTBEFORE and the like). A real one is under 100
 *  characters with its comment; a longer one is not a date, and parsing a crafted one must stay cheap. */
export const MAX_DATE_CHARS = 998;

/** Addresses kept per ENVELOPE field (To, Cc, ...). */
export const MAX_ADDRESSES = 1000;

/** Parameters kept per Content-Type / Content-Disposition. */
export const MAX_PARAMS = 64;

/** Nested comments "((((...))))" in structured header fields. */
export const MAX_COMMENT_DEPTH = 32;

/** Decoded header text kept for SEARCH: far more than any honest header block. */
export const MAX_SEARCH_HEADER_CHARS = 256 * 1024;

/** Decoded body text kept for SEARCH. Text beyond this in one message is not searchable; 2 MiB of text is a
 *  book, and this bounds the size of the search index row. */
export const MAX_SEARCH_BODY_CHARS = 2 * 1024 * 1024;

/** Bytes of one text part decoded for SEARCH (before charset conversion). */
export const MAX_SEARCH_PART_BYTES = 4 * 1024 * 1024;
