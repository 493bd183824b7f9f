// Mail addresses as accounts see them: parsed, checked and put in one canonical spelling so that every
// lookup (users, aliases, domains) compares like with like.
//
// Canonical form: local part lower-cased (mailstack, like Postfix's virtual maps, treats local parts
// case-insensitively), domain lower-cased and in UTF-8 (an IDN given as xn--... punycode is decoded, so
// "bücher.example" and "xn--bcher-kva.example" are one domain). Quoted local parts and address literals
// ([192.0.2.1]) are refused: no real account needs them and they complicate every lookup.
import { domainToASCII, domainToUnicode } from 'node:url';

/** RFC 5321 4.5.3.1.1: a local part is at most 64 octets. */
export const MAX_LOCAL_PART_OCTETS = 64;
/** RFC 5321 4.5.3.1.2: a domain is at most 255 octets; RFC 1035 2.3.4 labels at most 63. */
export const MAX_DOMAIN_OCTETS = 255;
export const MAX_LABEL_OCTETS = 63;
/** RFC 5321 4.5.3.1.3: a path is at most 256 octets including the angle brackets. */
export const MAX_ADDRESS_OCTETS = 254;
/** The sub-address delimiter (Postfix recipient_delimiter, Sieve RFC 5233 "subaddress"). */
export const SUBADDRESS_DELIMITER = '+';

export class AddressError extends Error {
  readonly code = 'ADDRESS';
  constructor(
    message: string,
    readonly input: string,
  ) {
    super(message);
    this.name = 'AddressError';
  }
}

export interface ParsedAddress {
  /** Lower-cased local part, UTF-8 allowed (RFC 6531). */
  local: string;
  /** Lower-cased domain in UTF-8. */
  domain: string;
  /** local@domain */
  address: string;
}

// RFC 5322 3.2.3 atext, plus any non-ASCII character (RFC 6531 3.3 extends atext with UTF8-non-ascii).
const ATEXT = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\u{10FFFF}]+$/u;

function octets(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

/** Checks and canonicalises a domain name; throws AddressError with the reason. */
export function normalizeDomain(input: string): string {
  const raw = input.trim().replace(/\.$/, '');
  if (raw === '') throw new AddressError('the domain is empty', input);
  if (raw.startsWith('[')) throw new AddressError(`address literals such as ${raw} are not supported; use a domain name`, input);
  if (/[\s\u0000-\u001f\u007f@]/.test(raw)) throw new AddressError(`"${input}" is not a domain name (it contains a space, a control character or "@")`, input);
  // domainToASCII applies UTS 46 (IDNA) mapping and validation; it returns '' for what is not a host name.
  const ascii = domainToASCII(raw.toLowerCase());
  if (ascii === '') throw new AddressError(`"${input}" is not a valid domain name`, input);
  if (octets(ascii) > MAX_DOMAIN_OCTETS) throw new AddressError(`the domain "${input}" is longer than ${MAX_DOMAIN_OCTETS} octets`, input);
  const labels = ascii.split('.');
  if (labels.length < 2) throw new AddressError(`"${input}" is not a fully qualified domain name (it needs a dot, e.g. example.org)`, input);
  for (const label of labels) {
    if (label === '') throw new AddressError(`the domain "${input}" has an empty label (two dots in a row)`, input);
    if (label.length > MAX_LABEL_OCTETS) throw new AddressError(`the domain "${input}" has a label longer than ${MAX_LABEL_OCTETS} characters`, input);
    // RFC 1123 2.1 / RFC 5890: letters, digits and hyphens, no hyphen at either end. (domainToASCII also
    // accepts "_" and other characters hosts in URLs may carry; mail domains may not.)
    if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(label)) throw new AddressError(`the domain "${input}" has an invalid label "${label}"`, input);
  }
  if (/^[0-9]+$/.test(labels[labels.length - 1] ?? '')) throw new AddressError(`"${input}" looks like an IP address, not a domain name`, input);
  return domainToUnicode(ascii);
}

/** Checks a local part (dot-atom, RFC 5322 3.2.3 / RFC 6531) and lower-cases it. */
export function normalizeLocalPart(input: string, whole: string = input): string {
  if (input === '') throw new AddressError(`"${whole}" has an empty local part (before the @)`, whole);
  if (input.startsWith('"')) throw new AddressError(`quoted local parts such as ${input} are not supported`, whole);
  if (octets(input) > MAX_LOCAL_PART_OCTETS) throw new AddressError(`the local part of "${whole}" is longer than ${MAX_LOCAL_PART_OCTETS} octets`, whole);
  if (input.startsWith('.') || input.endsWith('.') || input.includes('..')) {
    throw new AddressError(`the local part of "${whole}" has a dot at its start or end, or two dots in a row`, whole);
  }
  // U+FFFD is what decoding put where the input had bytes that are not UTF-8 (RFC 6531 wants UTF-8): an
  // address spelled with it would match nobody's real one.
  if (input.includes('\uFFFD')) throw new AddressError(`the local part of "${whole}" has bytes that are not valid UTF-8 (shown as \uFFFD)`, whole);
  for (const atom of input.split('.')) {
    if (!ATEXT.test(atom)) throw new AddressError(`the local part of "${whole}" contains a character not allowed in an address`, whole);
  }
  return input.normalize('NFC').toLowerCase();
}

/** Parses "local@domain" (optionally in angle brackets); throws AddressError saying what is wrong. */
export function parseAddress(input: string): ParsedAddress {
  let s = input.trim();
  if (s.startsWith('<') && s.endsWith('>')) s = s.slice(1, -1);
  const at = s.lastIndexOf('@');
  if (at < 0) throw new AddressError(`"${input}" is not an address (no @)`, input);
  const local = normalizeLocalPart(s.slice(0, at), input);
  const domain = normalizeDomain(s.slice(at + 1));
  const address = `${local}@${domain}`;
  if (octets(address) > MAX_ADDRESS_OCTETS) throw new AddressError(`"${input}" is longer than ${MAX_ADDRESS_OCTETS} octets`, input);
  return { local, domain, address };
}

/** The canonical spelling of an address; throws AddressError. */
export function normalizeAddress(input: string): string {
  return parseAddress(input).address;
}

/** Like parseAddress but returns null instead of throwing (for input from the network). */
export function tryParseAddress(input: string): ParsedAddress | null {
  try {
    return parseAddress(input);
  } catch (err) {
    if (err instanceof AddressError) return null;
    throw err;
  }
}

/** An alias source: a full address, or "@domain" for a catch-all. Returns the canonical spelling. */
export function normalizeAliasSource(input: string): string {
  const s = input.trim();
  if (s.startsWith('@')) return `@${normalizeDomain(s.slice(1))}`;
  return normalizeAddress(s);
}

/** Splits "user+tag" into the base and the detail (RFC 5233 terms); detail is null without a delimiter. */
export function splitSubaddress(local: string): { user: string; detail: string | null } {
  const i = local.indexOf(SUBADDRESS_DELIMITER);
  // A local part that starts with the delimiter ("+foo") has no user part to fall back to.
  if (i <= 0) return { user: local, detail: null };
  return { user: local.slice(0, i), detail: local.slice(i + 1) };
}

/** The domain of a canonical address or catch-all source. */
export function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1);
}
