// The account commands through a running server's admin socket, and the password prompt on a real
// pseudo-terminal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { runCli, startServe, makeInstance, BIN } from '../helpers/cli.ts';

type Inst = Awaited<ReturnType<typeof makeInstance>>;
const cli = (inst: Inst, args: string[], input?: string) => runCli(['--config', inst.config, '--passphrase-file', inst.passphraseFile, ...args], input === undefined ? {} : { input });

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
