#!/usr/bin/env node
// Runs before `npm start` and `npm test`: on a fresh checkout, installs the locked dependencies first so that
// set-up really is one command. Does nothing once they are installed: `npm ci` empties node_modules first,
// which must never happen under a running server or test run just because a lock file's time changed.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const marker = `${root}node_modules/.package-lock.json`;
if (!existsSync(marker)) {
  console.error('mailstack: installing dependencies (npm ci)...');
  const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
