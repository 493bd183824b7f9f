// [dns] section. Owned by the dns subsystem.
import { z } from 'zod';
import { isIP } from 'node:net';

/** What the resolver accepts (src/dns/wire.ts parseUpstream): "ip", "ip:port", "[ipv6]:port" or a bare IPv6 address. */
function isUpstream(spec: string): boolean {
  const bracketed = /^\[([0-9a-fA-F:.]+)\](?::(\d{1,5}))?$/.exec(spec);
  if (bracketed) return isIP(bracketed[1] ?? '') === 6 && validPort(bracketed[2]);
  if (isIP(spec) === 6) return true;
  const hostPort = /^([0-9.]+)(?::(\d{1,5}))?$/.exec(spec);
  return hostPort !== null && isIP(hostPort[1] ?? '') === 4 && validPort(hostPort[2]);
}

function validPort(port: string | undefined): boolean {
  return port === undefined || (Number(port) >= 1 && Number(port) <= 65535);
}

const upstream = z.string().refine(isUpstream, 'expected a resolver\'s address: "ip", "ip:port" or "[ipv6]:port"');

export const dnsSection = z
  .object({
    /** Upstream resolvers as "ip" or "ip:port"; empty = the system's resolvers (/etc/resolv.conf). */
    upstream: z.array(upstream).default([]),
    timeout_ms: z.number().int().positive().default(5000),
  })
  .strict()
  .default({ upstream: [], timeout_ms: 5000 });
