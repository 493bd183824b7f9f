// dkim: DKIM keys and signing of outbound mail.
// Owns: key generation and import (OpenDKIM/Rspamd PEM), keys kept in the vault (store.secrets, name
// dkim/<domain>/<selector>), the DNS TXT record to publish, and the signer the submission listener calls.
// Never: verifies inbound mail (that is authcheck's job, with mailauth) or touches a socket.
//
// Implementation notes:
// - The signer returns the message with CRLF line endings: what it signed is exactly what SMTP sends.
// - One RSA signature and, when the domain also has an Ed25519 key, a second Ed25519 one (RFC 8463 dual
//   signing): verifiers that do not know Ed25519 ignore it.
export { createSigner, createConfiguredSigner, SIGNED_HEADERS, OVERSIGNED_HEADERS } from './sign.ts';
export type { Signer, SignerOptions, DkimConfig } from './sign.ts';
export {
  generateKey,
  importKey,
  parsePrivateKey,
  dnsRecord,
  publicKeyValue,
  saveKey,
  loadKey,
  listKeys,
  deleteKey,
  secretName,
  normaliseDomain,
  normaliseSelector,
  DkimKeyError,
  DEFAULT_RSA_BITS,
} from './keys.ts';
export type { DkimKey, DkimKeyType, DnsRecord } from './keys.ts';

/** What the submission listener takes as `deps.sign`. */
export type SignFunction = (raw: Buffer, fromDomain: string) => Promise<Buffer>;
