import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, stat, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli, startServe, makeInstance } from '../helpers/cli.ts';

test('init writes a valid config and an encrypted data directory; config check accepts it', async () => {
  const inst = await makeInstance();
  try {
    const check = await runCli(['config', 'check', '--config', inst.config]);
    assert.equal(check.code, 0, check.stderr);
    assert.match(check.stdout, /: ok/);
    const dataDir = join(inst.dir, 'inst', 'data');
    assert.equal((await stat(dataDir)).mode & 0o777, 0o700);
    assert.ok((await readFile(join(dataDir, 'vault.json'), 'utf8')).includes('"scrypt"'));
    const again = await runCli(['init', '--dir', join(inst.dir, 'inst'), '--passphrase-file', inst.passphraseFile, '--kdf-n', '1024']);
    assert.equal(again.code, 73);
    assert.match(again.stderr, /already exists/);
  } finally {
    await inst.cleanup();
  }
});

test('config check names the key and line of a mistake', async () => {
  const inst = await makeInstance();
  try {
    const text = await readFile(inst.config, 'utf8');
    await writeFile(inst.config, text.replace('[imap]', '[imap]\nlisten_tsl = ["0.0.0.0:993"]'));
    const r = await runCli(['config', 'check', '--config', inst.config]);
    assert.equal(r.code, 78);
    assert.match(r.stderr, /mailstack\.toml:\d+: unknown key "imap\.listen_tsl"/);
    assert.doesNotMatch(r.stderr, /at .*\.ts:\d+/, 'no stack trace');
  } finally {
    await inst.cleanup();
  }
});

test('serve starts locked; a wrong passphrase changes nothing; unlock opens it; status tells', async () => {
  const inst = await makeInstance();
  const server = await startServe(['--config', inst.config]);
  try {
    const locked = await runCli(['status', '--config', inst.config]);
    assert.equal(locked.code, 0, locked.stderr);
    assert.match(locked.stdout, /LOCKED/);
    assert.match(locked.stdout, /disk: [\d.]+ [KMGT]iB free in the data directory \(mail is refused below 75\.0 MiB\)/);
    const sock = join(inst.dir, 'inst', 'data', 'admin.sock');
    assert.equal((await stat(sock)).mode & 0o777, 0o600, 'admin socket is owner-only');

    const wrongFile = join(inst.dir, 'wrong');
    await writeFile(wrongFile, 'not the passphrase at all\n');
    const wrong = await runCli(['unlock', '--config', inst.config, '--passphrase-file', wrongFile]);
    assert.equal(wrong.code, 77);
    assert.match(wrong.stderr, /wrong passphrase/);
    assert.match((await runCli(['status', '--config', inst.config])).stdout, /LOCKED/);

    const ok = await runCli(['unlock', '--config', inst.config, '--passphrase-file', inst.passphraseFile]);
    assert.equal(ok.code, 0, ok.stderr);
    const json = JSON.parse((await runCli(['status', '--json', '--config', inst.config])).stdout) as { running: boolean; locked: boolean; disk: { freeBytes: number; requiredBytes: number } };
    assert.equal(json.running, true);
    assert.equal(json.locked, false);
    assert.ok(json.disk.freeBytes > 0);
    assert.equal(json.disk.requiredBytes, 75 * 1024 * 1024, '1.5 x the default max_message_bytes');
    assert.doesNotMatch(server.stderr(), /correct horse/, 'the passphrase never reaches a log line');
  } finally {
    assert.equal(await server.stop(), 0);
  }
  const after = await runCli(['status', '--config', inst.config]);
  assert.equal(after.code, 3);
  assert.match(after.stdout, /not running/);
  await inst.cleanup();
});

test('unlock without a running server says how to start one', async () => {
  const inst = await makeInstance();
  try {
    const r = await runCli(['unlock', '--config', inst.config, '--passphrase-file', inst.passphraseFile]);
    assert.equal(r.code, 69);
    assert.match(r.stderr, /no server is running.*mailstack serve/);
  } finally {
    await inst.cleanup();
  }
});

test('passphrase change re-wraps the key: the old one stops working, the new one opens the store', async () => {
  const inst = await makeInstance();
  try {
    const newFile = join(inst.dir, 'new');
    await writeFile(newFile, 'a brand new passphrase\n');
    const r = await runCli(['passphrase', 'change', '--config', inst.config, '--passphrase-file', inst.passphraseFile, '--new-passphrase-file', newFile]);
    assert.equal(r.code, 0, r.stderr);
    const server = await startServe(['--config', inst.config]);
    try {
      assert.equal((await runCli(['unlock', '--config', inst.config, '--passphrase-file', inst.passphraseFile])).code, 77);
      assert.equal((await runCli(['unlock', '--config', inst.config, '--passphrase-file', newFile])).code, 0);
    } finally {
      await server.stop();
    }
  } finally {
    await inst.cleanup();
  }
});
