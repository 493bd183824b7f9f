// [queue] section. Owned by the queue subsystem: the outbound queue and its SMTP client.
// Defaults follow Postfix where Postfix has the same knob (named in each comment).
import { z } from 'zod';

/** Per destination domain: "may" = STARTTLS when offered, certificate not required to verify (Postfix
 * smtp_tls_security_level=may); "encrypt" = TLS required, any certificate; "verify" = TLS required with a
 * certificate valid for the MX host name; "none" = never STARTTLS. */
export const tlsPolicy = z.enum(['none', 'may', 'encrypt', 'verify']);

const defaults = {
  max_lifetime_hours: 120,
  smtp_port: 25,
  retry_min_ms: 300_000,
  retry_max_ms: 4_000_000,
  scan_interval_ms: 60_000,
  delay_warning_hours: 0,
  max_deliveries: 100,
  per_destination_concurrency: 20,
  connect_timeout_ms: 30_000,
  command_timeout_ms: 300_000,
  connection_cache_ms: 2_000,
  tls_policy: {} as Record<string, z.infer<typeof tlsPolicy>>,
  default_tls_policy: 'may' as const,
  allow_internal_destinations: false,
  prefer_ipv6: false,
};

export const queueSection = z
  .object({
    /** How long a message is retried before it bounces (Postfix maximal_queue_lifetime, 5 days). */
    max_lifetime_hours: z.number().positive().default(defaults.max_lifetime_hours),
    /** TCP port of remote MX hosts. 25 everywhere on the Internet; tests point it at their own receiver. */
    smtp_port: z.number().int().min(1).max(65535).default(defaults.smtp_port),
    /** First retry delay after a temporary failure; doubles per attempt (Postfix minimal_backoff_time 300s). */
    retry_min_ms: z.number().int().positive().default(defaults.retry_min_ms),
    /** Longest retry delay (Postfix maximal_backoff_time 4000s). */
    retry_max_ms: z.number().int().positive().default(defaults.retry_max_ms),
    /** The queue looks for due messages at least this often, even when nothing woke it (Postfix queue_run_delay). */
    scan_interval_ms: z.number().int().positive().default(defaults.scan_interval_ms),
    /** Send the sender a "delayed" DSN once a message has waited this long; 0 = never (Postfix delay_warning_time). */
    delay_warning_hours: z.number().nonnegative().default(defaults.delay_warning_hours),
    /** Messages being delivered at once, all destinations together (Postfix default_process_limit). */
    max_deliveries: z.number().int().positive().default(defaults.max_deliveries),
    /** SMTP sessions at once to one destination domain (Postfix default_destination_concurrency_limit). */
    per_destination_concurrency: z.number().int().positive().default(defaults.per_destination_concurrency),
    /** TCP connect timeout per address (Postfix smtp_connect_timeout). */
    connect_timeout_ms: z.number().int().positive().default(defaults.connect_timeout_ms),
    /** Timeout for the greeting and each command's reply (Postfix smtp_*_timeout). */
    command_timeout_ms: z.number().int().positive().default(defaults.command_timeout_ms),
    /** How long an idle connection is kept for the next message to the same domain; 0 = no reuse
     * (Postfix smtp_connection_cache_time_limit). */
    connection_cache_ms: z.number().int().nonnegative().default(defaults.connection_cache_ms),
    /** TLS policy per destination domain, e.g. { "bank.example" = "verify" } (Postfix smtp_tls_policy_maps). */
    tls_policy: z.record(z.string(), tlsPolicy).default(defaults.tls_policy),
    /** TLS policy for every other domain. */
    default_tls_policy: tlsPolicy.default(defaults.default_tls_policy),
    /** Deliver to MX hosts on loopback, private (RFC 1918, ULA) and link-local addresses. Off by default so
     * that a hostile DNS answer cannot make the queue connect into the local network; turn on when your
     * MX relays are internal. */
    allow_internal_destinations: z.boolean().default(defaults.allow_internal_destinations),
    /** Try an MX host's IPv6 addresses before its IPv4 ones. */
    prefer_ipv6: z.boolean().default(defaults.prefer_ipv6),
  })
  .strict()
  .default(defaults);
