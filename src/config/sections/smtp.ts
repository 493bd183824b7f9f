// [smtp], [submission], [lmtp] sections. Owned by the smtp subsystem; extend here, documented in
// mailstack.example.toml.
import { z } from 'zod';
import { listenList } from './common.ts';

export const smtpSection = z
  .object({
    /** Inbound MX listeners (port 25 in production). STARTTLS offered, never required. */
    listen: listenList.default([]),
  })
  .strict()
  .default({ listen: [] });

export const submissionSection = z
  .object({
    /** STARTTLS submission (587): AUTH only after TLS. */
    listen: listenList.default([]),
    /** Implicit-TLS submission (465, RFC 8314). */
    listen_tls: listenList.default([]),
  })
  .strict()
  .default({ listen: [], listen_tls: [] });

export const lmtpSection = z
  .object({
    /** LMTP listeners (RFC 2033): a unix socket path or host:port. */
    listen: listenList.default([]),
  })
  .strict()
  .default({ listen: [] });
