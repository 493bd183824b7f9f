import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createVault, openVault, changePassphrase, VaultError } from './index.ts';

/** A cheap KDF for tests; production uses DEFAULT_KDF. */
const FAST = { N: 1024, r: 8, p: 1 };

async function withDir(fn: (dir: string) => Promise<void>) {
  const dir = await mkdtemp(join(tmpdir(), 'mailstack-vault-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('the right passphrase yields the same subkeys; subkeys differ per purpose', () =>
  withDir(async (dir) => {
    const created = await createVault(dir, 'correct horse battery', FAST);
    const storeKey = created.deriveKey('store');
    assert.equal(storeKey.length, 32);
    assert.notDeepEqual(storeKey, created.deriveKey('backup'));
    const opened = await openVault(dir, 'correct horse battery');
    assert.deepEqual(opened.deriveKey('store'), storeKey);
  }));

test('a wrong passphrase is a clear error and changes nothing', () =>
  withDir(async (dir) => {
    await createVault(dir, 'correct horse battery', FAST);
    const before = await readFile(join(dir, 'vault.json'));
    await assert.rejects(openVault(dir, 'wrong horse battery'), (err: unknown) => err instanceof VaultError && err.code === 'wrong_passphrase');
    assert.deepEqual(await readFile(join(dir, 'vault.json')), before);
  }));

test('the vault file holds no key material in the clear and is private', () =>
  withDir(async (dir) => {
    const vault = await createVault(dir, 'correct horse battery', FAST);
    const text = await readFile(join(dir, 'vault.json'), 'utf8');
    assert.ok(!text.includes(vault.deriveKey('store').toString('hex')));
    assert.ok(!text.includes('correct horse'));
    assert.equal((await stat(join(dir, 'vault.json'))).mode & 0o777, 0o600);
    assert.match(text, /"N": 1024/);
  }));

test('changing the passphrase re-wraps the same master key', () =>
  withDir(async (dir) => {
    const key = (await createVault(dir, 'first passphrase', FAST)).deriveKey('store');
    await assert.rejects(changePassphrase(dir, 'not the passphrase', 'second passphrase'), VaultError);
    await changePassphrase(dir, 'first passphrase', 'second passphrase');
    await assert.rejects(openVault(dir, 'first passphrase'), VaultError);
    assert.deepEqual((await openVault(dir, 'second passphrase')).deriveKey('store'), key);
  }));

test('creating over an existing vault is refused; short passphrases are refused', () =>
  withDir(async (dir) => {
    await assert.rejects(createVault(dir, 'short', FAST), (err: unknown) => err instanceof VaultError && err.code === 'weak_passphrase');
    await createVault(dir, 'correct horse battery', FAST);
    await assert.rejects(createVault(dir, 'correct horse battery', FAST), (err: unknown) => err instanceof VaultError && err.code === 'exists');
  }));

test('a damaged vault file is reported as damaged, not as a wrong passphrase', () =>
  withDir(async (dir) => {
    await createVault(dir, 'correct horse battery', FAST);
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(dir, 'vault.json'), '{"version": 1, "kdf": ');
    await assert.rejects(openVault(dir, 'correct horse battery'), (err: unknown) => err instanceof VaultError && err.code === 'damaged');
  }));

test('a vault file that is a directory, or whose KDF parameters were altered, is reported as damaged, not as missing', () =>
  withDir(async (dir) => {
    const inDir = join(dir, 'as-directory');
    await mkdir(join(inDir, 'vault.json'), { recursive: true });
    await assert.rejects(openVault(inDir, 'correct horse battery'), (err: unknown) => err instanceof VaultError && err.code === 'damaged' && /is a directory/.test(err.message));

    await createVault(dir, 'correct horse battery', FAST);
    const path = join(dir, 'vault.json');
    const file = JSON.parse(await readFile(path, 'utf8')) as { kdf: { N: number } };
    file.kdf.N = 3;
    await writeFile(path, JSON.stringify(file));
    await assert.rejects(openVault(dir, 'correct horse battery'), (err: unknown) => err instanceof VaultError && err.code === 'damaged' && /key derivation parameters are damaged/.test(err.message));
  }));
