// The account commands, run as a user would: the real `mailstack` CLI on an instance made by
// `mailstack init`, on the stopped data directory and through a running server's admin socket.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { runCli, startServe, makeInstance, BIN } from '../helpers/cli.ts';

type Inst = Awaited<ReturnType<typeof makeInstance>>;
const cli = (inst: Inst, args: string[], input?: string) => runCli(['--config', inst.config, '--passphrase-file', inst.passphraseFile, ...args], input === undefined ? {} : { input });

test('domain, user and alias commands on a stopped data directory', async () => {
  const inst = await makeInstance();
  try {
    let r = await cli(inst, ['user', 'add', 'anna@example.org', '--password-stdin'], 'correct horse\n');
    assert.equal(r.code, 67, 'unknown domain is refused');
    assert.match(r.stderr, /example\.org is not one of our domains: add it first with `mailstack domain add example\.org`/);

    r = await cli(inst, ['domain', 'add', 'Example.ORG']);
    assert.equal(r.code, 0, r.stderr);
    r = await cli(inst, ['domain', 'add', 'example.org']);
    assert.equal(r.code, 65);
    assert.match(r.stderr, /already exists/);

    r = await cli(inst, ['user', 'add', 'Anna@example.org', '--password-stdin', '--quota', '500M'], 'correct horse\n');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /added user anna@example\.org \(quota 500M\)/);
    r = await cli(inst, ['user', 'add', 'bob@example.org', '--password-stdin'], 'short\n');
    assert.equal(r.code, 65);
    assert.match(r.stderr, /too short/);
    r = await cli(inst, ['user', 'add', 'bob@example.org']);
    assert.equal(r.code, 64, 'no terminal and no --password-stdin');
    assert.match(r.stderr, /--password-stdin/);
    r = await cli(inst, ['user', 'add', 'bob@example.org', '--password-stdin'], 'bobs password\n');
    assert.equal(r.code, 0, r.stderr);

    r = await cli(inst, ['alias', 'add', 'postmaster@example.org', 'anna@example.org']);
    assert.equal(r.code, 0, r.stderr);
    r = await cli(inst, ['alias', 'add', 'team@example.org', 'anna@example.org,bob@example.org', 'friend@elsewhere.test']);
    assert.equal(r.code, 0, r.stderr);
    r = await cli(inst, ['alias', 'add', '@example.org', 'ghost@example.org']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /warning: ghost@example\.org does not reach anyone/);

    r = await cli(inst, ['alias', 'list', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      (JSON.parse(r.stdout) as { source: string; destination: string }[]).map((a) => `${a.source} ${a.destination}`).sort(),
      ['@example.org ghost@example.org', 'postmaster@example.org anna@example.org', 'team@example.org anna@example.org', 'team@example.org bob@example.org', 'team@example.org friend@elsewhere.test'],
    );
    r = await cli(inst, ['alias', 'del', '@example.org']);
    assert.equal(r.code, 0, r.stderr);
    r = await cli(inst, ['alias', 'del', 'team@example.org', 'friend@elsewhere.test']);
    assert.equal(r.code, 0, r.stderr);

    r = await cli(inst, ['user', 'set', 'bob@example.org', '--no-enforce-sender', '--quota', '1G']);
    assert.equal(r.code, 0, r.stderr);
    r = await cli(inst, ['user', 'passwd', 'bob@example.org', '--password-stdin'], 'a new password\n');
    assert.equal(r.code, 0, r.stderr);
    r = await cli(inst, ['user', 'list', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const users = JSON.parse(r.stdout) as { address: string; quotaBytes: number; enforceSender: boolean; messages: number }[];
    assert.deepEqual(
      users.map((u) => [u.address, u.quotaBytes, u.enforceSender, u.messages]),
      [
        ['anna@example.org', 500 * 1024 * 1024, true, 0],
        ['bob@example.org', 1024 ** 3, false, 0],
      ],
    );

    r = await cli(inst, ['domain', 'del', 'example.org']);
    assert.equal(r.code, 65, 'a domain with users is kept');
    assert.match(r.stderr, /2 user\(s\).*--force/);
    r = await cli(inst, ['user', 'del', 'bob@example.org']);
    assert.equal(r.code, 64, 'deleting mail needs --yes');
    assert.match(r.stderr, /--yes/);
    r = await cli(inst, ['user', 'del', 'bob@example.org', '--yes']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /warning: alias team@example\.org still points to bob@example\.org/);
    r = await cli(inst, ['user', 'list']);
    assert.equal(r.stdout.trim().split('\n').length, 1);
    assert.match(r.stdout, /^anna@example\.org /);
    r = await cli(inst, ['alias', 'list']);
    assert.match(r.stdout, /^postmaster@example\.org\s+anna@example\.org$/m);
    assert.match(r.stdout, /^team@example\.org\s+anna@example\.org/m);
    assert.doesNotMatch(r.stdout, /friend@elsewhere|@example\.org\s+ghost/, 'deleted alias entries are gone, the others stay');
    r = await cli(inst, ['domain', 'del', 'example.org', '--force']);
    assert.equal(r.code, 0, r.stderr);
    r = await cli(inst, ['domain', 'list']);
    assert.match(r.stdout, /no domains/);
  } finally {
    await inst.cleanup();
  }
});

test('the same commands work through a running, unlocked server', async () => {
  const inst = await makeInstance();
  const server = await startServe(['--config', inst.config]);
  try {
    let r = await cli(inst, ['domain', 'add', 'example.net']);
    assert.equal(r.code, 75, 'locked server: temporary failure');
    assert.match(r.stderr, /unlock/);
    r = await runCli(['unlock', '--config', inst.config, '--passphrase-file', inst.passphraseFile]);
    assert.equal(r.code, 0, r.stderr);
    r = await cli(inst, ['domain', 'add', 'example.net']);
    assert.equal(r.code, 0, r.stderr);
    r = await cli(inst, ['user', 'add', 'carol@example.net', '--password-stdin'], 'carols password\n');
    assert.equal(r.code, 0, r.stderr);
    r = await cli(inst, ['alias', 'add', 'info@example.net', 'carol@example.net']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '', 'the alias resolves through the admin socket');
    r = await cli(inst, ['user', 'list']);
    assert.match(r.stdout, /^carol@example\.net\s+0 msgs/);
    assert.doesNotMatch(server.stderr(), /carols password/);
  } finally {
    await server.stop();
    await inst.cleanup();
  }
});

const haveScript = spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0;

test('user add asks for the password on a terminal, twice, without echoing it', { skip: haveScript ? false : 'script(1) from util-linux is not installed' }, async () => {
  const inst = await makeInstance();
  try {
    assert.equal((await cli(inst, ['domain', 'add', 'example.org'])).code, 0);
    // script(1) gives the CLI a real pseudo-terminal; answer each prompt when it appears.
    const command = [process.execPath, BIN, '--config', inst.config, '--passphrase-file', inst.passphraseFile, 'user', 'add', 'tty@example.org'].map((a) => `'${a}'`).join(' ');
    const child = spawn('script', ['-qec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    let answered = 0;
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
      const prompts = (output.match(/New password: |Repeat the password: /g) ?? []).length;
      while (answered < prompts) {
        answered++;
        child.stdin.write('typed on a tty\r');
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 0, output);
    assert.equal(answered, 2, 'asked twice');
    assert.match(output, /added user tty@example\.org/);
    assert.doesNotMatch(output, /typed on a tty/, 'the password is not echoed');
    const r = await cli(inst, ['user', 'list', '--json']);
    assert.deepEqual((JSON.parse(r.stdout) as { address: string }[]).map((u) => u.address), ['tty@example.org']);
  } finally {
    await inst.cleanup();
  }
});
