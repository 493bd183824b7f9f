// DKIM signing (RFC 6376; Ed25519 per RFC 8463), relaxed/relaxed, with a header list that oversigns the
// fields a replayer would like to add (RFC 6376 8.15): each is listed once more than it occurs, so an extra
// From/To/Subject... added in transit breaks the signature.
//
// The body hash is mailauth's (its relaxed body canonicalisation, the subtle part); the header selection
// is ours because mailauth's signer only lists fields that are present and so cannot oversign.
import { createHash, createPrivateKey, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';
import type { SecretStore } from '../store/types.ts';
import type { Logger } from '../log/index.ts';
import { listKeys, normaliseDomain, type DkimKey, type DkimKeyType } from './keys.ts';

const require = createRequire(import.meta.url);
const { dkimBody } = require('mailauth/lib/dkim/body') as {
  dkimBody: (canonicalization: string, hashAlgo: string, maxBodyLength: number | false) => { update(chunk: Buffer): void; digest(encoding: 'base64'): string };
};

/** Signed when present (every instance). */
export const SIGNED_HEADERS = [
  'from', 'sender', 'reply-to', 'subject', 'date', 'message-id', 'to', 'cc', 'mime-version', 'content-type',
  'content-transfer-encoding', 'content-id', 'content-description', 'content-language', 'resent-date', 'resent-from',
  'resent-sender', 'resent-to', 'resent-cc', 'resent-message-id', 'in-reply-to', 'references', 'list-id', 'list-help',
  'list-unsubscribe', 'list-unsubscribe-post', 'list-subscribe', 'list-post', 'list-owner', 'list-archive', 'autocrypt',
] as const;

/** Signed one extra time, present or not: nobody can add one of these without breaking the signature. */
export const OVERSIGNED_HEADERS = [
  'from', 'to', 'cc', 'subject', 'date', 'reply-to', 'message-id', 'mime-version', 'content-type',
  'content-transfer-encoding', 'in-reply-to', 'references', 'sender',
] as const;

/** How long a domain's keys stay cached in memory before the vault is asked again (after `dkim keygen`
 * the new key is used within this time). */
const KEY_CACHE_MS = 60_000;
/** A header block larger than this is not mail we sign (Postfix's header_size_limit is 100 KB too). */
export const MAX_HEADER_BYTES = 100 * 1024;

export interface SignerOptions {
  /** Preferred selector when a domain has several keys of one type; otherwise the newest key is used. */
  selector?: string;
  /** Also sign with the domain's Ed25519 key when it has one besides an RSA key (default true). */
  ed25519?: boolean;
  /** Signature expiry (x=) in seconds after signing; 0 = none. */
  expireSeconds?: number;
  log?: Logger;
  /** Clock (ms since epoch) for t= and x=. */
  now?: () => number;
}

export interface Signer {
  /** The message with DKIM-Signature fields prepended, for the From domain's keys; the message unchanged
   * (line endings made CRLF) when the domain has no key. */
  sign(raw: Buffer, fromDomain: string): Promise<Buffer>;
}

interface HeaderField {
  /** Lower-case field name. */
  name: string;
  /** The whole field as it appears, folding included, without the final CRLF. */
  text: string;
}

/** Makes every line end CRLF (RFC 5322 2.1): SMTP transmits CRLF, so that is what gets signed. */
function toCrlf(raw: Buffer): Buffer {
  const s = raw.toString('binary');
  return /\r\n/.test(s) && !/(^|[^\r])\n/.test(s) ? raw : Buffer.from(s.replace(/\r?\n/g, '\r\n'), 'binary');
}

function splitMessage(raw: Buffer): { header: string; body: Buffer } {
  const end = raw.indexOf('\r\n\r\n');
  if (end === -1) return { header: raw.toString('binary'), body: Buffer.alloc(0) };
  return { header: raw.subarray(0, end + 2).toString('binary'), body: raw.subarray(end + 4) };
}

function parseHeader(header: string): HeaderField[] {
  const fields: HeaderField[] = [];
  for (const line of header.split('\r\n')) {
    if (line === '') continue;
    if ((line.startsWith(' ') || line.startsWith('\t')) && fields.length > 0) {
      fields[fields.length - 1]!.text += '\r\n' + line;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue; // not a header field (a stray line): it is not signed
    fields.push({ name: line.slice(0, colon).trim().toLowerCase(), text: line });
  }
  return fields;
}

/** RFC 6376 3.4.2 "relaxed" header canonicalisation, without the trailing CRLF. */
function relaxedHeader(text: string): string {
  const colon = text.indexOf(':');
  const name = text.slice(0, colon).trim().toLowerCase();
  const value = text
    .slice(colon + 1)
    .replace(/\r\n/g, '')
    .replace(/[ \t]+/g, ' ')
    .trim();
  return `${name}:${value}`;
}

/** RFC 6376 5.4.2: h= lists a name once per instance, used bottom-up; an extra (oversigned) entry refers
 * to a field that does not exist and contributes the empty string. */
function selectHeaders(fields: HeaderField[]): { names: string[]; canonical: string } {
  const names: string[] = [];
  let canonical = '';
  const oversigned = new Set<string>(OVERSIGNED_HEADERS);
  for (const name of SIGNED_HEADERS) {
    const instances = fields.filter((f) => f.name === name).reverse();
    for (const field of instances) {
      names.push(name);
      canonical += relaxedHeader(field.text) + '\r\n';
    }
    if (oversigned.has(name)) names.push(name);
  }
  return { names, canonical };
}

/** Folds "a:b:c" so that no line of the DKIM-Signature field grows past ~78 characters (RFC 5322 2.1.1). */
function foldList(names: string[], firstLineUsed: number): string {
  let out = '';
  let used = firstLineUsed;
  names.forEach((name, i) => {
    const piece = (i > 0 ? ':' : '') + name;
    if (used + piece.length > 76) {
      out += (i > 0 ? ':' : '') + '\r\n\t' + name;
      used = 1 + name.length;
    } else {
      out += piece;
      used += piece.length;
    }
  });
  return out;
}

function foldBase64(value: string): string {
  const lines: string[] = [];
  for (let i = 0; i < value.length; i += 72) lines.push(value.slice(i, i + 72));
  return lines.join('\r\n\t');
}

interface LoadedKey {
  key: DkimKey;
  privateKey: KeyObject;
}

function signOne(loaded: LoadedKey, names: string[], canonical: string, bodyHash: string, now: number, expireSeconds: number): string {
  const { key, privateKey } = loaded;
  const algorithm = key.type === 'rsa' ? 'rsa-sha256' : 'ed25519-sha256';
  const t = Math.floor(now / 1000);
  const head =
    `DKIM-Signature: v=1; a=${algorithm}; c=relaxed/relaxed; d=${key.domain};\r\n\ts=${key.selector}; t=${t};` +
    (expireSeconds > 0 ? ` x=${t + expireSeconds};` : '') +
    `\r\n\th=${foldList(names, 3)};\r\n\tbh=${bodyHash};\r\n\tb=`;
  // RFC 6376 3.7: the signature covers the selected fields, then this field with an empty b= and no CRLF.
  const data = Buffer.from(canonical + relaxedHeader(head), 'binary');
  const signature =
    key.type === 'rsa'
      ? cryptoSign('sha256', data, privateKey)
      : // RFC 8463 3: PureEdDSA over the SHA-256 hash of the same data.
        cryptoSign(null, createHash('sha256').update(data).digest(), privateKey);
  return head + foldBase64(signature.toString('base64')) + '\r\n';
}

/** The keys to sign with: one RSA and, when enabled, one Ed25519; the preferred selector first, else the newest. */
function pickKeys(keys: DkimKey[], options: SignerOptions): DkimKey[] {
  const pick = (type: DkimKeyType) => {
    const ofType = keys.filter((k) => k.type === type);
    return ofType.find((k) => k.selector === options.selector) ?? ofType.sort((x, y) => y.createdAt - x.createdAt)[0];
  };
  const rsa = pick('rsa');
  const ed = options.ed25519 === false && rsa ? undefined : pick('ed25519');
  return [rsa, ed].filter((k): k is DkimKey => k !== undefined);
}

export function createSigner(store: { secrets: SecretStore }, options: SignerOptions = {}): Signer {
  const now = options.now ?? Date.now;
  const cache = new Map<string, { keys: LoadedKey[]; loadedAt: number }>();

  async function keysFor(domain: string): Promise<LoadedKey[]> {
    const cached = cache.get(domain);
    if (cached && now() - cached.loadedAt < KEY_CACHE_MS) return cached.keys;
    const keys = pickKeys(await listKeys(store.secrets, domain), options).map((key) => ({ key, privateKey: createPrivateKey(key.privateKeyPem) }));
    cache.set(domain, { keys, loadedAt: now() });
    return keys;
  }

  return {
    async sign(raw, fromDomain) {
      const message = toCrlf(raw);
      let domain: string;
      try {
        domain = normaliseDomain(fromDomain);
      } catch {
        options.log?.debug({ fromDomain }, 'dkim: not a domain, not signed');
        return message;
      }
      const keys = await keysFor(domain);
      if (keys.length === 0) {
        options.log?.debug({ domain }, 'dkim: no key for the domain, not signed');
        return message;
      }
      const { header, body } = splitMessage(message);
      if (header.length > MAX_HEADER_BYTES) {
        options.log?.warn({ domain, headerBytes: header.length }, 'dkim: header too large, not signed');
        return message;
      }
      const hasher = dkimBody('relaxed', 'sha256', false);
      hasher.update(body);
      const bodyHash = hasher.digest('base64');
      const { names, canonical } = selectHeaders(parseHeader(header));
      const at = now();
      const signatures = keys.map((k) => signOne(k, names, canonical, bodyHash, at, options.expireSeconds ?? 0));
      options.log?.debug({ domain, selectors: keys.map((k) => `${k.key.selector}/${k.key.type}`) }, 'dkim: signed');
      return Buffer.concat([Buffer.from(signatures.join(''), 'binary'), message]);
    },
  };
}

/** The [dkim] config section's keys that the signer uses. */
export interface DkimConfig {
  enabled: boolean;
  selector: string;
  ed25519: boolean;
}

/** The signer as configured by [dkim]: `enabled = false` gives one that returns messages unchanged. */
export function createConfiguredSigner(store: { secrets: SecretStore }, config: DkimConfig, log?: Logger): Signer {
  if (!config.enabled) return { sign: async (raw) => toCrlf(raw) };
  return createSigner(store, { selector: config.selector, ed25519: config.ed25519, ...(log ? { log } : {}) });
}
