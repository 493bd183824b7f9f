// [smtp], [submission], [lmtp] sections. Owned by the smtp subsystem; extend here, documented in
// mailstack.example.toml.
import { z } from 'zod';
import { listenList, durationMs } from './common.ts';

/** What one connection may cost us; the same keys in [smtp], [submission] and [lmtp] (listed in each table so
 * that mailstack.example.toml documents them there). */
const recipients = (n: number) => z.number().int().positive().max(10_000).default(n);
const lineBytes = z.number().int().min(512).max(65_536).default(4096);
const commands = z.number().int().positive().default(10_000);
const errors = z.number().int().positive().default(20);
const idleMs = durationMs.default(300_000);
const sessionMs = durationMs.default(1_800_000);
const clients = z.number().int().positive().default(500);

export const smtpSection = z
  .object({
    /** Inbound MX listeners (port 25 in production). STARTTLS offered, never required. */
    listen: listenList.default([]),
    /** Postfix smtpd_helo_required: MAIL before HELO/EHLO is refused (503 5.5.1). Always on: RFC 5321 4.1.4
     * has the client open with EHLO/HELO and the SMTP engine (smtp-server) enforces it, so only `true` is
     * accepted; the key exists so that a config written with Postfix in mind reads naturally. */
    helo_required: z.literal(true, { error: 'HELO/EHLO is always required (RFC 5321 4.1.4); remove the key or set it to true' }).default(true),
    /** Postfix reject_invalid_helo_hostname: a HELO that is neither a syntactically valid host name nor an
     * address literal is refused (501 5.5.2). */
    reject_invalid_helo: z.boolean().default(true),
    /** Postfix reject_non_fqdn_helo_hostname: a HELO host name without a dot is refused (504 5.5.2). */
    reject_non_fqdn_helo: z.boolean().default(true),
    /** Postfix reject_non_fqdn_sender: MAIL FROM whose domain has no dot is refused (504 5.5.2). */
    reject_non_fqdn_sender: z.boolean().default(true),
    /** Postfix reject_unknown_sender_domain: MAIL FROM whose domain has no MX, A or AAAA record is refused
     * (550 5.1.8), or deferred (450 4.1.8) when DNS fails temporarily. */
    reject_unknown_sender_domain: z.boolean().default(true),
    /** Postfix reject_non_fqdn_recipient: RCPT TO whose domain has no dot is refused (504 5.5.2). */
    reject_non_fqdn_recipient: z.boolean().default(true),
    /** Postfix reject_unknown_reverse_client_hostname: refuse clients whose address has no PTR record
     * (450 4.7.25 while DNS fails, 550 5.7.25 otherwise). Off by default: many legitimate small senders and
     * mail behind NAT or fresh cloud addresses have no reverse DNS, and a missing PTR says little that the
     * SPF/DKIM/DMARC checks do not say better; turn it on if your spam mostly comes from unnamed hosts. */
    reject_unknown_reverse_client: z.boolean().default(false),
    /** Check SPF, DKIM, DMARC and ARC on every inbound message and record them in Authentication-Results. */
    auth_checks: z.boolean().default(true),
    /** Honour DMARC p=reject (550 5.7.1) for mail that fails DMARC. When false, such mail goes to Junk. */
    dmarc_reject: z.boolean().default(true),
    /** Honour DMARC p=quarantine by filing mail that fails DMARC into the Junk mailbox. */
    dmarc_quarantine: z.boolean().default(true),
    /** Time budget for the SPF/DKIM/DMARC checks of one message; past it the message is accepted with
     * temperror results rather than holding the client. */
    auth_check_timeout_ms: durationMs.default(20_000),
    /** Largest number of RCPT TO per message (RFC 5321 4.5.3.1.8 asks for at least 100; Postfix's
     * smtpd_recipient_limit is 1000). Over the limit: 452 4.5.3. */
    max_recipients: recipients(100),
    /** Longest command line in bytes. RFC 5321 4.5.3.1.4 says 512; SMTPUTF8 addresses, ESMTP parameters and
     * AUTH PLAIN initial responses need more (Postfix accepts 2048). */
    max_line_bytes: lineBytes,
    /** Commands answered per connection before 421 4.7.0 (a client that never ends holds a slot). */
    max_commands: commands,
    /** Error replies (4xx/5xx) per connection before 421 4.7.0 (Postfix smtpd_hard_error_limit = 20). */
    max_errors: errors,
    /** Idle time between commands before 421 and close (Postfix smtpd_timeout = 300 s). */
    idle_timeout_ms: idleMs,
    /** Whole-connection time limit: a slow-drip client cannot hold a connection for ever. */
    session_timeout_ms: sessionMs,
    /** Simultaneous connections on one listener (beyond: 421 at connect). */
    max_clients: clients,
  })
  .strict()
  .prefault({});

