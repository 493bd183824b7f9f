import { randomBytes, scrypt as scryptCallback, hkdfSync, createCipheriv, createDecipheriv, type ScryptOptions } from 'node:crypto';
import { readFile, access } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileDurably } from './durable-file.ts';

/** The file beside the data that holds the wrapped master key and the KDF parameters. */
export const VAULT_FILE = 'vault.json';

export interface KdfParams {
  name: 'scrypt';
  /** CPU/memory cost (a power of two), block size and parallelism, as in RFC 7914. */
  N: number;
  r: number;
  p: number;
  salt: string;
}

interface VaultFile {
  version: 1;
  kdf: KdfParams;
  /** AES-256-GCM of the master key under the passphrase key; the tag makes a wrong passphrase detectable. */
  wrappedKey: { nonce: string; ciphertext: string; tag: string };
  createdAt: string;
}

/** 2^17 x 8 x 128 bytes = 128 MiB and about half a second here: the OWASP-recommended scrypt floor
 * (N=2^17, r=8, p=1). An attacker with the data directory pays that for every guess. */
export const DEFAULT_KDF = { N: 2 ** 17, r: 8, p: 1 } as const;

export class VaultError extends Error {
  constructor(
    readonly code: 'wrong_passphrase' | 'missing' | 'exists' | 'damaged' | 'weak_passphrase' | 'unreadable',
    message: string,
  ) {
    super(message);
    this.name = 'VaultError';
  }
}

export interface Vault {
  /** HKDF-SHA256 subkey for one purpose ("store", "backup", ...): the master key itself is never used directly. */
  deriveKey(purpose: string): Buffer;
  /** Overwrites the in-memory master key. */
  close(): void;
}

function scrypt(passphrase: string, salt: Buffer, params: Pick<KdfParams, 'N' | 'r' | 'p'>): Promise<Buffer> {
  const options: ScryptOptions = { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r + 16 * 1024 * 1024 };
  return new Promise((resolve, reject) =>
    scryptCallback(passphrase.normalize('NFC'), salt, 32, options, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

function makeVault(masterKey: Buffer): Vault {
  return {
    deriveKey(purpose: string): Buffer {
      return Buffer.from(hkdfSync('sha256', masterKey, Buffer.from('mailstack vault v1'), Buffer.from(purpose), 32));
    },
    close(): void {
      masterKey.fill(0);
    },
  };
}

async function wrap(masterKey: Buffer, passphrase: string, cost: Pick<KdfParams, 'N' | 'r' | 'p'>): Promise<VaultFile> {
  const salt = randomBytes(16);
  const kek = await scrypt(passphrase, salt, cost);
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', kek, nonce);
  cipher.setAAD(Buffer.from('mailstack master key v1'));
  const ciphertext = Buffer.concat([cipher.update(masterKey), cipher.final()]);
  kek.fill(0);
  return {
    version: 1,
    kdf: { name: 'scrypt', N: cost.N, r: cost.r, p: cost.p, salt: salt.toString('base64') },
    wrappedKey: { nonce: nonce.toString('base64'), ciphertext: ciphertext.toString('base64'), tag: cipher.getAuthTag().toString('base64') },
    createdAt: new Date().toISOString(),
  };
}

async function readVaultFile(dataDir: string): Promise<VaultFile> {
  let text: string;
  const path = join(dataDir, VAULT_FILE);
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ENOENT') throw new VaultError('missing', `no vault in ${dataDir}: create one with \`mailstack init --dir DIR\``);
    // There is something there: "no vault" would send the operator to `init`, which is the wrong fix.
    if (code === 'EACCES' || code === 'EPERM') {
      throw new VaultError('unreadable', `${path} cannot be read by this user (permission denied): run mailstack as the user that owns ${dataDir}`);
    }
    if (code === 'EISDIR') throw new VaultError('damaged', `${path} is a directory, not a vault file: restore the file from a backup`);
    throw new VaultError('unreadable', `${path} cannot be read: ${(error as Error).message}`);
  }
  try {
    const parsed = JSON.parse(text) as VaultFile;
    if (parsed.version !== 1 || parsed.kdf?.name !== 'scrypt' || !parsed.wrappedKey?.ciphertext) throw new Error('shape');
    return parsed;
  } catch {
    throw new VaultError('damaged', `${join(dataDir, VAULT_FILE)} is damaged (not a mailstack vault file): restore it from a backup`);
  }
}

async function unwrap(file: VaultFile, passphrase: string): Promise<Buffer> {
  let kek: Buffer;
  try {
    kek = await scrypt(passphrase, Buffer.from(file.kdf.salt, 'base64'), file.kdf);
  } catch (error) {
    // Parameters scrypt refuses (N not a power of two, a cost beyond the memory bound) were never written by
    // init: the file was altered.
    throw new VaultError('damaged', `the vault's key derivation parameters are damaged (${(error as Error).message}): restore ${VAULT_FILE} from a backup`);
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', kek, Buffer.from(file.wrappedKey.nonce, 'base64'));
    decipher.setAAD(Buffer.from('mailstack master key v1'));
    decipher.setAuthTag(Buffer.from(file.wrappedKey.tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(file.wrappedKey.ciphertext, 'base64')), decipher.final()]);
  } catch {
    throw new VaultError('wrong_passphrase', 'wrong passphrase: the vault stays locked and nothing was changed');
  } finally {
    kek.fill(0);
  }
}

export async function vaultExists(dataDir: string): Promise<boolean> {
  return access(join(dataDir, VAULT_FILE)).then(
    () => true,
    () => false,
  );
}

export function checkPassphraseStrength(passphrase: string): void {
  if ([...passphrase].length < 8) {
    throw new VaultError('weak_passphrase', 'the passphrase must have at least 8 characters (a few random words are best)');
  }
}

/** Creates a new vault in dataDir (which must exist); fails if one is already there. */
export async function createVault(dataDir: string, passphrase: string, cost: Pick<KdfParams, 'N' | 'r' | 'p'> = DEFAULT_KDF): Promise<Vault> {
  checkPassphraseStrength(passphrase);
  if (await vaultExists(dataDir)) throw new VaultError('exists', `${dataDir} already holds a vault: refusing to overwrite it`);
  const masterKey = randomBytes(32);
  await writeFileDurably(join(dataDir, VAULT_FILE), JSON.stringify(await wrap(masterKey, passphrase, cost), null, 2) + '\n');
  return makeVault(masterKey);
}

export async function openVault(dataDir: string, passphrase: string): Promise<Vault> {
  return makeVault(await unwrap(await readVaultFile(dataDir), passphrase));
}

/** Re-wraps the master key under a new passphrase; the data is not re-encrypted. */
export async function changePassphrase(dataDir: string, oldPassphrase: string, newPassphrase: string): Promise<void> {
  checkPassphraseStrength(newPassphrase);
  const file = await readVaultFile(dataDir);
  const masterKey = await unwrap(file, oldPassphrase);
  try {
    const rewrapped = await wrap(masterKey, newPassphrase, file.kdf);
    rewrapped.createdAt = file.createdAt;
    await writeFileDurably(join(dataDir, VAULT_FILE), JSON.stringify(rewrapped, null, 2) + '\n');
  } finally {
    masterKey.fill(0);
  }
}
