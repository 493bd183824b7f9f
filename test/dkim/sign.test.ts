// DKIM signatures made by src/dkim, checked by verifiers written by others: mailauth and OpenDKIM's
// opendkim-testmsg, both reading the public key from a real DNS server on loopback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomInt } from 'node:crypto';
import { dkimVerify } from 'mailauth';
import { createConfiguredSigner, createSigner, dnsRecord, generateKey, importKey, saveKey, OVERSIGNED_HEADERS } from '../../src/dkim/index.ts';
import { createResolver } from '../../src/dns/index.ts';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.ts';
import { memorySecrets } from './memory-secrets.ts';

const MESSAGE = [
  'From: Alice <alice@example.test>',
  'To: Bob <bob@remote.test>',
  'Subject: Quarterly   report',
  '  (folded)',
  'Date: Tue, 24 Nov 2026 10:00:00 +0000',
  'Message-ID: <q1@example.test>',
  'MIME-Version: 1.0',
  'Content-Type: text/plain; charset=utf-8',
  '',
  'Hello Bob,  ',
  '',
  'the figures are attached.\t',
  '',
  '',
].join('\r\n');

async function setup(types: ('rsa' | 'ed25519')[]) {
  const secrets = memorySecrets();
  const dns = await startDnsServer();
  for (const [i, type] of types.entries()) {
    const key = generateKey('example.test', type === 'rsa' ? 'mail' : `ed${i}`, type);
    await saveKey(secrets, key);
    const record = dnsRecord(key);
    dns.set(record.name, 'TXT', [record.value]);
  }
  const resolver = createResolver({ upstream: [dns.upstream], timeoutMs: 1000 });
  return { secrets, dns, resolver, signer: createSigner({ secrets }) };
}

async function verify(message: Buffer | string, resolver: ReturnType<typeof createResolver>) {
  const result = await dkimVerify(Buffer.from(message), { resolver: resolver.mailauth } as never);
  return result.results.map((r) => ({ result: r.status.result, algo: (r as { algo?: string }).algo }));
}

test('an RSA signature verifies with mailauth and oversigns From, To, Subject, Date', async (t) => {
  const { dns, resolver, signer } = await setup(['rsa']);
  t.after(() => dns.close());
  const signed = await signer.sign(Buffer.from(MESSAGE), 'example.test');
  assert.deepEqual(await verify(signed, resolver), [{ result: 'pass', algo: 'rsa-sha256' }]);
  const h = /\bh=([^;]+);/.exec(signed.toString().replace(/\r\n\t/g, ''))![1]!.split(':');
  for (const name of ['from', 'to', 'subject', 'date', 'message-id', 'cc', 'reply-to', 'mime-version', 'content-type']) {
    const present = MESSAGE.toLowerCase().includes(`\r\n${name}:`) || MESSAGE.toLowerCase().startsWith(`${name}:`) ? 1 : 0;
    assert.equal(h.filter((n) => n === name).length, present + 1, `${name} signed ${present + 1} time(s)`);
  }
  assert.ok(OVERSIGNED_HEADERS.includes('from'));
});

test('an added From or Subject field breaks the signature', async (t) => {
  const { dns, resolver, signer } = await setup(['rsa']);
  t.after(() => dns.close());
  const signed = (await signer.sign(Buffer.from(MESSAGE), 'example.test')).toString();
  const extraFrom = signed.replace('From: Alice', 'From: Mallory <m@evil.test>\r\nFrom: Alice');
  const extraSubject = signed.replace('\r\n\r\n', '\r\nSubject: Urgent wire transfer\r\n\r\n');
  assert.notEqual((await verify(extraFrom, resolver))[0]!.result, 'pass');
  assert.notEqual((await verify(extraSubject, resolver))[0]!.result, 'pass');
});

test('Ed25519 dual-signing: both signatures verify (RFC 8463)', async (t) => {
  const { dns, resolver, signer } = await setup(['rsa', 'ed25519']);
  t.after(() => dns.close());
  const signed = await signer.sign(Buffer.from(MESSAGE), 'example.test');
  const results = await verify(signed, resolver);
  assert.deepEqual(results.map((r) => `${r.algo}:${r.result}`).sort(), ['ed25519-sha256:pass', 'rsa-sha256:pass']);
});

test('a domain without a key is left unsigned; bare LF becomes CRLF', async (t) => {
  const { dns, signer } = await setup(['rsa']);
  t.after(() => dns.close());
  const lf = Buffer.from(MESSAGE.replace(/\r\n/g, '\n'));
  const out = await signer.sign(lf, 'other.test');
  assert.equal(out.toString(), MESSAGE);
});

test('a body changed after signing fails verification', async (t) => {
  const { dns, resolver, signer } = await setup(['rsa']);
  t.after(() => dns.close());
  const signed = (await signer.sign(Buffer.from(MESSAGE), 'example.test')).toString();
  const results = await verify(signed.replace('figures', 'numbers'), resolver);
  assert.notEqual(results[0]!.result, 'pass');
});

