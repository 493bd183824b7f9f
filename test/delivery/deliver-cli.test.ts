// `mailstack deliver` as an MTA would run it: message on stdin, sysexits exit codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadConfig, storeDir } from '../../src/config/index.ts';
import { openVault } from '../../src/vault/index.ts';
import { openStore } from '../../src/store/index.ts';
import type { Store } from '../../src/store/types.ts';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { makeInstance, runCli, startServe } from '../helpers/cli.ts';
import { MAX_ALIAS_EXPANSION } from '../../src/accounts/index.ts';
import { fillDisk, freeDisk, mountSmallDisk } from '../helpers/tmpfs.ts';

const PASSPHRASE = 'correct horse battery staple';

async function withStore<T>(configFile: string, run: (store: Store) => Promise<T>): Promise<T> {
  const { config } = loadConfig(configFile);
  const vault = await openVault(config.server.data_dir, PASSPHRASE);
  const store = await openStore({ dir: storeDir(config), key: vault.deriveKey('store') });
  vault.close();
  try {
    return await run(store);
  } finally {
    await store.close();
  }
}

const MESSAGE = 'From: someone@sender.test\nTo: alice@example.org\nSubject: from the LDA\n\nHello by pipe.\n';

/** example.org with alice; with `team`, team@example.org reaching alice and forwarding to friend@remote.test. */
async function addAlice(store: Store, options: { team?: boolean } = {}): Promise<void> {
  await store.accounts.addDomain('example.org');
  await store.accounts.addUser({ address: 'alice@example.org', passwordHash: '{PLAIN}x' });
  if (!options.team) return;
  await store.accounts.addAlias('team@example.org', 'alice@example.org');
  await store.accounts.addAlias('team@example.org', 'friend@remote.test');
}

async function aliceInboxSize(store: Store): Promise<number> {
  const user = (await store.accounts.getUser('alice@example.org'))!;
  return (await store.mail.listMessages((await store.mail.getMailbox(user.id, 'INBOX'))!.id)).length;
}

test('deliver: 0 and stored (LF turned into CRLF, Return-Path from --from); 67 for an unknown user; --mailbox files', async () => {
  const inst = await makeInstance(PASSPHRASE);
  try {
    await withStore(inst.config, async (store) => {
      await addAlice(store);
    });
    const args = ['deliver', '--config', inst.config, '--passphrase-file', inst.passphraseFile];
    const ok = await runCli([...args, '--to', 'alice@example.org', '--from', 'someone@sender.test'], { input: MESSAGE });
    assert.equal(ok.code, 0, ok.stderr);
    const unknown = await runCli([...args, '--to', 'nobody@example.org'], { input: MESSAGE });
    assert.equal(unknown.code, 67, unknown.stderr);
    assert.match(unknown.stderr, /nobody@example\.org/);
    const junk = await runCli([...args, '--to', 'alice@example.org', '--mailbox', 'Junk'], { input: MESSAGE });
    assert.equal(junk.code, 0, junk.stderr);
    await withStore(inst.config, async (store) => {
      const user = (await store.accounts.getUser('alice@example.org'))!;
      const inbox = (await store.mail.getMailbox(user.id, 'INBOX'))!;
      const [meta] = await store.mail.listMessages(inbox.id);
      const raw = (await store.mail.getBody(meta!.bodyId)).toString();
      assert.match(raw, /^Return-Path: <someone@sender\.test>\r\nDelivered-To: alice@example\.org\r\n/);
      assert.match(raw, /Subject: from the LDA\r\n\r\nHello by pipe\.\r\n$/);
      const junkBox = (await store.mail.getMailbox(user.id, 'Junk'))!;
      assert.equal((await store.mail.listMessages(junkBox.id)).length, 1);
    });
  } finally {
    await inst.cleanup();
  }
});

test('deliver: 75 (EX_TEMPFAIL) while the running server is locked, and on a wrong passphrase', async () => {
  const inst = await makeInstance(PASSPHRASE);
  try {
    const wrong = join(inst.dir, 'wrong');
    await import('node:fs/promises').then((fs) => fs.writeFile(wrong, 'not it\n'));
    const bad = await runCli(['deliver', '--config', inst.config, '--passphrase-file', wrong, '--to', 'alice@example.org'], { input: MESSAGE });
    assert.equal(bad.code, 75, bad.stderr);
    const server = await startServe(['--config', inst.config]);
    try {
      const locked = await runCli(['deliver', '--config', inst.config, '--to', 'alice@example.org'], { input: MESSAGE });
      assert.equal(locked.code, 75, locked.stderr);
      assert.match(locked.stderr, /locked/);
    } finally {
      await server.stop();
    }
  } finally {
    await inst.cleanup();
  }
});

