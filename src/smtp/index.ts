// smtp: the SMTP-family listeners. Owns: the MX listener (port 25: mail from the world for our domains,
// the reference main.cf restrictions, SPF/DKIM/DMARC through authcheck), the submission listeners (587
// STARTTLS, 465 implicit TLS: AUTH after TLS, sender ownership, DKIM signing through deps.sign), and the
// LMTP listener (RFC 2033). Never: writes SQL, keeps mail itself, or relays for strangers. Messages go to
// the store through delivery/ and to other hosts through the queue port.
//
// Implementation notes:
// - A 250 after DATA means deliverLocal resolved: the message is on stable storage. Any store failure is
//   451 4.3.0 and the sender keeps the message.
// - Unknown local recipients are refused at RCPT time (550 5.1.1): we never accept mail we would have to
//   bounce (no backscatter).
// - Access control runs at accept, before TLS or any byte (listener.ts); a locked vault gives 421 at
//   connect and 451 later.
// - smtp-server has no BDAT: CHUNKING (RFC 3030) is not offered.
import type { Runtime } from '../runtime/index.ts';
import type { ListenerHandle } from './listener.ts';
import type { SmtpDeps } from './transaction.ts';
import { startMx } from './mx.ts';

export { startSubmission } from './submission.ts';
export { startLmtp } from './lmtp.ts';
export type { SmtpDeps, QueuePort } from './transaction.ts';
export type { ListenerHandle, Listening } from './listener.ts';

/** The inbound MX listeners of `[smtp] listen`. */
export function startSmtp(runtime: Runtime, deps: SmtpDeps): Promise<ListenerHandle> {
  return startMx(runtime, deps);
}
