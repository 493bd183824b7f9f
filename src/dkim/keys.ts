// DKIM keys: generation, import of existing keys (OpenDKIM/Rspamd PEM files), their place in the vault,
// and the DNS TXT record that publishes the public half (RFC 6376 3.6.1, RFC 8463 for Ed25519).
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import type { SecretStore } from '../store/types.ts';

export type DkimKeyType = 'rsa' | 'ed25519';

/** RFC 8301 3.2: signers MUST use at least 1024 bits and SHOULD use 2048; we refuse below 1024. */
export const MIN_RSA_BITS = 1024;
export const DEFAULT_RSA_BITS = 2048;
/** Larger keys do not fit comfortably in DNS (a 4096-bit p= is ~736 characters) and few verifiers need them. */
export const MAX_RSA_BITS = 4096;
/** A PEM key file is a few kilobytes at most; a bigger input is not a key. */
export const MAX_KEY_FILE_BYTES = 64 * 1024;

const SECRET_PREFIX = 'dkim/';

export interface DkimKey {
  domain: string;
  selector: string;
  type: DkimKeyType;
  /** PKCS#8 PEM. */
  privateKeyPem: string;
  /** ms since epoch. */
  createdAt: number;
}

export class DkimKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DkimKeyError';
  }
}

/** The vault secret name for a key: dkim/<domain>/<selector>. */
export function secretName(domain: string, selector: string): string {
  return `${SECRET_PREFIX}${domain}/${selector}`;
}

const DOMAIN_RE = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** RFC 6376 3.1: a selector is one or more dot-separated sub-domain labels. */
const SELECTOR_RE = /^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?)*$/;

export function normaliseDomain(domain: string): string {
  const d = domain.trim().toLowerCase().replace(/\.$/, '');
  if (!DOMAIN_RE.test(d)) throw new DkimKeyError(`"${domain}" is not a domain name (expected something like example.com)`);
  return d;
}

export function normaliseSelector(selector: string): string {
  const s = selector.trim().toLowerCase();
  if (!SELECTOR_RE.test(s)) throw new DkimKeyError(`"${selector}" is not a valid DKIM selector (letters, digits, "-", "_", dot-separated labels)`);
  return s;
}

function describe(key: KeyObject): { type: DkimKeyType; bits?: number } {
  if (key.asymmetricKeyType === 'ed25519') return { type: 'ed25519' };
  if (key.asymmetricKeyType === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    return { type: 'rsa', bits };
  }
  throw new DkimKeyError(`unsupported key type "${key.asymmetricKeyType ?? 'unknown'}": DKIM signs with RSA or Ed25519 (RFC 6376, RFC 8463)`);
}

export function generateKey(domain: string, selector: string, type: DkimKeyType = 'rsa', rsaBits = DEFAULT_RSA_BITS): DkimKey {
  if (type === 'rsa' && (rsaBits < MIN_RSA_BITS || rsaBits > MAX_RSA_BITS)) {
    throw new DkimKeyError(`RSA key size ${rsaBits} is outside ${MIN_RSA_BITS}..${MAX_RSA_BITS} bits`);
  }
  const { privateKey } =
    type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: rsaBits }) : generateKeyPairSync('ed25519');
  return {
    domain: normaliseDomain(domain),
    selector: normaliseSelector(selector),
    type,
    privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    createdAt: Date.now(),
  };
}

/** PKCS#8 prefix for an Ed25519 private key (RFC 8410 7): the 32-byte seed follows. */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** Reads a private key as OpenDKIM (PKCS#1 PEM), Rspamd (PEM, or base64 raw Ed25519) or OpenSSL
 * (PKCS#8 PEM) write it. */
export function parsePrivateKey(input: Buffer | string): KeyObject {
  const text = input.toString().trim();
  if (text.length > MAX_KEY_FILE_BYTES) throw new DkimKeyError('the key file is too large to be a private key');
  if (text.includes('-----BEGIN')) {
    if (/ENCRYPTED/.test(text)) throw new DkimKeyError('the key is encrypted: decrypt it first (openssl pkey -in key.pem -out plain.pem)');
    try {
      return createPrivateKey({ key: text, format: 'pem' });
    } catch (err) {
      throw new DkimKeyError(`cannot read the PEM private key: ${(err as Error).message}`);
    }
  }
  // Rspamd writes Ed25519 keys as base64 of the 32-byte seed (or seed followed by the public key).
  if (/^[A-Za-z0-9+/=\s]+$/.test(text)) {
    const raw = Buffer.from(text.replace(/\s+/g, ''), 'base64');
    if (raw.length === 32 || raw.length === 64) {
      return createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, raw.subarray(0, 32)]), format: 'der', type: 'pkcs8' });
    }
  }
  throw new DkimKeyError('not a private key: expected a PEM file ("-----BEGIN ... PRIVATE KEY-----") or a base64 Ed25519 key');
}

