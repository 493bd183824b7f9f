// What `serve` refuses to do, and how it says so: each test starts the real CLI on a fresh instance.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, chown, mkdir, writeFile, readFile, stat, unlink } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { BIN, runCli, startServe, makeInstance } from '../helpers/cli.ts';
import { connectAdmin } from '../../src/admin/index.ts';
import { lockDataDir } from '../../src/store/index.ts';

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

/** A second config beside the instance's: the same data directory, its own admin socket. */
async function secondConfigOnSameDataDir(config: string): Promise<string> {
  const other = join(config, '..', 'other.toml');
  const text = await readFile(config, 'utf8');
  await writeFile(other, text.replace('[server]', '[server]\nadmin_socket = "other.sock"'));
  return other;
}

test('a second serve on the same data directory is refused with 75 while the first runs; direct-mode commands too', async () => {
  const inst = await makeInstance();
  const other = await secondConfigOnSameDataDir(inst.config);
  const server = await startServe(['--config', inst.config, '--passphrase-file', inst.passphraseFile]);
  try {
    const refusal = await serveRefusal(['--config', other, '--passphrase-file', inst.passphraseFile]);
    assert.match(refusal, /exited with 75/);
    assert.match(refusal, /data directory .* is in use by another mailstack process/);

    const direct = await runCli(['domain', 'list', '--config', other, '--passphrase-file', inst.passphraseFile]);
    assert.equal(direct.code, 75, direct.stderr);
    assert.match(direct.stderr, /a mailstack server holds the data directory .* but nothing answers on the admin socket .*other\.sock/);

    const throughSocket = await runCli(['domain', 'list', '--config', inst.config]);
    assert.equal(throughSocket.code, 0, throughSocket.stderr);
  } finally {
    assert.equal(await server.stop(), 0);
  }
  const afterwards = await runCli(['domain', 'list', '--config', other, '--passphrase-file', inst.passphraseFile]);
  assert.equal(afterwards.code, 0, `the lock goes with the server: ${afterwards.stderr}`);
  await inst.cleanup();
});

test('a serve killed with SIGKILL leaves no lock behind: the next serve starts', async () => {
  const inst = await makeInstance();
  try {
    const first = await startServe(['--config', inst.config]);
    first.child.kill('SIGKILL');
    await first.stop();
    const second = await startServe(['--config', inst.config]);
    assert.equal(await second.stop(), 0);
  } finally {
    await inst.cleanup();
  }
});

test('admin commands give up on a server that does not answer: exit 75 and say so', async () => {
  const inst = await makeInstance();
  const server = await startServe(['--config', inst.config]);
  server.child.kill('SIGSTOP');
  try {
    const env = { MAILSTACK_ADMIN_TIMEOUT_MS: '1000' };
    for (const args of [['status'], ['unlock', '--passphrase-file', inst.passphraseFile], ['domain', 'list']]) {
      const r = await runCli([...args, '--config', inst.config], { env });
      assert.equal(r.code, 75, `${args[0]}: ${r.stderr}`);
      assert.match(r.stderr, /did not answer .* within 1 s: it may be stopped/);
    }
  } finally {
    server.child.kill('SIGCONT');
    assert.equal(await server.stop(), 0);
    await inst.cleanup();
  }
});

test('a right unlock sent while a wrong one is being checked unlocks; the wrong one is refused', async () => {
  const inst = await makeInstance();
  const server = await startServe(['--config', inst.config]);
  const client = await connectAdmin(join(inst.dir, 'inst', 'data', 'admin.sock'), join(inst.dir, 'inst', 'data'));
  try {
    assert.ok(client, 'the server answers on its admin socket');
    const passphrase = (await readFile(inst.passphraseFile, 'utf8')).trim();
    // Both go out at once on one connection: the second arrives while the first is in the vault's KDF.
    const [wrong, right] = await Promise.allSettled([client.call('unlock', { passphrase: 'not the passphrase at all' }), client.call('unlock', { passphrase })]);
    assert.equal(wrong.status, 'rejected');
    assert.match(String((wrong as PromiseRejectedResult).reason), /wrong passphrase/);
    assert.equal(right.status, 'fulfilled', `the right passphrase was refused: ${String((right as PromiseRejectedResult).reason)}`);
    assert.equal(((await client.call('status')) as { locked: boolean }).locked, false);
  } finally {
    client?.close();
    assert.equal(await server.stop(), 0);
    await inst.cleanup();
  }
});

