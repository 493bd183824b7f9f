// Differential test against the real Dovecot: random passwords hashed by `doveadm pw` verify in
// mailstack, and SHA-crypt strings computed by mailstack (random salts, rounds) verify in `doveadm pw -t`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { verifyPassword } from '../../src/accounts/index.ts';
import { shaCrypt } from '../../src/accounts/sha-crypt.ts';

const haveDoveadm = spawnSync('doveadm', ['help'], { stdio: 'ignore' }).error === undefined;
const skip = haveDoveadm ? false : 'doveadm (dovecot-core) is not installed';
const CASES = 8;
const SALT_CHARS = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

function randomPassword(): string {
  // Printable ASCII and some UTF-8, 0-100 bytes: past bcrypt's 72 and SHA-crypt's block sizes.
  const pool = [...'abcXYZ019 !#%&*+-./:;<=>?@[]^_{|}~äöü€😀'];
  return Array.from({ length: randomInt(0, 60) }, () => pool[randomInt(pool.length)]).join('');
}

function doveadm(args: string[]): { status: number | null; stdout: string } {
  const r = spawnSync('doveadm', ['pw', ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout.trim() };
}

test('hashes made by doveadm pw verify in mailstack, and only with their password', { skip }, async () => {
  for (let i = 0; i < CASES; i++) {
    const password = randomPassword();
    for (const scheme of ['SHA512-CRYPT', 'SHA256-CRYPT', 'BLF-CRYPT']) {
      const extra = scheme === 'BLF-CRYPT' ? ['-r', '4'] : i % 2 ? ['-r', String(randomInt(1000, 12000))] : [];
      const r = doveadm(['-s', scheme, ...extra, '-p', password]);
      assert.equal(r.status, 0);
      assert.equal(await verifyPassword(r.stdout, password), true, `${r.stdout} / ${JSON.stringify(password)}`);
      assert.equal(await verifyPassword(r.stdout, password + 'x'), scheme === 'BLF-CRYPT' && Buffer.byteLength(password) >= 72);
    }
  }
});

test('SHA-crypt strings computed by mailstack verify in doveadm pw -t', { skip }, () => {
  for (let i = 0; i < CASES; i++) {
    const password = randomPassword();
    const salt = Array.from({ length: randomInt(1, 17) }, () => SALT_CHARS[randomInt(SALT_CHARS.length)]).join('');
    const rounds = i % 2 ? randomInt(1000, 12000) : 5000;
    for (const [variant, scheme] of [['6', 'SHA512-CRYPT'], ['5', 'SHA256-CRYPT']] as const) {
      const hash = `{${scheme}}${shaCrypt(variant, password, salt, rounds)}`;
      assert.equal(doveadm(['-t', hash, '-p', password]).status, 0, `${hash} / ${JSON.stringify(password)}`);
      assert.notEqual(doveadm(['-t', hash, '-p', password + randomBytes(1).toString('hex')]).status, 0);
    }
  }
});
