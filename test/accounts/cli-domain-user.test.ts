// The domain and user commands, run as a user would: the real `mailstack` CLI on an instance made by
// `mailstack init`, on the stopped data directory. (Split from the alias and server tests so that each
// file stays short: every CLI run starts a Node process.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli, makeInstance } from '../helpers/cli.ts';

type Inst = Awaited<ReturnType<typeof makeInstance>>;
const cli = (inst: Inst, args: string[], input?: string) => runCli(['--config', inst.config, '--passphrase-file', inst.passphraseFile, ...args], input === undefined ? {} : { input });

test('domain and user commands on a stopped data directory', async () => {
  const inst = await makeInstance();
  try {
    let r = await cli(inst, ['user', 'add', 'anna@example.org', '--password-stdin'], 'correct horse\n');
    assert.equal(r.code, 67, 'unknown domain is refused');
    assert.match(r.stderr, /example\.org is not one of our domains: add it first with `mailstack domain add example\.org`/);

    r = await cli(inst, ['domain', 'add', 'Example.ORG']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /added domain example\.org\n.*postmaster/);
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
    r = await cli(inst, ['user', 'list']);
    assert.equal(r.stdout.trim().split('\n').length, 1);
    assert.match(r.stdout, /^anna@example\.org /);
    // An alias of another domain pointing into the one deleted: kept, but said aloud (its mail would now
    // leave for the Internet).
    assert.equal((await cli(inst, ['domain', 'add', 'example.net'])).code, 0);
    r = await cli(inst, ['alias', 'add', 'info@example.net', 'anna@example.org']);
    assert.equal(r.code, 0, r.stderr);
    r = await cli(inst, ['domain', 'del', 'example.org', '--force']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /warning: alias info@example\.net still points to anna@example\.org, which is no longer a local address.*mailstack alias del info@example\.net anna@example\.org/);
    r = await cli(inst, ['domain', 'list']);
    assert.match(r.stdout, /^example\.net /m);
    assert.doesNotMatch(r.stdout, /example\.org/);
  } finally {
    await inst.cleanup();
  }
});
