import { statfsSync } from 'node:fs';
import { chmod } from 'node:fs/promises';
import type { Config } from '../config/index.ts';
import { adminSocketPath, storeDir } from '../config/index.ts';
import type { Logger } from '../log/index.ts';
import { openVault, vaultExists, VaultError } from '../vault/index.ts';
import { openStore, lockDataDirForServer } from '../store/index.ts';
import type { Store } from '../store/types.ts';
import { startAdminServer, storeHandlers, type AdminServer } from '../admin/index.ts';
import { SecurityEventBus, openGuard, type Runtime } from '../runtime/index.ts';
import { loadTls } from './tls.ts';
import { dropPrivileges } from './privileges.ts';
import { startEverything, type Wiring } from './wiring.ts';
import { requiredFreeBytes } from '../smtp/storage.ts';

export interface ServerStatus {
  locked: boolean;
  pid: number;
  startedAt: string;
  hostname: string;
  listening: { name: string; address: string; port: number }[];
  selfSignedCertificate: boolean;
  /** The data directory's file system: bytes free, and the free space below which SMTP refuses mail (null
   * when it could not be read). */
  disk: { freeBytes: number; requiredBytes: number } | null;
}

export interface RunningServer {
  runtime: Runtime;
  status(): ServerStatus;
  unlock(passphrase: string): Promise<void>;
  close(): Promise<void>;
}

function diskStatus(config: Config): ServerStatus['disk'] {
  try {
    const fs = statfsSync(config.server.data_dir);
    return { freeBytes: fs.bavail * fs.bsize, requiredBytes: requiredFreeBytes(config) };
  } catch {
    return null;
  }
}

export async function startServer(options: { config: Config; log: Logger; passphrase?: string }): Promise<RunningServer> {
  const { config } = options;
  // A mistyped data_dir used to be created and the server ran locked for good, `unlock` alone saying there
  // was no vault. Only `mailstack init` makes a data directory.
  if (!(await vaultExists(config.server.data_dir))) {
    throw new VaultError('missing', `no vault in ${config.server.data_dir} ([server] data_dir): check data_dir in the config, or create a data directory with \`mailstack init --dir DIR\``);
  }
  await chmod(config.server.data_dir, 0o700);
  // Held until close(): a second server on this data directory, or an admin command that would open the
  // store directly, is refused while this one runs (store/data-dir-lock.ts).
  const dataDirLock = await lockDataDirForServer(config.server.data_dir);
  try {
    return await startHoldingLock(options, () => dataDirLock.release());
  } catch (err) {
    dataDirLock.release();
    throw err;
  }
}

async function startHoldingLock(options: { config: Config; log: Logger; passphrase?: string }, releaseLock: () => void): Promise<RunningServer> {
  const { config, log } = options;
  const tls = await loadTls(config);
  let store: Store | null = null;
  const runtime: Runtime = {
    config,
    log,
    store: () => store,
    tls: { key: tls.key, cert: tls.cert, minVersion: config.tls.min_version },
    events: new SecurityEventBus(),
    guard: openGuard,
  };
  const startedAt = new Date().toISOString();
  let wiring: Wiring | null = null;
  /** The tail of the unlock attempts: each waits for the one before it (see unlock). */
  let previousUnlock: Promise<unknown> = Promise.resolve();

  const admin: AdminServer = await startAdminServer(adminSocketPath(config), log);

  /**
   * Attempts run one at a time and each is judged on its own passphrase: handing a second caller the
   * attempt already in flight told the right passphrase it was wrong when a wrong one was being checked
   * (and a wrong one it was right). On an unlocked server the passphrase is still checked.
   */
  function unlock(passphrase: string): Promise<void> {
    const attempt = previousUnlock.then(() => attemptUnlock(passphrase));
    previousUnlock = attempt.catch(() => {});
    return attempt;
  }

  async function attemptUnlock(passphrase: string): Promise<void> {
    const vault = await openVault(config.server.data_dir, passphrase);
    try {
      if (store) return;
      // serve holds the data directory's exclusive lock (data-dir-lock.ts): no other process writes here.
      const opened = await openStore({ dir: storeDir(config), key: vault.deriveKey('store'), log, exclusive: true });
      store = opened;
      await wiring?.onUnlocked(opened);
      log.info({ event: 'unlocked' }, 'vault unlocked: accepting mail');
    } finally {
      vault.close();
    }
  }

  function status(): ServerStatus {
    return {
      locked: store === null,
      pid: process.pid,
      startedAt,
      hostname: config.server.hostname,
      listening: wiring ? wiring.listeners.flatMap((l) => l.listening) : [],
      selfSignedCertificate: tls.selfSigned,
      disk: diskStatus(config),
    };
  }

  admin.register({
    status: () => status(),
    unlock: async (params) => {
      const { passphrase } = (params ?? {}) as { passphrase?: string };
      if (typeof passphrase !== 'string') throw Object.assign(new Error('no passphrase given'), { code: 'invalid' });
      try {
        await unlock(passphrase);
      } catch (err) {
        if (err instanceof VaultError) log.warn({ event: 'unlock-failed', reason: err.code }, 'unlock failed');
        throw err;
      }
      return status();
    },
    ...storeHandlers(
      () => store,
      (entry) => wiring?.queued(entry),
    ),
  });

  async function close(): Promise<void> {
    await wiring?.close();
    await admin.close();
    if (store) await store.close();
    store = null;
    releaseLock();
  }

  // A start that fails half-way (a listener's port is taken, or the unattended passphrase is wrong) closes
  // what it opened: a server that cannot unlock must not stay up, locked, holding its ports and socket.
  try {
    wiring = await startEverything(runtime);
    admin.register(wiring.adminHandlers);
    await dropPrivileges(config.server.user, config.server.data_dir, log);
    if (options.passphrase !== undefined) await unlock(options.passphrase);
  } catch (err) {
    await close();
    throw err;
  }
  if (store) log.info({ event: 'started', listening: status().listening, locked: false }, 'mailstack started and unlocked');
  else log.info({ event: 'started', listening: status().listening, locked: true }, 'mailstack started, locked until `mailstack unlock`');

  return { runtime, status, unlock, close };
}
