// The data directory's lock (src/store/data-dir-lock.ts) as another user meets it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lockDataDir } from '../../src/store/index.ts';

const NOBODY = 65534;

test('a lock file this user cannot write is refused, not taken as a read lock that excludes nobody', { skip: process.getuid?.() !== 0 ? 'needs root, to run a second user' : false }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mailstack-lock-'));
  try {
    await chmod(dir, 0o755);
    // Root makes the lock file (a direct-mode command run with sudo while no server ran).
    lockDataDir(dir, 'shared').release();
    // `serve` as the unprivileged user then asks for the exclusive lock.
    const child = spawnSync(process.execPath, ['--import', 'tsx', '-e', `
      import('${new URL('../../src/store/index.ts', import.meta.url).href}').then(({ lockDataDir }) => {
        try { lockDataDir(${JSON.stringify(dir)}, 'exclusive'); console.log('LOCKED'); }
        catch (e) { console.log(e.name + ': ' + e.message); }
      });`], { uid: NOBODY, gid: NOBODY, encoding: 'utf8', cwd: process.cwd() });
    assert.match(child.stdout, /DataDirLockUnusableError: .*mailstack\.lock is not writable by this user/, child.stdout + child.stderr);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
