// `mailstack dkim ...` through the real CLI; the keys it makes sign mail that mailauth verifies against
// the record it printed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { dkimVerify } from 'mailauth';
import { runCli, makeInstance } from '../helpers/cli.ts';
import { startDnsServer } from '../helpers/dns-server.ts';
import { loadConfig, storeDir } from '../../src/config/index.ts';
import { openVault } from '../../src/vault/index.ts';
import { openStore } from '../../src/store/index.ts';
import { createSigner } from '../../src/dkim/index.ts';
import { createResolver } from '../../src/dns/index.ts';

const MESSAGE = 'From: a@example.test\r\nTo: b@remote.test\r\nSubject: hi\r\nDate: Tue, 24 Nov 2026 10:00:00 +0000\r\n\r\nhello\r\n';

test('dkim keygen, list, show, import and delete; the key signs verifiable mail', async (t) => {
  const inst = await makeInstance();
  t.after(() => inst.cleanup());
  const cli = (...args: string[]) => runCli([...args, '--config', inst.config, '--passphrase-file', inst.passphraseFile]);

  const gen = await cli('dkim', 'keygen', '--domain', 'Example.Test');
  assert.equal(gen.code, 0, gen.stderr);
  assert.match(gen.stdout, /created rsa-2048 key "mail" for example\.test/);
  assert.match(gen.stdout, /mail\._domainkey\.example\.test\. IN TXT \( "v=DKIM1; k=rsa; p=/);
  assert.match(gen.stderr, /not one of mailstack's domains yet/);
  const value = /value: (v=DKIM1; k=rsa; p=\S+)/.exec(gen.stdout)![1]!;

  const again = await cli('dkim', 'keygen', '--domain', 'example.test');
  assert.equal(again.code, 73, 'an existing selector is not overwritten');
  assert.match(again.stderr, /already exists.*--selector.*--force/);

  const ed = await cli('dkim', 'keygen', '--domain', 'example.test', '--selector', 'ed', '--type', 'ed25519');
  assert.equal(ed.code, 0, ed.stderr);
  const edValue = /value: (v=DKIM1; k=ed25519; p=\S+)/.exec(ed.stdout)![1]!;
  assert.equal(Buffer.from(/p=(\S+)/.exec(edValue)![1]!, 'base64').length, 32, 'RFC 8463: the raw 32-byte public key');


  const genkey = spawnSync('opendkim-genkey', ['-b', '2048', '-d', 'other.test', '-s', 'legacy', '-D', inst.dir]);
  if (genkey.status === 0) {
    const imported = await cli('dkim', 'import', join(inst.dir, 'legacy.private'), '--domain', 'other.test', '--selector', 'legacy');
    assert.equal(imported.code, 0, imported.stderr);
    assert.match(imported.stdout, /imported rsa key "legacy" for other\.test/);
  }

  const list = await cli('dkim', 'list', '--json');
  assert.equal(list.code, 0, list.stderr);
  const rows = JSON.parse(list.stdout) as { domain: string; selector: string; type: string }[];
  assert.deepEqual(
    rows.map((r) => `${r.domain}/${r.selector}/${r.type}`).sort(),
    ['example.test/ed/ed25519', 'example.test/mail/rsa', ...(genkey.status === 0 ? ['other.test/legacy/rsa'] : [])].sort(),
  );

  const show = await cli('dkim', 'show', '--domain', 'example.test', '--selector', 'mail');
  assert.equal(show.code, 0, show.stderr);
  assert.ok(show.stdout.includes(value), 'show prints the same record as keygen');

  // The keys in the vault sign mail that verifies against the printed records.
  const { config } = loadConfig(inst.config);
  const vault = await openVault(config.server.data_dir, 'correct horse battery staple');
  const store = await openStore({ dir: storeDir(config), key: vault.deriveKey('store') });
  vault.close();
  const dns = await startDnsServer({ 'mail._domainkey.example.test': { TXT: [value] }, 'ed._domainkey.example.test': { TXT: [edValue] } });
  try {
    const signed = await createSigner(store).sign(Buffer.from(MESSAGE), 'example.test');
    const result = await dkimVerify(signed, { resolver: createResolver({ upstream: [dns.upstream], timeoutMs: 1000 }).mailauth } as never);
    assert.deepEqual(result.results.map((r) => r.status.result), ['pass', 'pass']);
  } finally {
    await store.close();
    await dns.close();
  }

  const del = await cli('dkim', 'delete', '--domain', 'example.test', '--selector', 'ed');
  assert.equal(del.code, 0, del.stderr);
});