test('serve refuses a data_dir without a vault (exit 78, with the init hint) and does not create it', async () => {
  const inst = await makeInstance();
  try {
    const text = await readFile(inst.config, 'utf8');
    await writeFile(inst.config, text.replace('data_dir = "data"', 'data_dir = "dta"'));
    const refusal = await serveRefusal(['--config', inst.config]);
    assert.match(refusal, /exited with 78/);
    assert.match(refusal, /no vault in .*dta .*mailstack init/);
    await assert.rejects(stat(join(inst.dir, 'inst', 'dta')), { code: 'ENOENT' });
  } finally {
    await inst.cleanup();
  }
});

test('a socket at the admin path owned by another user is refused before anything is sent to it', { skip: process.getuid?.() !== 0 ? 'needs root, to give the socket to another uid' : false }, async () => {
  const inst = await makeInstance();
  const squatter = createServer();
  let received = '';
  squatter.on('connection', (c) => c.on('data', (d: Buffer) => (received += d.toString())));
  try {
    // A shared, world-writable directory, as a careless admin_socket setting would use; another local user
    // (uid 4242) got there first.
    const shared = join(inst.dir, 'shared');
    await mkdir(shared, { mode: 0o1777 });
    await chmod(shared, 0o1777);
    const path = join(shared, 'admin.sock');
    await new Promise<void>((resolve) => squatter.listen(path, resolve));
    await chown(path, 4242, 4242);
    await setInConfig(inst.config, 'server', `admin_socket = "${path}"`);
    for (const args of [['unlock'], ['status'], ['domain', 'list']]) {
      const r = await runCli([...args, '--config', inst.config, '--passphrase-file', inst.passphraseFile]);
      assert.equal(r.code, 77, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /refusing to use the admin socket .*belongs to uid 4242/);
    }
    assert.equal(received, '', 'nothing, the passphrase least of all, reached the squatter');
  } finally {
    await new Promise<void>((resolve) => squatter.close(() => resolve()));
    await inst.cleanup();
  }
});

