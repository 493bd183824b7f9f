// SMTP replies and RFC 3463 enhanced status codes: what one delivery attempt says about each recipient.

export type AttemptOutcome = 'delivered' | 'deferred' | 'failed';

export interface RecipientResult {
  address: string;
  outcome: AttemptOutcome;
  /** RFC 3463 status, e.g. "5.1.1". */
  status: string;
  /** RFC 3464 2.3.6 Diagnostic-Code value ("smtp; 550 5.1.1 no such user") or our own explanation. */
  diagnostic: string;
  /** The MX host that gave the answer, when one did. */
  remoteMta: string | null;
}

/** A reply's text flattened to one line, bounded, without control characters: it ends up in logs, in the
 * queue listing and in a DSN header field. */
const MAX_REPLY_CHARS = 500;
export function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  const flat = text.replace(/\r?\n/g, ' ').replace(/[\x00-\x1f\x7f]/g, '').replace(/\s+/g, ' ').trim();
  return flat.length > MAX_REPLY_CHARS ? flat.slice(0, MAX_REPLY_CHARS) + '...' : flat;
}

/** The enhanced status code in a reply (RFC 2034), else one derived from the reply code's class. */
export function enhancedStatus(response: string | undefined, code: number | undefined): string {
  const m = response ? /^\d{3}[ -]([245]\.\d{1,3}\.\d{1,3})\b/.exec(response.trim()) : null;
  if (m) return m[1]!;
  if (code !== undefined && code >= 500) return '5.0.0';
  return '4.0.0';
}

export function fromReply(address: string, remoteMta: string, code: number, response: string): RecipientResult {
  const permanent = code >= 500 && code !== 503; // a 503 (bad sequence) says nothing about the recipient
  return {
    address,
    outcome: code >= 200 && code < 300 ? 'delivered' : permanent ? 'failed' : 'deferred',
    status: code >= 200 && code < 300 ? '2.0.0' : enhancedStatus(response, code),
    diagnostic: `smtp; ${oneLine(response)}`,
    remoteMta,
  };
}

export function deferAll(addresses: string[], status: string, diagnostic: string, remoteMta: string | null = null): RecipientResult[] {
  return addresses.map((address) => ({ address, outcome: 'deferred' as const, status, diagnostic, remoteMta }));
}

export function failAll(addresses: string[], status: string, diagnostic: string, remoteMta: string | null = null): RecipientResult[] {
  return addresses.map((address) => ({ address, outcome: 'failed' as const, status, diagnostic, remoteMta }));
}
