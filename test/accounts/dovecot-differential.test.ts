// No lock-in, checked by Dovecot itself: the real Dovecot (doveadm) reads the original tree and the tree
// mailstack exports after importing it, and must report the same mailboxes, UIDs, UIDVALIDITY, UIDNEXT,
// flags, keywords, sizes, received dates and subscriptions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, chown, cp, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { openStore } from '../../src/store/index.ts';
import { importPostfixDovecot } from '../../src/accounts/import.ts';
import { exportMaildir } from '../../src/accounts/maildir.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/dovecot/install', import.meta.url));
/** Dovecot refuses to touch mail as root; it drops to this uid (nobody), so the test must run as root. */
const MAIL_UID = 65534;
const haveDoveadm = spawnSync('doveadm', ['help'], { stdio: 'ignore' }).error === undefined;
const skip = !haveDoveadm ? 'doveadm (dovecot-core) is not installed' : process.getuid?.() !== 0 ? 'doveadm must start as root to switch to the mail user' : false;

async function chownTree(path: string): Promise<void> {
  await chown(path, MAIL_UID, MAIL_UID);
  for (const e of await readdir(path, { withFileTypes: true })) {
    if (e.isDirectory()) await chownTree(join(path, e.name));
    else await chown(join(path, e.name), MAIL_UID, MAIL_UID);
  }
}

async function setMtimesFromNames(dir: string): Promise<void> {
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    const seconds = Number(/^(\d+)\./.exec(e.name)?.[1]);
    if (e.isFile() && seconds > 0) await utimes(join(e.parentPath, e.name), seconds, seconds);
  }
}

function doveadm(work: string, maildir: string, args: string[]): string {
  const r = spawnSync('doveadm', ['-c', join(work, 'dovecot.conf'), '-o', `mail_location=maildir:${maildir}`, ...args], {
    env: { ...process.env, HOME: work, USER: 'root' },
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, `doveadm ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

test('Dovecot reads the exported Maildir exactly as it reads the original', { skip }, async () => {
  const work = await mkdtemp(join(tmpdir(), 'mailstack-dovecot-'));
  await chmod(work, 0o755);
  const store = await openStore({ dir: join(work, 'store'), key: randomBytes(32) });
  try {
    const root = join(work, 'install');
    await cp(FIXTURE, root, { recursive: true });
    await setMtimesFromNames(join(root, 'vmail'));
    const read = async (p: string) => ({ name: p, text: await readFile(join(root, p), 'utf8') });
    await importPostfixDovecot(store, { vmailbox: await read('postfix/vmailbox'), virtual: await read('postfix/virtual'), users: await read('dovecot/users') }, { maildirRoot: join(root, 'vmail'), maxMessageBytes: 1 << 20 });
    const admin = (await store.accounts.getUser('admin@example.org'))!;
    const exported = join(work, 'export', 'Maildir');
    await exportMaildir(store, admin, exported);

    // Dovecot writes into what it reads (indexes, new/ -> cur/): give it copies it may change.
    const original = join(work, 'original');
    await cp(join(root, 'vmail/example.org/admin/Maildir'), original, { recursive: true, preserveTimestamps: true });
    await chownTree(original);
    await chownTree(join(work, 'export'));
    await writeFile(
      join(work, 'dovecot.conf'),
      [`log_path = ${join(work, 'dovecot.log')}`, `base_dir = ${join(work, 'run')}`, `state_dir = ${join(work, 'state')}`, `mail_uid = ${MAIL_UID}`, `mail_gid = ${MAIL_UID}`, 'first_valid_uid = 1', 'first_valid_gid = 1', 'namespace inbox {', '  inbox = yes', '  separator = /', '}', ''].join('\n'),
    );
    const view = (maildir: string) => ({
      messages: doveadm(work, maildir, ['-f', 'tab', 'fetch', 'mailbox uid flags size.physical date.received hdr.message-id', 'all']).split('\n').sort(),
      status: doveadm(work, maildir, ['-f', 'tab', 'mailbox', 'status', 'messages uidvalidity uidnext unseen', '*']).split('\n').sort(),
      subscribed: doveadm(work, maildir, ['mailbox', 'list', '-s']).split('\n').sort(),
    });
    const before = view(original);
    const after = view(exported);
    assert.ok(before.messages.length >= 13, `Dovecot sees the original's messages (${before.messages.length})`);
    assert.deepEqual(after.messages, before.messages);
    assert.deepEqual(after.status, before.status);
    assert.deepEqual(after.subscribed, before.subscribed);
  } finally {
    await store.close();
    await rm(work, { recursive: true, force: true });
  }
});