export const submissionSection = z
  .object({
    /** STARTTLS submission (587): AUTH only after TLS. */
    listen: listenList.default([]),
    /** Implicit-TLS submission (465, RFC 8314). */
    listen_tls: listenList.default([]),
    /** Failed AUTH attempts per connection before 421 (the rest of the guessing goes to the ban logic). */
    max_auth_failures: z.number().int().positive().default(3),
    /** Largest number of RCPT TO per message (RFC 5321 4.5.3.1.8 asks for at least 100; Postfix's
     * smtpd_recipient_limit is 1000). Over the limit: 452 4.5.3. */
    max_recipients: recipients(100),
    /** Longest command line in bytes. RFC 5321 4.5.3.1.4 says 512; SMTPUTF8 addresses, ESMTP parameters and
     * AUTH PLAIN initial responses need more (Postfix accepts 2048). */
    max_line_bytes: lineBytes,
    /** Commands answered per connection before 421 4.7.0 (a client that never ends holds a slot). */
    max_commands: commands,
    /** Error replies (4xx/5xx) per connection before 421 4.7.0 (Postfix smtpd_hard_error_limit = 20). */
    max_errors: errors,
    /** Idle time between commands before 421 and close (Postfix smtpd_timeout = 300 s). */
    idle_timeout_ms: idleMs,
    /** Whole-connection time limit: a slow-drip client cannot hold a connection for ever. */
    session_timeout_ms: sessionMs,
    /** Simultaneous connections on one listener (beyond: 421 at connect). */
    max_clients: clients,
  })
  .strict()
  .prefault({});

export const lmtpSection = z
  .object({
    /** LMTP listeners (RFC 2033): a unix socket path or host:port. Trusted peers only (like Dovecot's
     * LMTP): no restrictions beyond the recipient having to exist. */
    listen: listenList.default([]),
    /** An MTA delivering over LMTP sends many recipients in one transaction. Largest number of RCPT TO per message (RFC 5321 4.5.3.1.8 asks for at least 100; Postfix's
     * smtpd_recipient_limit is 1000). Over the limit: 452 4.5.3. */
    max_recipients: recipients(1000),
    /** Longest command line in bytes. RFC 5321 4.5.3.1.4 says 512; SMTPUTF8 addresses, ESMTP parameters and
     * AUTH PLAIN initial responses need more (Postfix accepts 2048). */
    max_line_bytes: lineBytes,
    /** Commands answered per connection before 421 4.7.0 (a client that never ends holds a slot). */
    max_commands: commands,
    /** Error replies (4xx/5xx) per connection before 421 4.7.0 (Postfix smtpd_hard_error_limit = 20). */
    max_errors: errors,
    /** Idle time between commands before 421 and close (Postfix smtpd_timeout = 300 s). */
    idle_timeout_ms: idleMs,
    /** Whole-connection time limit: a slow-drip client cannot hold a connection for ever. */
    session_timeout_ms: sessionMs,
    /** Simultaneous connections on one listener (beyond: 421 at connect). */
    max_clients: clients,
    /** Permissions of a unix-socket listener (TOML octal, e.g. 0o660). Postfix's lmtp client runs as the
     * postfix user and needs write access; 0o666 is Dovecot's default for its LMTP socket. Tighten it (and
     * put the socket in a directory only the MTA can reach) on a multi-user machine: anyone who can connect
     * can deliver to local users without the MX restrictions. */
    socket_mode: z.number().int().min(0).max(0o777).default(0o666),
  })
  .strict()
  .prefault({});
