// [access] section. Owned by the access subsystem (src/access): who may connect to which listener, connection
// limits, the ban table and brute-force defence. Listener names are the ones the listeners pass to the guard:
// "smtp" (port 25), "lmtp", "submission", "submission_tls", "imap", "imaps", "managesieve", "webmail". A table
// for "imap" also covers "imaps", one for "submission" covers "submission_tls", unless they have their own.
import { z } from 'zod';

const countryCode = z.string().regex(/^[A-Za-z]{2}$/, 'expected a two-letter ISO 3166 country code like "DE"');
const network = z.string().regex(/^[0-9a-fA-F:.]+(\/\d{1,3})?$/, 'expected an address or CIDR like 192.0.2.0/24 or 2001:db8::/32');

/** One listener's policy: [access.listeners.NAME]. Keys left out take the defaults described below. */
export const listenerAccessSection = z
  .object({
    /** Countries allowed to connect (ISO codes). Default: `client_countries` on client listeners, nobody
     * restricted on open listeners. Enforced once a GeoIP database is imported (`mailstack geoip import`). */
    allow_countries: z.array(countryCode).optional(),
    /** Countries refused even if another rule would allow them. */
    deny_countries: z.array(countryCode).default([]),
    /** Networks allowed regardless of country (your VPN, your office). With allow_countries they form one
     * allow-list: a source matching either is allowed. */
    allow_cidrs: z.array(network).default([]),
    /** Networks always refused. */
    deny_cidrs: z.array(network).default([]),
    /** Concurrent connections per source on this listener; more are refused (not banned). 0 = no limit. */
    max_connections_per_source: z.number().int().nonnegative().optional(),
    /** New connections per source within rate_interval_s; one more bans the source and closes its open
     * connections (PF's max-src-conn-rate with overload ... flush global). 0 = no limit. */
    max_new_connections: z.number().int().nonnegative().optional(),
    /** The window for max_new_connections, in seconds. */
    rate_interval_s: z.number().int().positive().optional(),
    /** Whether the ban table applies here. Default true on client listeners, false on open listeners (port 25
     * keeps receiving mail from a source banned for guessing passwords). */
    apply_bans: z.boolean().optional(),
  })
  .strict();

export const accessSection = z
  .object({
    /** Networks that are never refused, limited or banned (the admin's own). Loopback is added unless
     * exempt_loopback is false. */
    admin_networks: z.array(network).default([]),
    /** Loopback (127.0.0.0/8, ::1) is never refused or banned: local tools and the webmail connect from there.
     * Set false only for tests that play remote clients from 127.0.0.x addresses. */
    exempt_loopback: z.boolean().default(true),
    /** Listeners open to the world by default (no country allow-list, bans not applied). Every other listener
     * is a client listener. */
    open_listeners: z.array(z.string()).default(['smtp', 'lmtp']),
    /** Countries allowed on client listeners once a GeoIP database is imported; empty = no country limit.
     * The reference setup uses ["DE", "AT", "CH", "NL", "LU", "FR"]. */
    client_countries: z.array(countryCode).default([]),
    /** Client-listener defaults for the per-listener limits: concurrent connections per source (mail
     * clients open several: Thunderbird up to 5 per account, more with IDLE on folders). */
    max_connections_per_source: z.number().int().nonnegative().default(20),
    /** New connections per source per rate_interval_s on client listeners before a ban; 0 = no limit. */
    max_new_connections: z.number().int().nonnegative().default(30),
    rate_interval_s: z.number().int().positive().default(30),
    /** IPv6 sources are counted and banned per network of this prefix: one host usually owns a /64 and can
     * pick any address in it. 128 = per address. */
    ipv6_source_prefix: z.number().int().min(32).max(128).default(64),
    /** Failed logins (SMTP AUTH, IMAP, ManageSieve) from one source within auth_failure_window_s that ban it. */
    max_auth_failures: z.number().int().positive().default(5),
    auth_failure_window_s: z.number().int().positive().default(600),
    /** First ban length, in seconds; each repeat ban of the same source is ban_growth times longer, up to
     * max_ban_s. */
    ban_s: z.number().int().positive().default(3600),
    ban_growth: z.number().min(1).default(4),
    max_ban_s: z.number().int().positive().default(30 * 24 * 3600),
    /** Extra delay per recent failed login from the same source, in ms, before the next login is answered. */
    source_delay_ms: z.number().int().nonnegative().default(1000),
    /** An account with this many failed logins (from any source) within auth_failure_window_s is slowed:
     * each further failure adds account_delay_ms, up to max_login_delay_ms. Never locked. */
    account_slow_after: z.number().int().positive().default(10),
    account_delay_ms: z.number().int().nonnegative().default(500),
    max_login_delay_ms: z.number().int().nonnegative().default(15000),
    /** Refused connections logged per minute at most; the rest are counted in one summary line. */
    max_refusal_logs_per_minute: z.number().int().nonnegative().default(60),
    /** Per-listener policies, e.g. [access.listeners.imap] (also used by "imaps" unless it has its own). */
    listeners: z.record(z.string(), listenerAccessSection).default({}),
  })
  .strict()
  .prefault({});

export type AccessConfig = z.infer<typeof accessSection>;
export type ListenerAccessConfig = z.infer<typeof listenerAccessSection>;