test('deliver through the running, unlocked server (admin socket): 0 and stored', async () => {
  const inst = await makeInstance(PASSPHRASE);
  try {
    await withStore(inst.config, async (store) => {
      await addAlice(store);
    });
    const server = await startServe(['--config', inst.config]);
    try {
      const unlock = await runCli(['unlock', '--config', inst.config, '--passphrase-file', inst.passphraseFile]);
      assert.equal(unlock.code, 0, unlock.stderr);
      const r = await runCli(['deliver', '--config', inst.config, '--to', 'alice@example.org'], { input: MESSAGE });
      assert.equal(r.code, 0, r.stderr);
    } finally {
      await server.stop();
    }
    await withStore(inst.config, async (store) => {
      assert.equal(await aliceInboxSize(store), 1);
    });
  } finally {
    await inst.cleanup();
  }
});

test('deliver: 75 (EX_TEMPFAIL) on a full disk, saying so; delivered once space is freed', async (t) => {
  const disk = await mountSmallDisk(24 * 1024 * 1024);
  if ('refused' in disk) return t.skip(disk.refused);
  const inst = await makeInstance(PASSPHRASE);
  try {
    // The instance's data directory moved onto the small disk.
    const { config } = loadConfig(inst.config);
    const dataDir = join(disk.dir, 'data');
    await cp(config.server.data_dir, dataDir, { recursive: true });
    await writeFile(inst.config, (await readFile(inst.config, 'utf8')).replace(/^data_dir = .*$/m, `data_dir = "${dataDir}"`));
    assert.equal(loadConfig(inst.config).config.server.data_dir, dataDir);
    await withStore(inst.config, async (store) => {
      await addAlice(store);
    });
    const args = ['deliver', '--config', inst.config, '--passphrase-file', inst.passphraseFile, '--to', 'alice@example.org'];
    // ~60 KB: a body file record, which needs new space.
    const big = MESSAGE + 'A'.repeat(74).concat('\n').repeat(800);
    const filler = fillDisk(disk.dir);
    const full = await runCli(args, { input: big });
    assert.equal(full.code, 75, full.stderr);
    assert.match(full.stderr, /insufficient system storage|no space|full/i);
    freeDisk(filler);
    const ok = await runCli(args, { input: big });
    assert.equal(ok.code, 0, ok.stderr);
    await withStore(inst.config, async (store) => {
      assert.equal(await aliceInboxSize(store), 1, 'only the delivery that succeeded');
    });
  } finally {
    await inst.cleanup();
    await disk.unmount();
  }
});

test('deliver without --to: 64 (EX_USAGE) naming --to, nothing stored', async () => {
  const inst = await makeInstance(PASSPHRASE);
  try {
    await withStore(inst.config, async (store) => {
      await addAlice(store);
    });
    const r = await runCli(['deliver', '--config', inst.config, '--passphrase-file', inst.passphraseFile], { input: MESSAGE });
    assert.equal(r.code, 64, r.stderr);
    assert.match(r.stderr, /--to/);
    await withStore(inst.config, async (store) => {
      assert.equal(await aliceInboxSize(store), 0);
    });
  } finally {
    await inst.cleanup();
  }
});

test('deliver --from: not an address (or with a line break) is 64 (EX_USAGE), not 0 or 75; "<>" is the null sender', async () => {
  const inst = await makeInstance(PASSPHRASE);
  try {
    await withStore(inst.config, async (store) => {
      await addAlice(store);
    });
    const args = ['deliver', '--config', inst.config, '--passphrase-file', inst.passphraseFile, '--to', 'alice@example.org'];
    for (const from of ['not an address', 'someone@sender.test\nX-Injected: yes']) {
      const r = await runCli([...args, '--from', from], { input: MESSAGE });
      assert.equal(r.code, 64, `${JSON.stringify(from)}: ${r.stderr}`);
      assert.match(r.stderr, /^mailstack: --from .* is not a usable envelope sender \(.+\); give it as local@domain/);
      assert.equal(r.stderr.trimEnd().split('\n').length, 1, 'one line for the MTA\'s log');
    }
    const bounce = await runCli([...args, '--from', '<>'], { input: MESSAGE });
    assert.equal(bounce.code, 0, bounce.stderr);
    await withStore(inst.config, async (store) => {
      const user = (await store.accounts.getUser('alice@example.org'))!;
      const inbox = (await store.mail.getMailbox(user.id, 'INBOX'))!;
      const metas = await store.mail.listMessages(inbox.id);
      assert.equal(metas.length, 1, 'only the null-sender delivery was stored');
      assert.match((await store.mail.getBody(metas[0]!.bodyId)).toString(), /^Return-Path: <>\r\n/);
    });
  } finally {
    await inst.cleanup();
  }
});

