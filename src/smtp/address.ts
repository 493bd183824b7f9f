// Pure checks on the names a client gives us: HELO host names, envelope addresses. No I/O.
import { isIP } from 'node:net';

/** RFC 5321 4.5.3.1.2: a domain name is at most 255 octets; 253 in text form without the trailing dot. */
const MAX_DOMAIN_LENGTH = 253;
/** RFC 1035 2.3.4: a label is at most 63 octets. */
const MAX_LABEL_LENGTH = 63;
/** Letters, digits, hyphen (RFC 5321 4.1.2 sub-domain), plus "_" seen in real HELO names; or any non-ASCII
 * character for internationalised (U-label) domains in SMTPUTF8 envelopes. */
const LABEL = /^(?:[A-Za-z0-9_\u0080-\uffff](?:[A-Za-z0-9_\u0080-\uffff-]*[A-Za-z0-9_\u0080-\uffff])?)$/;

export function splitAddress(address: string): { local: string; domain: string } | null {
  const at = address.lastIndexOf('@');
  if (at <= 0 || at === address.length - 1) return null;
  return { local: address.slice(0, at), domain: address.slice(at + 1) };
}

/** RFC 5321 4.1.3 address literal: [192.0.2.1] or [IPv6:2001:db8::1]. */
export function isAddressLiteral(domain: string): boolean {
  if (!domain.startsWith('[') || !domain.endsWith(']')) return false;
  const inner = domain.slice(1, -1);
  if (/^IPv6:/i.test(inner)) return isIP(inner.slice(5)) === 6;
  return isIP(inner) === 4;
}

/** A syntactically valid host name (one or more labels, no empty label, bounded lengths). */
export function isValidHostname(name: string): boolean {
  const bare = name.endsWith('.') ? name.slice(0, -1) : name;
  if (bare.length === 0 || bare.length > MAX_DOMAIN_LENGTH) return false;
  return bare.split('.').every((label) => label.length <= MAX_LABEL_LENGTH && LABEL.test(label));
}

/** Postfix's "fully-qualified": a host name with at least one dot (address literals count as qualified). */
export function isFqdn(domain: string): boolean {
  if (isAddressLiteral(domain)) return true;
  const bare = domain.endsWith('.') ? domain.slice(0, -1) : domain;
  return bare.includes('.') && isValidHostname(bare);
}

export type HeloVerdict = 'ok' | 'invalid' | 'non_fqdn';

/** Postfix reject_invalid_helo_hostname and reject_non_fqdn_helo_hostname, in that order. */
export function checkHelo(helo: string): HeloVerdict {
  if (helo.startsWith('[')) return isAddressLiteral(helo) ? 'ok' : 'invalid';
  if (!isValidHostname(helo)) return 'invalid';
  return isFqdn(helo) ? 'ok' : 'non_fqdn';
}

/**
 * Why a recipient's local part looks like a relay attempt through us, or null. Old MTAs routed
 * "user%remote@us" and "remote!user@us" onward (Postfix's allow_percent_hack, swap_bangpath); quoted
 * local parts hide "@" and routing characters from naive parsers. None of these is a mailbox here.
 */
export function routingProblem(local: string): string | null {
  if (local.startsWith('"') || local.includes('"')) return 'quoted local part';
  if (local.includes('%')) return '"%" routing';
  if (local.includes('!')) return '"!" (bang path) routing';
  if (local.includes('@')) return '"@" in local part';
  return null;
}
