// Bounded fuzzing of the account parsers: random and mutated input never throws anything but the
// parser's own error class, and never hangs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { AddressError, parseAddress, normalizeAliasSource } from './address.ts';
import { decodeMutf7, encodeMutf7, Mutf7Error } from './mutf7.ts';
import { parsePasswdFile, parseVirtual, parseVmailbox } from './postfix-files.ts';
import { flagsFromFileName, parseKeywords, parseSubscriptions, parseUidList } from './maildir.ts';
import { parseStoredHash, PasswordSchemeError } from './password.ts';

const ROUNDS = 3000;
const ALPHABET = 'ab@.+-_&,:;#{}$2y5601 \t\n\r"<>[]\u00fc\u0000\u00ff\u{1F600}AZxn--\\/=*';

function randomText(max: number): string {
  const n = randomBytes(1)[0]! % max;
  const chars = [...ALPHABET];
  let s = '';
  for (const b of randomBytes(n)) s += chars[b % chars.length];
  return s;
}

function onlyThrows(fn: () => unknown, ...allowed: (new (...a: never[]) => Error)[]): void {
  try {
    fn();
  } catch (err) {
    assert.ok(allowed.some((c) => err instanceof c), `unexpected ${(err as Error)?.stack ?? String(err)}`);
  }
}

test('address parsing throws only AddressError', () => {
  for (let i = 0; i < ROUNDS; i++) {
    const s = randomText(80);
    onlyThrows(() => parseAddress(s), AddressError);
    onlyThrows(() => normalizeAliasSource(s), AddressError);
  }
});

test('modified UTF-7 decoding throws only Mutf7Error, and encoding always round-trips', () => {
  for (let i = 0; i < ROUNDS; i++) {
    const s = randomText(40);
    onlyThrows(() => decodeMutf7(s), Mutf7Error);
    assert.equal(decodeMutf7(encodeMutf7(s)), s);
  }
});

test('map, passwd-file, uidlist, keyword and subscription parsers never throw', () => {
  for (let i = 0; i < ROUNDS; i++) {
    const s = randomText(200);
    parseVmailbox(s);
    parseVirtual(s);
    parsePasswdFile(s);
    parseUidList(s);
    parseUidList(`3 V1 N1\n${s}`);
    parseKeywords(s);
    parseSubscriptions(`V\t2\n\n${s}`);
    flagsFromFileName(s, ['a', 'b']);
    onlyThrows(() => parseStoredHash(s), PasswordSchemeError);
  }
});