test('deliver to an alias that also forwards off-site: the local copy stored and the remote one queued (0)', async () => {
  const inst = await makeInstance(PASSPHRASE);
  try {
    await withStore(inst.config, async (store) => {
      await addAlice(store, { team: true });
    });
    const r = await runCli(['deliver', '--config', inst.config, '--passphrase-file', inst.passphraseFile, '--to', 'team@example.org', '--from', 'a@sender.test'], { input: MESSAGE });
    assert.equal(r.code, 0, r.stderr);
    await withStore(inst.config, async (store) => {
      assert.equal(await aliceInboxSize(store), 1);
      const queued = await store.queue.list();
      assert.deepEqual(queued.map((e) => [e.sender, e.recipients.map((x) => x.address)]), [['a@sender.test', ['friend@remote.test']]]);
    });
  } finally {
    await inst.cleanup();
  }
});

/** A served instance's queue, kept on loopback: DNS goes to a closed local port (every lookup fails at once,
 * nothing leaves the machine), and no periodic scan runs, so an attempt can only come from the queue being
 * told of its entry. */
async function keepQueueLocal(config: string): Promise<void> {
  const text = await readFile(config, 'utf8');
  assert.doesNotMatch(text, /^\[(dns|queue)\]/m, 'the starter config leaves [dns] and [queue] to their defaults');
  await writeFile(config, `${text}\n[dns]\nupstream = ["127.0.0.1:9"]\ntimeout_ms = 500\n\n[queue]\nscan_interval_ms = 3600000\n`);
}

test('deliver through the running server of a message near the size limit to an alias that also forwards off-site: 0, stored and queued', async () => {
  // Both copies (the local one and the queued one) travel in one admin request, base64: twice the message
  // and a third more. The request line was over the server's limit, and reading it took time in the square of
  // its length, past the client's deadline: 75 for every such message, retried by the MTA until it bounced.
  const inst = await makeInstance(PASSPHRASE);
  try {
    await withStore(inst.config, async (store) => {
      await addAlice(store, { team: true });
    });
    const line = 'x'.repeat(998) + '\r\n';
    const header = 'From: a@sender.test\r\nSubject: big\r\n\r\n';
    const max = loadConfig(inst.config).config.store.max_message_bytes;
    const message = Buffer.from(header + line.repeat(Math.floor((max - 1024 * 1024 - header.length) / line.length)));
    await keepQueueLocal(inst.config);
    const server = await startServe(['--config', inst.config]);
    try {
      const unlock = await runCli(['unlock', '--config', inst.config, '--passphrase-file', inst.passphraseFile]);
      assert.equal(unlock.code, 0, unlock.stderr);
      const r = await runCli(['deliver', '--config', inst.config, '--to', 'team@example.org', '--from', 'a@sender.test'], { input: message });
      assert.equal(r.code, 0, r.stderr);
    } finally {
      await server.stop();
    }
    await withStore(inst.config, async (store) => {
      assert.equal(await aliceInboxSize(store), 1);
      const queued = await store.queue.list();
      assert.deepEqual(queued.map((e) => [e.size, e.recipients.map((x) => x.address)]), [[message.length, ['friend@remote.test']]]);
    });
  } finally {
    await inst.cleanup();
  }
});

