import { execFileSync } from 'node:child_process';
import { readdir, lchown } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log/index.ts';

/** Looks up a user's uid and gid (Node has no getpwnam). The name comes from the config, not the network. */
function lookupUser(user: string): { uid: number; gid: number } {
  if (!/^[a-z_][a-z0-9_-]*\$?$/i.test(user)) throw Object.assign(new Error(`server.user "${user}" is not a valid user name`), { code: 'CONFIG' });
  try {
    const uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim());
    return { uid, gid };
  } catch {
    throw Object.assign(new Error(`server.user "${user}" does not exist on this system: create it (useradd --system ${user}) or remove the key`), { code: 'CONFIG' });
  }
}

async function chownTree(path: string, uid: number, gid: number): Promise<void> {
  await lchown(path, uid, gid);
  for (const entry of await readdir(path, { withFileTypes: true }).catch(() => [])) {
    const p = join(path, entry.name);
    if (entry.isDirectory()) await chownTree(p, uid, gid);
    else await lchown(p, uid, gid);
  }
}

/** After the ports are bound: give the data directory to the unprivileged user and become that user, like
 * Postfix's and Dovecot's daemons do. A no-op unless started as root with server.user set. */
export async function dropPrivileges(user: string | undefined, dataDir: string, log: Logger): Promise<void> {
  if (!user || typeof process.getuid !== 'function' || process.getuid() !== 0) return;
  const { uid, gid } = lookupUser(user);
  await chownTree(dataDir, uid, gid);
  if (!process.setgid || !process.setuid) return;
  process.setgroups?.([gid]);
  process.setgid(gid);
  process.setuid(uid);
  log.info({ event: 'privileges-dropped', user, uid, gid }, `running as ${user}`);
}
