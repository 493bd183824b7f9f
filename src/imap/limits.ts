// Named limits of the IMAP server, each with the reason for its size.

/** Longest command line (between literals). RFC 9051 4 leaves it open; RFC 7162 4 asks for at least
 * 8192 octets. 64 KiB fits a UID set of several thousand ranges (what mbsync and QRESYNC clients send)
 * while keeping a slow-loris sender from holding more than 64 KiB per connection. */
export const MAX_LINE_BYTES = 64 * 1024;

/** Literals in one command (APPEND with MULTIAPPEND is not offered, so a handful is plenty: LOGIN has
 * two, SEARCH a few). Bounds the work a single command can make us buffer. */
export const MAX_LITERALS_PER_COMMAND = 32;

/** Before login only LOGIN/AUTHENTICATE need literals (a user name and a password): a stranger may not
 * make us buffer more than this per command. */
export const MAX_PREAUTH_LITERAL_BYTES = 8 * 1024;

/** Literals other than APPEND's message (user names, search strings, mailbox names) never need more than
 * this, in total per command; bigger ones are refused before their bytes are read. */
export const MAX_SMALL_LITERAL_BYTES = 64 * 1024;

/** Parenthesis nesting of SEARCH keys and FETCH lists. Real clients stay below 10; the bound keeps the
 * recursive-descent parser's stack small whatever the input. */
export const MAX_NESTING_DEPTH = 32;

/** Commands read ahead while one is running (pipelining). Beyond this we stop reading the socket until the
 * queue drains, so a client cannot make us buffer without bound. */
export const MAX_QUEUED_COMMANDS = 64;

/** RFC 7888 4: with LITERAL- a non-synchronising literal is at most 4096 octets. We advertise LITERAL+,
 * which has no such bound, but we keep the constant to describe what LITERAL- clients do. */
export const LITERAL_MINUS_MAX = 4096;

/** Number of parts in a section spec (BODY[1.2.3.4...]): deeper is nonsense. */
export const MAX_SECTION_DEPTH = 32;

/** Header field names in one HEADER.FIELDS list. */
export const MAX_HEADER_FIELDS = 256;