test('deliver to an alias over the expansion limit: 75 (EX_TEMPFAIL) saying why; nothing stored or queued', async () => {
  const inst = await makeInstance(PASSPHRASE);
  try {
    await withStore(inst.config, async (store) => {
      await addAlice(store);
      // Added through the store: `alias add` refuses to build such a list.
      await store.accounts.addAlias('everyone@example.org', 'alice@example.org');
      for (let i = 0; i < MAX_ALIAS_EXPANSION; i++) await store.accounts.addAlias('everyone@example.org', `m${i}@remote.test`);
    });
    const r = await runCli(['deliver', '--config', inst.config, '--passphrase-file', inst.passphraseFile, '--to', 'everyone@example.org'], { input: MESSAGE });
    assert.equal(r.code, 75, r.stderr);
    assert.match(r.stderr, new RegExp(`<everyone@example\\.org>: alias expansion error: the aliases of everyone@example\\.org expand to more than ${MAX_ALIAS_EXPANSION} addresses`));
    await withStore(inst.config, async (store) => {
      assert.equal(await aliceInboxSize(store), 0);
      assert.deepEqual(await store.queue.list(), []);
    });
  } finally {
    await inst.cleanup();
  }
});

test('deliver to several recipients is all or nothing: one unknown (67) or over quota (75) stores nothing for the others', async () => {
  const inst = await makeInstance(PASSPHRASE);
  try {
    await withStore(inst.config, async (store) => {
      await addAlice(store);
      // 50 bytes: less than MESSAGE, so bob has no room for it.
      await store.accounts.addUser({ address: 'bob@example.org', passwordHash: '{PLAIN}x', quotaBytes: 50 });
    });
    const args = ['deliver', '--config', inst.config, '--passphrase-file', inst.passphraseFile, '--to', 'alice@example.org'];
    const counts = () =>
      withStore(inst.config, async (store) => {
        const n: number[] = [];
        for (const address of ['alice@example.org', 'bob@example.org']) {
          const user = (await store.accounts.getUser(address))!;
          n.push((await store.mail.listMessages((await store.mail.getMailbox(user.id, 'INBOX'))!.id)).length);
        }
        return n;
      });

    const unknown = await runCli([...args, '--to', 'nobody@example.org'], { input: MESSAGE });
    assert.equal(unknown.code, 67, unknown.stderr);
    assert.match(unknown.stderr, /<nobody@example\.org>: no such user here/);
    assert.match(unknown.stderr, /<alice@example\.org>: not delivered because <nobody@example\.org> failed/);
    assert.deepEqual(await counts(), [0, 0], 'a bounce must not follow a delivery');

    // Over quota, [store] over_quota = "temporary" (the default): the MTA retries, so nothing may be stored yet.
    const full = await runCli([...args, '--to', 'bob@example.org'], { input: MESSAGE });
    assert.equal(full.code, 75, full.stderr);
    assert.match(full.stderr, /<bob@example\.org>: mailbox is over quota/);
    assert.deepEqual(await counts(), [0, 0], 'a retry must not duplicate what was stored');

    await withStore(inst.config, (store) => store.accounts.updateUser('bob@example.org', { quotaBytes: 0 }));
    const retry = await runCli([...args, '--to', 'bob@example.org'], { input: MESSAGE });
    assert.equal(retry.code, 0, retry.stderr);
    assert.deepEqual(await counts(), [1, 1], 'the retry stores once for each');
  } finally {
    await inst.cleanup();
  }
});

test('deliver through the running server to an alias that forwards off-site: the running queue takes the entry up at once', async () => {
  const inst = await makeInstance(PASSPHRASE);
  try {
    await withStore(inst.config, async (store) => {
      await addAlice(store, { team: true });
    });
    await keepQueueLocal(inst.config);
    const server = await startServe(['--config', inst.config, '--passphrase-file', inst.passphraseFile]);
    try {
      const r = await runCli(['deliver', '--config', inst.config, '--to', 'team@example.org', '--from', 'a@sender.test'], { input: MESSAGE });
      assert.equal(r.code, 0, r.stderr);
      // The entry was made over the admin socket; the queue tries it (DNS fails: deferred, one attempt) without
      // waiting for a scan, which is an hour away here.
      let shown = '';
      for (let i = 0; i < 40 && !/1 attempt/.test(shown); i++) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        const list = await runCli(['queue', 'list', '--config', inst.config]);
        const id = /^([0-9A-F]{8,})\s/m.exec(list.stdout)?.[1];
        if (id) shown = (await runCli(['queue', 'show', id, '--config', inst.config])).stdout;
      }
      assert.match(shown, /friend@remote\.test: deferred, 1 attempt/);
    } finally {
      assert.equal(await server.stop(), 0);
    }
  } finally {
    await inst.cleanup();
  }
});
