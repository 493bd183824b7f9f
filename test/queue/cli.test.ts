// `mailstack queue ...` through the real CLI, on a data directory with no server running.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli, makeInstance } from '../helpers/cli.ts';
import { loadConfig, storeDir } from '../../src/config/index.ts';
import { openVault } from '../../src/vault/index.ts';
import { openStore } from '../../src/store/index.ts';
import { MESSAGE } from './harness.ts';

test('queue list, show, flush and delete', async (t) => {
  const inst = await makeInstance();
  t.after(() => inst.cleanup());
  const cli = (...args: string[]) => runCli([...args, '--config', inst.config, '--passphrase-file', inst.passphraseFile]);

  const { config } = loadConfig(inst.config);
  const vault = await openVault(config.server.data_dir, 'correct horse battery staple');
  let store = await openStore({ dir: storeDir(config), key: vault.deriveKey('store') });
  const a = await store.queue.enqueue({ sender: 'alice@example.test', recipients: ['bob@remote.test', 'carol@remote.test'], raw: MESSAGE });
  const b = await store.queue.enqueue({ sender: '', recipients: ['dave@remote.test'], raw: MESSAGE });
  const later = Date.now() + 3_600_000;
  await store.queue.updateRecipients(a.id, [{ address: 'bob@remote.test', state: 'deferred', nextAttemptAt: later, lastError: 'smtp; 451 4.7.1 greylisted', attempted: true }]);
  await store.close();

  const list = await cli('queue', 'list');
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, new RegExp(`${a.id}\\s+\\d+ \\S+ \\S+\\s+alice@example\\.test`));
  assert.match(list.stdout, /\(smtp; 451 4\.7\.1 greylisted\)\n\s+bob@remote\.test/);
  assert.match(list.stdout, new RegExp(`${b.id}.*MAILER-DAEMON`));
  assert.match(list.stdout, /in 2 Requests\./);

  const show = await cli('queue', 'show', a.id);
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, /bob@remote\.test: deferred, 1 attempt\(s\), next /);
  assert.match(show.stdout, /last error: smtp; 451 4\.7\.1 greylisted/);
  assert.match(show.stdout, /Subject: Queue test/);
  assert.equal((await cli('queue', 'show', 'NOSUCHID')).code, 66);

  const flush = await cli('queue', 'flush', a.id);
  assert.equal(flush.code, 0, flush.stderr);
  assert.match(flush.stdout, /2 recipient\(s\) due now \(no server is running/);

  const del = await cli('queue', 'delete', b.id);
  assert.equal(del.code, 0, del.stderr);
  assert.match(del.stdout, /deleted 1 message/);

  store = await openStore({ dir: storeDir(config), key: vault.deriveKey('store') });
  vault.close();
  try {
    const entries = await store.queue.list();
    assert.deepEqual(entries.map((e) => e.id), [a.id]);
    const bob = entries[0]!.recipients.find((r) => r.address === 'bob@remote.test')!;
    assert.ok(bob.nextAttemptAt <= Date.now(), 'flush made the deferred recipient due');
  } finally {
    await store.close();
  }
});
