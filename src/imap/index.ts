// imap: the IMAP4rev1/IMAP4rev2 server (RFC 3501, RFC 9051) and its extensions.
// Owns: command parsing (parser/), the session state machine (session.ts), command handlers (commands/),
// response encoding (encoder.ts), the listeners (server.ts). Never writes SQL: everything goes through the
// Store interface. Never imports another listener.
//
// Implementation notes:
// - Never await a socket write while holding anything that blocks deliveries: handlers call the store,
//   then write; backpressure waits happen between store calls only.
// - Expunges from other sessions are reported only where RFC 9051 7.4.1 allows (selected.ts).
// - Every limit is a named constant in limits.ts with its reason.
// - Nothing read before STARTTLS is acted on after it (connection.ts).
export { startImap, type ImapListeners, type ImapOverrides } from './server.ts';
export { sessionBugs } from './session.ts';
