// vault: the master key and what protects it.
// Owns: creating the random 256-bit master key, wrapping it with a key derived from the admin's passphrase
// (scrypt, parameters stored beside it), unwrapping it at unlock, re-wrapping on a passphrase change, and
// deriving one subkey per use with HKDF. Never writes the master key or a passphrase anywhere in the clear.
export { createVault, openVault, changePassphrase, vaultExists, checkPassphraseStrength, VaultError, DEFAULT_KDF, type Vault, type KdfParams } from './vault.ts';
export { writeFileDurably } from './durable-file.ts';
