// DNS errors with a code that tells a permanent answer from a temporary failure.

export type DnsErrorCode =
  /** The name does not exist (RCODE 3). Permanent. */
  | 'NXDOMAIN'
  /** The name exists but has no record of the asked type. Permanent. The typed lookups of the Resolver
   * return [] instead of throwing this; only `mailauth` throws it (as ENODATA). */
  | 'NODATA'
  /** No answer from any upstream in time. Temporary. */
  | 'TIMEOUT'
  /** The upstream could not answer (RCODE 2), e.g. a broken delegation or DNSSEC failure. Temporary. */
  | 'SERVFAIL'
  /** The upstream refused to answer us (RCODE 5). Temporary (it is a resolver configuration problem). */
  | 'REFUSED'
  /** Any other failure: format error, a malformed reply, a network error. Temporary. */
  | 'OTHER'
  /** The name we were asked to resolve is not a valid domain name. Permanent. */
  | 'BADNAME';

const PERMANENT: ReadonlySet<DnsErrorCode> = new Set(['NXDOMAIN', 'NODATA', 'BADNAME']);

/** The code node:dns uses for the same condition: mailauth (and other libraries written against
 * node:dns) decide "no record" versus "temporary error" by these. */
const NODE_CODES: Record<DnsErrorCode, string> = {
  NXDOMAIN: 'ENOTFOUND',
  NODATA: 'ENODATA',
  TIMEOUT: 'ETIMEOUT',
  SERVFAIL: 'ESERVFAIL',
  REFUSED: 'EREFUSED',
  OTHER: 'ECONNREFUSED',
  BADNAME: 'EBADNAME',
};

export class DnsError extends Error {
  readonly temporary: boolean;
  constructor(
    readonly code: DnsErrorCode,
    readonly hostname: string,
    readonly rrtype: string,
    detail?: string,
  ) {
    super(`DNS ${rrtype} lookup for ${hostname || '(empty name)'}: ${code}${detail ? ` (${detail})` : ''}`);
    this.name = 'DnsError';
    this.temporary = !PERMANENT.has(code);
  }

  /** The node:dns error code for the same condition (ENOTFOUND, ENODATA, ETIMEOUT, ...). */
  get nodeCode(): string {
    return NODE_CODES[this.code];
  }
}
