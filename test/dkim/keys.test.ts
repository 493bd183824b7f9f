// Key import and records without the CLI: what `dkim import` accepts and refuses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { dnsRecord, generateKey, importKey, DkimKeyError } from '../../src/dkim/index.ts';

test('import accepts PKCS#1 and PKCS#8 PEM and a raw base64 Ed25519 key (Rspamd)', () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const pkcs1 = rsa.export({ format: 'pem', type: 'pkcs1' }).toString();
  const pkcs8 = rsa.export({ format: 'pem', type: 'pkcs8' }).toString();
  assert.equal(importKey('example.test', 'a', pkcs1).type, 'rsa');
  assert.equal(dnsRecord(importKey('example.test', 'a', pkcs1)).value, dnsRecord(importKey('example.test', 'a', pkcs8)).value);
  const ed = generateKey('example.test', 'ed', 'ed25519');
  const der = importKey('example.test', 'ed', ed.privateKeyPem);
  const seed = Buffer.from(ed.privateKeyPem.replace(/-----[^-]+-----|\s/g, ''), 'base64').subarray(-32);
  assert.equal(dnsRecord(importKey('example.test', 'ed', seed.toString('base64'))).value, dnsRecord(der).value);
});

test('import refuses garbage, encrypted keys, short RSA keys and bad names', () => {
  assert.throws(() => importKey('example.test', 'a', 'hello world'), DkimKeyError);
  const small = generateKeyPairSync('rsa', { modulusLength: 512 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  assert.throws(() => importKey('example.test', 'a', small), /RFC 8301/);
  const encrypted = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'x' }).toString();
  assert.throws(() => importKey('example.test', 'a', encrypted), /encrypted/);
  assert.throws(() => generateKey('not a domain', 'a'), /not a domain/);
  assert.throws(() => generateKey('example.test', 'bad selector'), /not a valid DKIM selector/);
});

test('records longer than 255 bytes are split into character-strings', () => {
  const rec = dnsRecord(generateKey('example.test', 'big', 'rsa', 4096));
  const strings = [...rec.zoneLine.matchAll(/"([^"]*)"/g)].map((m) => m[1]!);
  assert.ok(strings.length > 1);
  assert.ok(strings.every((s) => s.length <= 255));
  assert.equal(strings.join(''), rec.value);
});
