// [imap] section. Owned by the imap subsystem.
import { z } from 'zod';
import { listenList, durationMs } from './common.ts';

export const imapSection = z
  .object({
    /** IMAP with STARTTLS (143): LOGINDISABLED until TLS. */
    listen: listenList.default([]),
    /** IMAP with implicit TLS (993). */
    listen_tls: listenList.default([]),
    /** Idle time before login after which the connection is closed (RFC 9051 5.4: at least 30 min after
     * login; before it we are stricter so that half-open probes do not hold sockets). */
    idle_timeout_preauth_ms: durationMs.default(60_000),
    /** Idle time after login (also bounds one IDLE command; clients re-issue IDLE every 29 minutes). */
    idle_timeout_ms: durationMs.default(30 * 60_000),
    /** Delay before answering the first failed login of a connection, counted from when the login arrived
     * (so how long the password check took does not show); it doubles with each further failure up to
     * login_failure_max_delay_ms. Slows password guessing on one connection. */
    login_failure_delay_ms: durationMs.default(1_000),
    /** Upper bound of the growing per-connection delay after failed logins. */
    login_failure_max_delay_ms: durationMs.default(15_000),
    /** Failed logins after which the connection is closed with BYE. */
    max_login_failures: z.number().int().positive().default(5),
  })
  .strict()
  .default({
    listen: [],
    listen_tls: [],
    idle_timeout_preauth_ms: 60_000,
    idle_timeout_ms: 30 * 60_000,
    login_failure_delay_ms: 1_000,
    login_failure_max_delay_ms: 15_000,
    max_login_failures: 5,
  });
