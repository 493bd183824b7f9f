// Shared building blocks for config sections.
import { z } from 'zod';
import { isIP } from 'node:net';

/** "host:port", "[v6]:port" or a unix socket path starting with "/". */
export const listenAddress = z
  .string()
  .regex(/^(\/.+|\[[0-9a-fA-F:.]+\]:\d{1,5}|[A-Za-z0-9.-]*:\d{1,5})$/, 'expected "host:port", "[ipv6]:port" or "/path/to/socket"');

export const listenList = z.array(listenAddress);
export const durationMs = z.number().int().nonnegative();
/** An IP address, or a network in CIDR notation whose prefix fits the address family. */
export const cidr = z.string().refine(isAddressOrCidr, 'expected an address or CIDR like 192.0.2.0/24 or 2001:db8::/32');

function isAddressOrCidr(value: string): boolean {
  const [address = '', prefix, extra] = value.split('/');
  const family = isIP(address);
  if (family === 0 || extra !== undefined) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

/** A host name as the SMTP greeting and Received lines need it (RFC 5321 4.1.2 Domain: letters, digits and
 * hyphens in dot-separated labels), or an address literal ([192.0.2.1], [IPv6:2001:db8::1]). Anything else,
 * a space or a CR LF above all, would be sent to peers as protocol text. */
export const hostName = z.string().refine(isHostName, 'expected a domain name like mail.example.com, or an address literal like [192.0.2.1]');

function isHostName(value: string): boolean {
  const literal = /^\[(?:IPv6:)?([^\]]+)\]$/i.exec(value);
  if (literal) return isIP(literal[1] ?? '') !== 0;
  if (value.length > 253) return false;
  return value.split('.').every((label) => /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(label));
}
