// Usage errors and help, as a self-hoster meets them: sysexits' EX_USAGE (64), and every command's help lists
// the options that every command takes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.ts';

const EX_USAGE = 64;

test('an unknown command or option, a missing argument and one too many exit 64 (EX_USAGE) with the reason', async () => {
  const cases: [string[], RegExp][] = [
    [['bogus'], /unknown command 'bogus'/],
    [['status', '--bogus'], /unknown option '--bogus'/],
    [['init'], /required option '--dir <dir>' not specified/],
    [['user', 'add'], /missing required argument/],
    [['user', 'add', 'a@example.org', 'secret'], /too many arguments/],
  ];
  for (const [args, reason] of cases) {
    const result = await runCli(args);
    assert.equal(result.code, EX_USAGE, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, reason, args.join(' '));
  }
});

test('help exits 0, and each command\'s help lists --config and --passphrase-file', async () => {
  for (const args of [['--help'], ['serve', '--help'], ['unlock', '--help'], ['config', 'check', '--help']]) {
    const result = await runCli(args);
    assert.equal(result.code, 0, args.join(' '));
    assert.match(result.stdout, /--config <file>/, args.join(' '));
    assert.match(result.stdout, /--passphrase-file <file>/, args.join(' '));
  }
});

test('a failed init leaves nothing behind, and a host name that is not one is refused before anything is made', async () => {
  const work = await mkdtemp(join(tmpdir(), 'mailstack-init-'));
  try {
    const weak = join(work, 'weak');
    const good = join(work, 'good');
    await writeFile(weak, 'short\n');
    await writeFile(good, 'correct horse battery staple\n');
    let r = await runCli(['init', '--dir', join(work, 'a'), '--passphrase-file', weak, '--kdf-n', '1024']);
    assert.equal(r.code, EX_USAGE, r.stderr);
    assert.match(r.stderr, /at least 8 characters/);
    r = await runCli(['init', '--dir', join(work, 'b'), '--hostname', 'my mail server', '--passphrase-file', good, '--kdf-n', '1024']);
    assert.equal(r.code, EX_USAGE, r.stderr);
    assert.match(r.stderr, /--hostname "my mail server": expected a domain name/);
    assert.deepEqual((await readdir(work)).sort(), ['good', 'weak'], 'no directory left by either run');
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});