test('a key made by opendkim-genkey imports and signs', { skip: !hasTool('opendkim-genkey') }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dkim-genkey-'));
  const dns = await startDnsServer();
  t.after(async () => {
    rmSync(dir, { recursive: true, force: true });
    await dns.close();
  });
  const gen = spawnSync('opendkim-genkey', ['-b', '2048', '-d', 'example.test', '-s', 'legacy', '-D', dir]);
  assert.equal(gen.status, 0, gen.stderr.toString());
  const secrets = memorySecrets();
  const key = importKey('example.test', 'legacy', Buffer.from(spawnSync('cat', [join(dir, 'legacy.private')]).stdout));
  await saveKey(secrets, key);
  const record = dnsRecord(key);
  dns.set(record.name, 'TXT', [record.value]);
  const resolver = createResolver({ upstream: [dns.upstream], timeoutMs: 1000 });
  const signed = await createSigner({ secrets }).sign(Buffer.from(MESSAGE), 'example.test');
  assert.deepEqual(await verify(signed, resolver), [{ result: 'pass', algo: 'rsa-sha256' }]);
});

function hasTool(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;
}

/** opendkim-testmsg reads keys through the system resolver (/etc/resolv.conf, port 53): run it in a
 * private mount namespace whose resolv.conf points at our DNS server on its own loopback address. */
function canRunOpendkim(): boolean {
  return hasTool('opendkim-testmsg') && hasTool('unshare') && process.getuid?.() === 0;
}

async function opendkimVerify(dns: TestDnsServer, message: Buffer): Promise<{ code: number | null; output: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'dkim-opendkim-'));
  try {
    writeFileSync(join(dir, 'resolv.conf'), `nameserver ${dns.host}\noptions timeout:2 attempts:1\n`);
    const child = spawn('unshare', ['-m', 'sh', '-c', `mount --bind "${join(dir, 'resolv.conf')}" /etc/resolv.conf && exec opendkim-testmsg`]);
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.stdin.end(message);
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    return { code, output };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function dnsOnPort53(): Promise<TestDnsServer> {
  // A loopback address of our own so that parallel runs do not collide on port 53.
  return startDnsServer({}, { host: `127.53.${randomInt(1, 255)}.${randomInt(1, 255)}`, port: 53 });
}

test('opendkim-testmsg verifies the RSA signature and rejects a tampered copy', { skip: !canRunOpendkim() }, async (t) => {
  const secrets = memorySecrets();
  const dns = await dnsOnPort53();
  t.after(() => dns.close());
  const key = generateKey('example.test', 'mail', 'rsa');
  await saveKey(secrets, key);
  dns.set(dnsRecord(key).name, 'TXT', [dnsRecord(key).value]);
  const signed = await createSigner({ secrets }).sign(Buffer.from(MESSAGE), 'example.test');
  const good = await opendkimVerify(dns, signed);
  assert.equal(good.code, 0, good.output);
  assert.ok(dns.queryLog.some((q) => q.name === 'mail._domainkey.example.test'), 'opendkim asked our DNS server');
  const bad = await opendkimVerify(dns, Buffer.from(signed.toString().replace('Subject: Quarterly', 'Subject: Yearly')));
  assert.notEqual(bad.code, 0, 'a tampered message must not verify');
  assert.match(bad.output, /bad signature/i);
});

test('opendkim-testmsg verifies an Ed25519 signature', { skip: !canRunOpendkim() }, async (t) => {
  const secrets = memorySecrets();
  const dns = await dnsOnPort53();
  t.after(() => dns.close());
  const key = generateKey('example.test', 'ed', 'ed25519');
  await saveKey(secrets, key);
  dns.set(dnsRecord(key).name, 'TXT', [dnsRecord(key).value]);
  const signed = await createSigner({ secrets }).sign(Buffer.from(MESSAGE), 'example.test');
  assert.match(signed.toString(), /a=ed25519-sha256/);
  const good = await opendkimVerify(dns, signed);
  assert.equal(good.code, 0, good.output);
});

test('[dkim] config: a preferred selector wins over a newer key; enabled = false signs nothing', async (t) => {
  const secrets = memorySecrets();
  const dns = await startDnsServer();
  t.after(() => dns.close());
  const old = { ...generateKey('example.test', 'preferred', 'rsa'), createdAt: 1 };
  const newer = generateKey('example.test', 'newer', 'rsa');
  for (const key of [old, newer]) {
    await saveKey(secrets, key);
    dns.set(dnsRecord(key).name, 'TXT', [dnsRecord(key).value]);
  }
  const resolver = createResolver({ upstream: [dns.upstream], timeoutMs: 1000 });
  const preferred = await createConfiguredSigner({ secrets }, { enabled: true, selector: 'preferred', ed25519: true }).sign(Buffer.from(MESSAGE), 'example.test');
  assert.match(preferred.toString(), /s=preferred;/);
  assert.deepEqual(await verify(preferred, resolver), [{ result: 'pass', algo: 'rsa-sha256' }]);
  const fallback = await createConfiguredSigner({ secrets }, { enabled: true, selector: 'absent', ed25519: true }).sign(Buffer.from(MESSAGE), 'example.test');
  assert.match(fallback.toString(), /s=newer;/, 'without the preferred selector, the newest key signs');
  const off = await createConfiguredSigner({ secrets }, { enabled: false, selector: 'mail', ed25519: true }).sign(Buffer.from(MESSAGE), 'example.test');
  assert.equal(off.toString(), MESSAGE);
});
