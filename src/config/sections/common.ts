// Shared building blocks for config sections.
import { z } from 'zod';

/** "host:port", "[v6]:port" or a unix socket path starting with "/". */
export const listenAddress = z
  .string()
  .regex(/^(\/.+|\[[0-9a-fA-F:.]+\]:\d{1,5}|[A-Za-z0-9.-]*:\d{1,5})$/, 'expected "host:port", "[ipv6]:port" or "/path/to/socket"');

export const listenList = z.array(listenAddress);
export const durationMs = z.number().int().nonnegative();
export const cidr = z.string().regex(/^[0-9a-fA-F:.]+(\/\d{1,3})?$/, 'expected an address or CIDR like 192.0.2.0/24 or 2001:db8::/32');