export function importKey(domain: string, selector: string, input: Buffer | string): DkimKey {
  const key = parsePrivateKey(input);
  const { type, bits } = describe(key);
  if (type === 'rsa' && (bits ?? 0) < MIN_RSA_BITS) {
    throw new DkimKeyError(`the RSA key has ${bits} bits; RFC 8301 requires at least ${MIN_RSA_BITS} (make a new one with \`mailstack dkim keygen\`)`);
  }
  return {
    domain: normaliseDomain(domain),
    selector: normaliseSelector(selector),
    type,
    privateKeyPem: key.export({ format: 'pem', type: 'pkcs8' }).toString(),
    createdAt: Date.now(),
  };
}

/** The p= value: base64 SubjectPublicKeyInfo for RSA (RFC 6376 3.6.1), the raw 32-byte key for
 * Ed25519 (RFC 8463 4). */
export function publicKeyValue(key: DkimKey): string {
  const pub = createPublicKey(key.privateKeyPem);
  const spki = pub.export({ format: 'der', type: 'spki' });
  return (key.type === 'ed25519' ? spki.subarray(spki.length - 32) : spki).toString('base64');
}

export interface DnsRecord {
  /** Owner name, e.g. mail._domainkey.example.com */
  name: string;
  /** The TXT value as one string. */
  value: string;
  /** The same in zone-file syntax, split into character-strings of at most 255 bytes (RFC 1035 3.3.14). */
  zoneLine: string;
}

export function dnsRecord(key: DkimKey): DnsRecord {
  const name = `${key.selector}._domainkey.${key.domain}`;
  const value = `v=DKIM1; k=${key.type}; p=${publicKeyValue(key)}`;
  const chunks: string[] = [];
  for (let i = 0; i < value.length; i += 250) chunks.push(`"${value.slice(i, i + 250)}"`);
  return { name, value, zoneLine: `${name}. IN TXT ( ${chunks.join('\n    ')} )` };
}

interface StoredKey {
  type: DkimKeyType;
  pem: string;
  createdAt: number;
}

export async function saveKey(secrets: SecretStore, key: DkimKey): Promise<void> {
  const stored: StoredKey = { type: key.type, pem: key.privateKeyPem, createdAt: key.createdAt };
  await secrets.put(secretName(key.domain, key.selector), Buffer.from(JSON.stringify(stored)));
}

export async function loadKey(secrets: SecretStore, domain: string, selector: string): Promise<DkimKey | null> {
  const raw = await secrets.get(secretName(domain, selector));
  if (!raw) return null;
  const stored = JSON.parse(raw.toString()) as StoredKey;
  return { domain, selector, type: stored.type, privateKeyPem: stored.pem, createdAt: stored.createdAt };
}

/** Every key, or those of one domain, sorted by domain then newest first. */
export async function listKeys(secrets: SecretStore, domain?: string): Promise<DkimKey[]> {
  const prefix = domain ? `${SECRET_PREFIX}${normaliseDomain(domain)}/` : SECRET_PREFIX;
  const keys: DkimKey[] = [];
  for (const name of await secrets.list(prefix)) {
    const [, d, s] = name.split('/');
    if (!d || !s) continue;
    const key = await loadKey(secrets, d, s);
    if (key) keys.push(key);
  }
  return keys.sort((x, y) => x.domain.localeCompare(y.domain) || y.createdAt - x.createdAt);
}

export async function deleteKey(secrets: SecretStore, domain: string, selector: string): Promise<boolean> {
  return secrets.delete(secretName(normaliseDomain(domain), normaliseSelector(selector)));
}
