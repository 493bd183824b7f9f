// The alias commands through the real `mailstack` CLI on a stopped data directory: one-to-one,
// one-to-many with a forward, catch-all, listing, partial and whole deletion.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli, makeInstance } from '../helpers/cli.ts';
import { MAX_ALIAS_EXPANSION } from '../../src/accounts/index.ts';

type Inst = Awaited<ReturnType<typeof makeInstance>>;
const cli = (inst: Inst, args: string[], input?: string) => runCli(['--config', inst.config, '--passphrase-file', inst.passphraseFile, ...args], input === undefined ? {} : { input });

test('alias add, list and del on a stopped data directory', async () => {
  const inst = await makeInstance();
  try {
    let r = await cli(inst, ['domain', 'add', 'example.org']);
    assert.equal(r.code, 0, r.stderr);
    for (const user of ['anna', 'bob']) {
      r = await cli(inst, ['user', 'add', `${user}@example.org`, '--password-stdin'], `${user}s password\n`);
      assert.equal(r.code, 0, r.stderr);
    }
    r = await cli(inst, ['alias', 'add', 'postmaster@example.org', 'anna@example.org']);
    assert.equal(r.code, 0, r.stderr);
    r = await cli(inst, ['alias', 'add', 'team@example.org', 'anna@example.org,bob@example.org', 'friend@elsewhere.test']);
    assert.equal(r.code, 0, r.stderr);
    r = await cli(inst, ['alias', 'add', '@example.org', 'ghost@example.org']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /warning: ghost@example\.org does not reach anyone/);
    r = await cli(inst, ['alias', 'add', 'x@other.test', 'anna@example.org']);
    assert.equal(r.code, 67);
    assert.match(r.stderr, /other\.test is not one of our domains/);

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
    r = await cli(inst, ['alias', 'del', 'nothing@example.org']);
    assert.equal(r.code, 67);
    r = await cli(inst, ['user', 'del', 'bob@example.org', '--yes']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /warning: alias team@example\.org still points to bob@example\.org/);
    r = await cli(inst, ['alias', 'list']);
    assert.match(r.stdout, /^postmaster@example\.org\s+anna@example\.org$/m);
    assert.match(r.stdout, /^team@example\.org\s+anna@example\.org, bob@example\.org$/m);
    assert.doesNotMatch(r.stdout, /friend@elsewhere|ghost/, 'deleted alias entries are gone, the others stay');
  } finally {
    await inst.cleanup();
  }
});

test('alias add refuses (65, EX_DATAERR) an alias that would expand beyond the limit, and keeps nothing of it', async () => {
  const inst = await makeInstance();
  try {
    let r = await cli(inst, ['domain', 'add', 'example.org']);
    assert.equal(r.code, 0, r.stderr);
    // Two lists under the limit each; one alias naming both goes over it.
    const half = MAX_ALIAS_EXPANSION / 2;
    for (const [list, from] of [['list1', 0], ['list2', half]] as const) {
      const members = Array.from({ length: half }, (_, i) => `m${from + i}@remote.test`);
      r = await cli(inst, ['alias', 'add', `${list}@example.org`, members.join(',')]);
      assert.equal(r.code, 0, r.stderr);
    }
    r = await cli(inst, ['alias', 'add', 'everyone@example.org', 'list1@example.org', 'list2@example.org']);
    assert.equal(r.code, 65, r.stderr);
    assert.match(r.stderr, new RegExp(`everyone@example\\.org: not added: the aliases of everyone@example\\.org expand to more than ${MAX_ALIAS_EXPANSION} addresses`));
    r = await cli(inst, ['alias', 'list', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { source: string }[]).filter((a) => a.source === 'everyone@example.org').length, 0);
  } finally {
    await inst.cleanup();
  }
});
