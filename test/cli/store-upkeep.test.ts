// `mailstack store verify|compact`, on the data directory and through the running server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { loadConfig, storeDir } from '../../src/config/index.ts';
import { openVault } from '../../src/vault/index.ts';
import { openStore } from '../../src/store/index.ts';
import type { Store } from '../../src/store/types.ts';
import { makeInstance, runCli, startServe } from '../helpers/cli.ts';

const PASSPHRASE = 'correct horse battery staple';

async function withStore<T>(configFile: string, run: (store: Store, dir: string) => Promise<T>): Promise<T> {
  const { config } = loadConfig(configFile);
  const vault = await openVault(config.server.data_dir, PASSPHRASE);
  const store = await openStore({ dir: storeDir(config), key: vault.deriveKey('store'), compactEveryMs: 0 });
  vault.close();
  try {
    return await run(store, storeDir(config));
  } finally {
    await store.close();
  }
}

function message(n: number): Buffer {
  return Buffer.from(`From: a@example.org\r\nTo: alice@example.org\r\nSubject: ${n}\r\n\r\n${`body line of message ${n}\r\n`.repeat(800)}`);
}

test('store compact gives back the space of expunged mail; store verify checks every page and body', async () => {
  const inst = await makeInstance(PASSPHRASE);
  try {
    await withStore(inst.config, async (store) => {
      await store.accounts.addDomain('example.org');
      const user = await store.accounts.addUser({ address: 'alice@example.org', passwordHash: '{PLAIN}x' });
      for (let n = 0; n < 20; n++) await store.mail.deliver({ raw: message(n), targets: [{ userId: user.id }] });
    });
    // A second opening: the first one's body file is no longer appended to, and can go.
    const segmentsDir = await withStore(inst.config, async (store, dir) => {
      const user = (await store.accounts.getUser('alice@example.org'))!;
      const inbox = (await store.mail.getMailbox(user.id, 'INBOX'))!;
      const uids = (await store.mail.listMessages(inbox.id)).map((m) => m.uid);
      await store.mail.expunge(inbox.id, uids.slice(0, 15));
      return join(dir, 'bodies');
    });
    const [before] = await readdir(segmentsDir);

    const args = ['--config', inst.config, '--passphrase-file', inst.passphraseFile];
    const usage = await runCli(['store', 'compact', '--min-dead', 'most', ...args]);
    assert.equal(usage.code, 64);
    assert.match(usage.stderr, /--min-dead takes a share between 0 and 1/);

    const compact = await runCli(['store', 'compact', ...args]);
    assert.equal(compact.code, 0, compact.stderr);
    assert.match(compact.stdout, /^compacted 1 body file\(s\): [\d.]+ MiB deleted, 5 message bodies \([\d.]+ MiB\) rewritten first\n$/);
    const after = await readdir(segmentsDir);
    assert.equal(after.length, 1);
    assert.notEqual(after[0], before, 'the 5 kept bodies were copied to a new file and the old one deleted');
    const verify = await runCli(['store', 'verify', ...args]);
    assert.equal(verify.code, 0, verify.stderr);
    assert.equal(verify.stdout, 'store verified: every page and body authenticates\n');

    // Through the running server: the same commands, over the admin socket.
    const server = await startServe(['--config', inst.config]);
    try {
      const unlock = await runCli(['unlock', '--config', inst.config, '--passphrase-file', inst.passphraseFile]);
      assert.equal(unlock.code, 0, unlock.stderr);
      const again = await runCli(['store', 'compact', '--json', '--config', inst.config]);
      assert.equal(again.code, 0, again.stderr);
      assert.deepEqual(JSON.parse(again.stdout), { files: 0, filesMerged: 0, bytesFreed: 0, bodiesMoved: 0, bytesMoved: 0 });
      const remote = await runCli(['store', 'verify', '--config', inst.config]);
      assert.equal(remote.code, 0, remote.stderr);
    } finally {
      await server.stop();
    }
    await withStore(inst.config, async (store) => {
      const user = (await store.accounts.getUser('alice@example.org'))!;
      const inbox = (await store.mail.getMailbox(user.id, 'INBOX'))!;
      const metas = await store.mail.listMessages(inbox.id);
      assert.equal(metas.length, 5);
      for (const [i, m] of metas.entries()) assert.ok((await store.mail.getBody(m.bodyId)).equals(message(15 + i)));
    });

    // A flipped byte in a body: verify names it and exits 65 (EX_DATAERR).
    const [file] = await readdir(segmentsDir);
    const handle = await open(join(segmentsDir, file!), 'r+');
    try {
      const byte = Buffer.alloc(1);
      await handle.read(byte, 0, 1, 100);
      byte[0] = byte[0]! ^ 0x01;
      await handle.write(byte, 0, 1, 100);
    } finally {
      await handle.close();
    }
    const damaged = await runCli(['store', 'verify', ...args]);
    assert.equal(damaged.code, 65, damaged.stderr);
    assert.match(damaged.stdout, /^problem: .*fails authentication/m);
    assert.match(damaged.stderr, /the store has 1 problem\(s\); restore the damaged files from a backup/);
  } finally {
    await inst.cleanup();
  }
});
