// Password schemes against hashes made by the real Dovecot (`doveadm pw`, test/fixtures/dovecot/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { hashPassword, verifyPassword, parseStoredHash, isSupportedHash, needsRehash, BCRYPT_COST, DUMMY_PASSWORD_HASH } from '../../src/accounts/index.ts';
import { shaCrypt, parseShaCrypt } from '../../src/accounts/sha-crypt.ts';

const fixtures = readFileSync(fileURLToPath(new URL('../fixtures/dovecot/passwords.tsv', import.meta.url)), 'utf8')
  .split('\n')
  .filter((l) => l.includes('\t'))
  .map((l) => {
    const [password, stored] = l.split('\t') as [string, string];
    return { password, stored };
  });

test('fixtures cover every scheme doveadm produced', () => {
  const schemes = new Set(fixtures.map((f) => /^\{([^}]+)\}/.exec(f.stored)?.[1]));
  assert.deepEqual([...schemes].sort(), ['BLF-CRYPT', 'CRYPT', 'SHA256-CRYPT', 'SHA512-CRYPT']);
  assert.ok(fixtures.some((f) => f.stored.includes('rounds=')), 'a SHA-crypt hash with rounds=');
  assert.ok(fixtures.some((f) => f.stored.includes('$2y$')), 'a $2y$ bcrypt hash');
});

for (const { password, stored } of fixtures) {
  test(`doveadm ${stored.slice(0, 40)}... verifies its password and refuses others`, async () => {
    assert.equal(await verifyPassword(stored, password), true);
    assert.equal(await verifyPassword(stored, 'x' + password), false);
    assert.equal(await verifyPassword(stored, password.slice(1)), password === '' ? true : false);
    if (!/^\{(BLF-)?CRYPT\}\$2/.test(stored) || Buffer.byteLength(password) < 72) {
      assert.equal(await verifyPassword(stored, password + 'x'), false);
    }
  });
}

test('SHA-crypt reproduces doveadm output exactly, rounds= included', () => {
  for (const { password, stored } of fixtures) {
    const crypt = stored.replace(/^\{[^}]+\}/, '');
    if (!/^\$[56]\$/.test(crypt)) continue;
    const p = parseShaCrypt(crypt);
    assert.equal(shaCrypt(p.variant, password, p.salt, p.rounds, p.customRounds), crypt);
  }
});

test('bcrypt reads 72 bytes of a password, as Dovecot\'s crypt_blowfish does', async () => {
  const long = fixtures.find((f) => f.stored.startsWith('{BLF-CRYPT}') && Buffer.byteLength(f.password) > 72);
  assert.ok(long);
  assert.equal(await verifyPassword(long.stored, long.password + 'ignored'), true);
});

test('bcrypt: new hashes are $2b$ cost 12 and verify; $2y$ is read as $2b$', async () => {
  const h = await hashPassword('s3cret pässword');
  assert.match(h, new RegExp(`^\\$2b\\$${BCRYPT_COST}\\$`));
  assert.equal(await verifyPassword(h, 's3cret pässword'), true);
  assert.equal(await verifyPassword(h, 's3cret password'), false);
  assert.equal(await verifyPassword(h.replace('$2b$', '$2y$'), 's3cret pässword'), true);
  assert.equal(await verifyPassword(`{BLF-CRYPT}${h.replace('$2b$', '$2y$')}`, 's3cret pässword'), true);
  assert.equal(needsRehash(h), false);
});

test('the dummy hash for unknown users is a well-formed bcrypt hash of the same cost', async () => {
  assert.match(DUMMY_PASSWORD_HASH, new RegExp(`^\\$2b\\$${BCRYPT_COST}\\$`));
  assert.equal(parseStoredHash(DUMMY_PASSWORD_HASH).scheme, 'bcrypt');
  assert.equal(await verifyPassword(DUMMY_PASSWORD_HASH, ''), false);
});

test('imported weaker hashes are marked for re-hashing', () => {
  for (const { stored } of fixtures) assert.equal(needsRehash(stored), true, stored);
});

test('clear-text, weak and unknown schemes are refused with a reason, and never verify', async () => {
  for (const stored of ['{PLAIN}correct horse', '{CLEAR}x', '{MD5-CRYPT}$1$5ogV3VOC$Zrk5YyC1Odf6GUDD2bFxM/', '{CRYPT}$1$5ogV3VOC$Zrk5YyC1Odf6GUDD2bFxM/', '{CRYPT}abJnggxhB/yWI', '{SSHA512}DZ8Q3tqSkBCndenF', 'plain text', '']) {
    assert.equal(isSupportedHash(stored), false, stored);
    assert.throws(() => parseStoredHash(stored), { name: 'PasswordSchemeError' });
    assert.equal(await verifyPassword(stored, 'correct horse'), false);
  }
  assert.throws(() => parseStoredHash('{PLAIN}x'), /in clear/);
  assert.throws(() => parseStoredHash('{SHA512-CRYPT}$2y$05$g9nKEXZq.vNOMEdObq5CeuBeps4BqP9nFdklHgaTm9qW2rVUgMlwu'), /scheme says/);
});

test('malformed hashes are refused, not crashed on', async () => {
  for (const stored of ['$6$salt$short', '$5$rounds=abc$salt$' + 'a'.repeat(43), '$2y$05$tooshort', '$6$rounds=999999999$s$' + 'a'.repeat(86), '{BLF-CRYPT}']) {
    assert.equal(await verifyPassword(stored, 'x'), false, stored);
  }
});

test('a password longer than the limit is refused, not hashed', async () => {
  await assert.rejects(hashPassword('x'.repeat(2000)), { name: 'PasswordSchemeError' });
  assert.equal(await verifyPassword(DUMMY_PASSWORD_HASH, 'x'.repeat(2000)), false);
});
