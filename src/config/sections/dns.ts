// [dns] section. Owned by the dns subsystem.
import { z } from 'zod';

export const dnsSection = z
  .object({
    /** Upstream resolvers as "ip" or "ip:port"; empty = the system's resolvers (/etc/resolv.conf). */
    upstream: z.array(z.string()).default([]),
    timeout_ms: z.number().int().positive().default(5000),
  })
  .strict()
  .default({ upstream: [], timeout_ms: 5000 });