test('something on the admin socket that does not speak the admin protocol is reported, not a crash', async () => {
  const inst = await makeInstance();
  // Not JSON, then JSON that is not a reply.
  const answers = ['HTTP/1.1 400 Bad Request\r\n\r\n', 'null\n', '{"id":1,"error":null}\n'];
  let answer = '';
  const impostor = createServer((c) => c.on('data', () => c.write(answer)));
  try {
    const path = join(inst.dir, 'inst', 'data', 'admin.sock');
    await new Promise<void>((resolve) => impostor.listen(path, resolve));
    for (answer of answers) {
      const r = await runCli(['status', '--config', inst.config]);
      assert.equal(r.code, 69, `${JSON.stringify(answer)}: ${r.stderr}`);
      assert.match(r.stderr, /answered something that is not mailstack's admin protocol/);
      assert.doesNotMatch(r.stderr, /internal error|Error:|    at /);
    }
  } finally {
    await new Promise<void>((resolve) => impostor.close(() => resolve()));
    await inst.cleanup();
  }
});

test('an admin command still waiting for its passphrase does not keep serve from starting', async () => {
  const inst = await makeInstance();
  const fifo = join(inst.dir, 'passphrase.fifo');
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
  // Reads a passphrase that never comes: as a prompt left open on a terminal.
  const waiting = spawn(process.execPath, [BIN, 'domain', 'list', '--config', inst.config, '--passphrase-file', fifo], { stdio: 'ignore', env: { ...process.env, MAILSTACK_CONFIG: '' } });
  try {
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const server = await startServe(['--config', inst.config, '--passphrase-file', inst.passphraseFile]);
    assert.equal(await server.stop(), 0);
  } finally {
    waiting.kill('SIGKILL');
    await inst.cleanup();
  }
});

test('a running server whose admin socket was deleted: status says so (exit 4) and unlock too, instead of "not running"', async () => {
  const inst = await makeInstance();
  const server = await startServe(['--config', inst.config]);
  try {
    await unlink(join(inst.dir, 'inst', 'data', 'admin.sock'));
    const status = await runCli(['status', '--config', inst.config]);
    assert.equal(status.code, 4, status.stdout + status.stderr);
    assert.match(status.stdout, /a mailstack server holds the data directory .* but nothing answers on the admin socket .*admin\.sock: .*socket file was deleted \(restart the server/);
    const json = await runCli(['status', '--json', '--config', inst.config]);
    assert.deepEqual(JSON.parse(json.stdout), { running: true, reachable: false });
    const unlock = await runCli(['unlock', '--config', inst.config, '--passphrase-file', inst.passphraseFile]);
    assert.equal(unlock.code, 69);
    assert.match(unlock.stderr, /a mailstack server holds the data directory/);
    assert.doesNotMatch(unlock.stderr, /start it with/);
  } finally {
    assert.equal(await server.stop(), 0);
  }
  const after = await runCli(['status', '--config', inst.config]);
  assert.equal(after.code, 3, 'and "not running" once it stopped');
  await inst.cleanup();
});

test('a direct-mode command waits for a server that holds the data directory without answering (starting or stopping), and runs once it lets go', async () => {
  const inst = await makeInstance();
  try {
    const dataDir = join(inst.dir, 'inst', 'data');
    // As a server that is stopping: its admin socket is gone, its lock goes only when it exits.
    const held = lockDataDir(dataDir, 'exclusive');
    const child = spawn(process.execPath, [BIN, 'domain', 'list', '--config', inst.config, '--passphrase-file', inst.passphraseFile], { env: { ...process.env, MAILSTACK_CONFIG: '' } });
    let stderr = '';
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    const waiting = new Promise<void>((resolve) => {
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        if (stderr.includes('waiting up to')) resolve();
      });
    });
    try {
      // Let go only once the command says it waits: so it met the lock held, whatever its start-up takes.
      await Promise.race([waiting, exited]);
    } finally {
      held.release();
    }
    const code = await exited;
    assert.match(stderr, /a mailstack server holds the data directory .* and does not answer on .*admin\.sock yet: waiting up to 3 s for it to start or stop/);
    assert.equal(code, 0, stderr);
  } finally {
    await inst.cleanup();
  }
});

test('serve waits a moment for a data directory lock held briefly (a status probing it) instead of failing', async () => {
  const inst = await makeInstance();
  try {
    const dataDir = join(inst.dir, 'inst', 'data');
    // The lock file exists once a server ran; then hold a shared lock as `status` does when it probes.
    const first = await startServe(['--config', inst.config]);
    assert.equal(await first.stop(), 0);
    // Held longer than serve takes to reach its lock (~1 s here), shorter than it waits (3 s).
    const probe = lockDataDir(dataDir, 'shared');
    let releasedAt = 0;
    setTimeout(() => {
      probe.release();
      releasedAt = Date.now();
    }, 1500);
    const server = await startServe(['--config', inst.config, '--passphrase-file', inst.passphraseFile]);
    assert.ok(releasedAt > 0, 'serve was up only after the lock was let go');
    assert.equal(await server.stop(), 0);
  } finally {
    await inst.cleanup();
  }
});
