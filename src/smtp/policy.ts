// The MX restrictions of the reference main.cf, as typed checks. Each returns null (pass) or the SmtpReply
// to refuse with. Clients from trusted networks and authenticated clients never reach these (Postfix's
// permit_mynetworks, permit_sasl_authenticated come first in every restriction list).
import type { Resolver } from '../dns/index.ts';
import { DnsError } from '../dns/index.ts';
import { checkHelo, isAddressLiteral, isFqdn, routingProblem, splitAddress } from './address.ts';
import { SmtpReply } from './reply.ts';

export interface MxPolicy {
  reject_invalid_helo: boolean;
  reject_non_fqdn_helo: boolean;
  reject_non_fqdn_sender: boolean;
  reject_unknown_sender_domain: boolean;
  reject_non_fqdn_recipient: boolean;
  reject_unknown_reverse_client: boolean;
}

/** smtpd_helo_restrictions: reject_invalid_helo_hostname, reject_non_fqdn_helo_hostname. */
export function heloRestriction(policy: MxPolicy, helo: string): SmtpReply | null {
  const verdict = checkHelo(helo);
  if (verdict === 'invalid' && policy.reject_invalid_helo) return new SmtpReply(501, '5.5.2', `<${helo.slice(0, 64)}>: Helo command rejected: Invalid name`);
  if (verdict === 'non_fqdn' && policy.reject_non_fqdn_helo)
    return new SmtpReply(504, '5.5.2', `<${helo}>: Helo command rejected: need fully-qualified hostname`);
  return null;
}

/** smtpd_sender_restrictions: reject_non_fqdn_sender, reject_unknown_sender_domain. The null sender
 * (bounces, RFC 5321 4.5.5) always passes. */
export async function senderRestriction(policy: MxPolicy, sender: string, resolver: Resolver): Promise<SmtpReply | null> {
  if (sender === '') return null;
  const parts = splitAddress(sender);
  if (!parts || !isFqdn(parts.domain)) {
    return policy.reject_non_fqdn_sender ? new SmtpReply(504, '5.5.2', `<${sender}>: Sender address rejected: need fully-qualified address`) : null;
  }
  if (!policy.reject_unknown_sender_domain || isAddressLiteral(parts.domain)) return null;
  const status = await domainResolves(parts.domain, resolver);
  if (status === 'temporary') return new SmtpReply(450, '4.1.8', `<${sender}>: Sender address rejected: Domain not found (DNS temporarily failing)`);
  if (status === 'null_mx') return new SmtpReply(550, '5.7.27', `<${sender}>: Sender address rejected: Domain does not accept mail (null MX, RFC 7505)`);
  if (status === 'missing') return new SmtpReply(550, '5.1.8', `<${sender}>: Sender address rejected: Domain not found`);
  return null;
}

/** Whether a domain can receive mail: an MX, else an A or AAAA (RFC 5321 5.1 implicit MX). */
export async function domainResolves(domain: string, resolver: Resolver): Promise<'ok' | 'missing' | 'null_mx' | 'temporary'> {
  let name: string;
  try {
    name = new URL(`http://${domain}`).hostname; // IDNA to A-labels for U-label domains (SMTPUTF8)
  } catch {
    return 'missing';
  }
  let temporary = false;
  const attempt = async <T>(lookup: () => Promise<T[]>): Promise<T[] | 'nxdomain'> => {
    try {
      return await lookup();
    } catch (err) {
      if (err instanceof DnsError && !err.temporary) return err.code === 'NXDOMAIN' ? 'nxdomain' : [];
      temporary = true;
      return [];
    }
  };
  const mx = await attempt(() => resolver.mx(name));
  if (mx === 'nxdomain') return 'missing';
  if (mx.length > 0) {
    // RFC 7505 3: a single MX with an empty exchange ("." ) means the domain accepts no mail.
    if (mx.length === 1 && (mx[0]!.exchange === '' || mx[0]!.exchange === '.')) return 'null_mx';
    return 'ok';
  }
  const a = await attempt(() => resolver.a(name));
  if (a !== 'nxdomain' && a.length > 0) return 'ok';
  const aaaa = await attempt(() => resolver.aaaa(name));
  if (aaaa !== 'nxdomain' && aaaa.length > 0) return 'ok';
  return temporary ? 'temporary' : 'missing';
}

/** The syntax half of smtpd_recipient_restrictions: routing tricks first (they are relay attempts), then
 * reject_non_fqdn_recipient. Whether the domain is ours (reject_unauth_destination) needs the store. */
export function recipientSyntaxRestriction(policy: MxPolicy, recipient: string): SmtpReply | null {
  const parts = splitAddress(recipient);
  if (parts) {
    const routing = routingProblem(parts.local);
    if (routing) return new SmtpReply(554, '5.7.1', `<${recipient}>: Relay access denied (${routing})`);
  }
  if (!parts || !isFqdn(parts.domain)) {
    return policy.reject_non_fqdn_recipient ? new SmtpReply(504, '5.5.2', `<${recipient}>: Recipient address rejected: need fully-qualified address`) : null;
  }
  return null;
}

/** reject_unknown_reverse_client_hostname: the client address has no PTR record. */
export async function reverseClientRestriction(policy: MxPolicy, ip: string, resolver: Resolver): Promise<SmtpReply | null> {
  if (!policy.reject_unknown_reverse_client) return null;
  try {
    const names = await resolver.ptr(ip);
    if (names.length > 0) return null;
  } catch (err) {
    if (!(err instanceof DnsError) || err.temporary) {
      return new SmtpReply(450, '4.7.25', `Client host rejected: cannot find your reverse hostname, [${ip}] (DNS temporarily failing)`);
    }
  }
  return new SmtpReply(550, '5.7.25', `Client host rejected: cannot find your reverse hostname, [${ip}]`);
}
