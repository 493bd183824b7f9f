// What `serve` refuses to do, and how it says so: each test starts the real CLI on a fresh instance.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli, startServe, makeInstance } from '../helpers/cli.ts';

/** Runs `serve` expecting it to refuse; returns "exited with CODE ... stderr". Fails if it starts. */
async function serveRefusal(args: string[]): Promise<string> {
  let server;
  try {
    server = await startServe(args);
  } catch (err) {
    return (err as Error).message;
  }
  await server.stop();
  assert.fail(`serve started when it should have refused:\n${server.stderr()}`);
}

async function setInConfig(config: string, table: string, line: string): Promise<void> {
  const text = await readFile(config, 'utf8');
  await writeFile(config, text.replace(`[${table}]`, `[${table}]\n${line}`));
}

test('serve refuses an admin_socket path that is an existing file, and leaves the file alone', async () => {
  const inst = await makeInstance();
  try {
    const precious = join(inst.dir, 'inst', 'data', 'precious.txt');
    await writeFile(precious, 'keep me\n');
    await setInConfig(inst.config, 'server', 'admin_socket = "data/precious.txt"');
    const refusal = await serveRefusal(['--config', inst.config]);
    assert.match(refusal, /exited with 78/);
    assert.match(refusal, /admin_socket.*is not a socket/);
    assert.equal(await readFile(precious, 'utf8'), 'keep me\n');
  } finally {
    await inst.cleanup();
  }
});

test('config check refuses an admin_socket on the vault file, naming the key and line', async () => {
  const inst = await makeInstance();
  try {
    await setInConfig(inst.config, 'server', 'admin_socket = "data/vault.json"');
    const r = await runCli(['config', 'check', '--config', inst.config]);
    assert.equal(r.code, 78);
    assert.match(r.stderr, /mailstack\.toml:\d+: "server\.admin_socket": .*vault\.json is inside the data directory/);
    const refusal = await serveRefusal(['--config', inst.config]);
    assert.match(refusal, /exited with 78/);
    assert.ok((await readFile(join(inst.dir, 'inst', 'data', 'vault.json'), 'utf8')).includes('"scrypt"'), 'the vault is still there');
  } finally {
    await inst.cleanup();
  }
});

test('serve --passphrase-file with a wrong passphrase exits 77 and leaves no admin socket', async () => {
  const inst = await makeInstance();
  try {
    const wrongFile = join(inst.dir, 'wrong');
    await writeFile(wrongFile, 'not the passphrase at all\n');
    const refusal = await serveRefusal(['--config', inst.config, '--passphrase-file', wrongFile]);
    assert.match(refusal, /exited with 77/);
    assert.match(refusal, /wrong passphrase/);
    await assert.rejects(stat(join(inst.dir, 'inst', 'data', 'admin.sock')), { code: 'ENOENT' });
  } finally {
    await inst.cleanup();
  }
});

test('serve --passphrase-file with the right passphrase starts unlocked and stops cleanly on SIGTERM', async () => {
  const inst = await makeInstance();
  const server = await startServe(['--config', inst.config, '--passphrase-file', inst.passphraseFile]);
  try {
    assert.match(server.stderr(), /"event":"started".*"locked":false/);
    const status = JSON.parse((await runCli(['status', '--json', '--config', inst.config])).stdout) as { locked: boolean };
    assert.equal(status.locked, false);
  } finally {
    assert.equal(await server.stop(), 0);
  }
  await assert.rejects(stat(join(inst.dir, 'inst', 'data', 'admin.sock')), { code: 'ENOENT' });
  await inst.cleanup();
});
