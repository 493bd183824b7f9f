// Password hashing and verification.
//
// New passwords are stored as bcrypt (cost 12) computed by the native `bcrypt` module on libuv's thread
// pool, never on the event loop. Hashes imported from a Dovecot passwd-file are kept exactly as they were
// written (`{BLF-CRYPT}$2y$05$...`, `{SHA512-CRYPT}$6$...`, `{SHA256-CRYPT}$5$...`, `{CRYPT}` holding one of
// those) and verified as Dovecot would, so users keep their passwords across the move. After a successful
// login with such a hash, `authenticate` re-hashes the password as bcrypt cost 12 (see needsRehash).
import bcrypt from 'bcrypt';
import { parseShaCrypt, ShaCryptError } from './sha-crypt.ts';
import { verifyShaCryptOffThread } from './sha-crypt-pool.ts';

/** bcrypt cost for new hashes: ~200-250 ms on this class of machine, OWASP's floor is 10. */
export const BCRYPT_COST = 12;
/** bcrypt reads at most 72 bytes of the password; longer input is accepted and cut as Dovecot's
 * crypt_blowfish does, so imported hashes of long passwords still verify. Beyond this we refuse outright:
 * nobody types a 1 KiB password and hashing megabytes from the network is a denial of service. */
export const MAX_PASSWORD_BYTES = 1024;

/**
 * A bcrypt hash (cost 12) of a random password nobody knows, verified when the login names no account so
 * that an unknown user costs the same time as a wrong password (no account enumeration by timing).
 */
export const DUMMY_PASSWORD_HASH = '$2b$12$8xXkqvJx./5WZc7qqwf3juQjXwgMhVAtgnjsGdNNab9xOibTf3/gC';

export type PasswordScheme = 'bcrypt' | 'sha512-crypt' | 'sha256-crypt';

export class PasswordSchemeError extends Error {
  readonly code = 'PASSWORD_SCHEME';
  constructor(message: string) {
    super(message);
    this.name = 'PasswordSchemeError';
  }
}

/** Hashes a new password as bcrypt cost 12, off the event loop. */
export async function hashPassword(password: string): Promise<string> {
  if (Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES) throw new PasswordSchemeError(`a password is at most ${MAX_PASSWORD_BYTES} bytes`);
  return bcrypt.hash(password, BCRYPT_COST);
}

const BCRYPT_RE = /^\$2[aby]\$([0-9]{2})\$[./A-Za-z0-9]{53}$/;

interface ParsedHash {
  scheme: PasswordScheme;
  /** The crypt(3)-style string without any {SCHEME} prefix. */
  crypt: string;
}

/**
 * Parses a stored hash: a bare crypt string ($2a$/$2b$/$2y$, $5$, $6$) or a Dovecot `{SCHEME}value`.
 * Throws PasswordSchemeError naming the scheme and what to do when it is one mailstack does not accept.
 */
export function parseStoredHash(stored: string): ParsedHash {
  let scheme: string | null = null;
  let value = stored;
  const m = /^\{([A-Za-z0-9.-]+)\}(.*)$/s.exec(stored);
  if (m) {
    scheme = (m[1] ?? '').toUpperCase();
    value = m[2] ?? '';
  }
  // Dovecot passwd-file schemes. {CRYPT} is the system crypt(3): accepted when the value is one of the
  // strong formats crypt(3) recognises by prefix.
  switch (scheme) {
    case null:
    case 'CRYPT':
    case 'BLF-CRYPT':
    case 'SHA512-CRYPT':
    case 'SHA256-CRYPT':
      break;
    case 'PLAIN':
    case 'CLEAR':
    case 'CLEARTEXT':
    case 'PLAIN-TRUNC':
      throw new PasswordSchemeError(`{${scheme}} stores the password in clear; set a new one with "mailstack user passwd" (it is stored as bcrypt)`);
    default:
      throw new PasswordSchemeError(`the password scheme {${scheme}} is not supported (supported: BLF-CRYPT, SHA512-CRYPT, SHA256-CRYPT, and CRYPT holding one of those); set a new password with "mailstack user passwd"`);
  }
  const wanted = scheme === 'BLF-CRYPT' ? 'bcrypt' : scheme === 'SHA512-CRYPT' ? 'sha512-crypt' : scheme === 'SHA256-CRYPT' ? 'sha256-crypt' : null;
  let found: PasswordScheme;
  if (value.startsWith('$2')) {
    if (!BCRYPT_RE.test(value)) throw new PasswordSchemeError('malformed bcrypt hash');
    found = 'bcrypt';
  } else if (value.startsWith('$6$') || value.startsWith('$5$')) {
    try {
      parseShaCrypt(value);
    } catch (err) {
      if (err instanceof ShaCryptError) throw new PasswordSchemeError(`malformed SHA-crypt hash: ${err.message}`);
      throw err;
    }
    found = value.startsWith('$6$') ? 'sha512-crypt' : 'sha256-crypt';
  } else if (scheme === 'CRYPT' && /^\$1\$/.test(value)) {
    throw new PasswordSchemeError('{CRYPT} with an MD5-crypt ($1$) hash is too weak to accept; set a new password with "mailstack user passwd"');
  } else if (scheme === 'CRYPT') {
    throw new PasswordSchemeError('{CRYPT} with a DES or unknown crypt hash is not supported; set a new password with "mailstack user passwd"');
  } else {
    throw new PasswordSchemeError('not a password hash mailstack knows (expected bcrypt, {BLF-CRYPT}, {SHA512-CRYPT} or {SHA256-CRYPT})');
  }
  if (wanted !== null && wanted !== found) throw new PasswordSchemeError(`the scheme says {${scheme}} but the hash is ${found}`);
  return { scheme: found, crypt: value };
}

/** True when a stored hash is one mailstack can verify. */
export function isSupportedHash(stored: string): boolean {
  try {
    parseStoredHash(stored);
    return true;
  } catch (err) {
    if (err instanceof PasswordSchemeError) return false;
    throw err;
  }
}

/**
 * Verifies a password against a stored hash. Returns false for a wrong password and for a stored hash it
 * cannot use (a malformed or unsupported one: that account cannot log in until its password is reset).
 */
export async function verifyPassword(stored: string, password: string): Promise<boolean> {
  if (Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES) return false;
  let parsed: ParsedHash;
  try {
    parsed = parseStoredHash(stored);
  } catch (err) {
    if (err instanceof PasswordSchemeError) return false;
    throw err;
  }
  switch (parsed.scheme) {
    case 'bcrypt':
      // Native bcrypt returns false for $2y$ (LIBRARIES.md): $2y$ (crypt_blowfish, Dovecot) and $2b$
      // (OpenBSD) are the same fixed algorithm.
      return bcrypt.compare(password, parsed.crypt.replace(/^\$2y\$/, '$2b$'));
    case 'sha512-crypt':
    case 'sha256-crypt':
      // 10-40 ms of hashing: on a background thread, never on the event loop.
      return verifyShaCryptOffThread(parsed.crypt, password);
  }
}

/** True when a stored hash should be replaced by a fresh bcrypt cost-12 hash after a successful login. */
export function needsRehash(stored: string): boolean {
  const m = BCRYPT_RE.exec(stored);
  return !m || Number(m[1]) < BCRYPT_COST;
}
