import { loadConfig, configPath, adminSocketPath, storeDir, ConfigError, type Config } from '../config/index.ts';
import { connectAdmin, remoteStore, type AdminClient } from '../admin/index.ts';
import { openVault, vaultExists, VaultError } from '../vault/index.ts';
import { openStore, lockDataDir, DataDirLockedError, DataDirLockUnusableError, type DataDirLock, type Store } from '../store/index.ts';
import { CliError, EX, exitCodeForVault } from './errors.ts';
import { readPassphrase } from './prompt.ts';
import type { CommandContext, CommandOptions } from './context.ts';

export function loadCommandConfig(options: CommandOptions) {
  try {
    return loadConfig(configPath(options.config));
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message, EX.CONFIG);
    throw err;
  }
}

/** Opens the store through the running server, or directly on the data directory when none runs. */
export async function openContext(options: CommandOptions): Promise<CommandContext> {
  const { config, file } = loadCommandConfig(options);
  const client = await connectAdmin(adminSocketPath(config), config.server.data_dir);
  if (client) return throughServer(client, config, file);
  // Said before the lock, whose file would otherwise be the first thing created in a mistyped data_dir.
  if (!(await vaultExists(config.server.data_dir))) throw new CliError(`no vault in ${config.server.data_dir}: create one with \`mailstack init --dir DIR\``, EX.CONFIG);
  // Asked before the lock: a prompt left open (or a passphrase file that never comes) must not keep a
  // server from starting.
  const passphrase = await readPassphrase(options.passphraseFile);
  const held = await holdDataDir(config);
  if ('client' in held) return throughServer(held.client, config, file);
  const { lock } = held;
  try {
    const store = await openStoreDirectly(config, passphrase);
    const close = async () => {
      try {
        await store.close();
      } finally {
        lock.release();
      }
    };
    return { config, configFile: file, store, server: null, close };
  } catch (err) {
    lock.release();
    throw err;
  }
}

/** The context of a command run through the server that answered on `client`. */
async function throughServer(client: AdminClient, config: Config, file: string): Promise<CommandContext> {
  const status = (await client.call('status')) as { locked: boolean };
  if (status.locked) {
    client.close();
    throw new CliError('the server is running but locked: run `mailstack unlock` first', EX.TEMPFAIL);
  }
  return { config, configFile: file, store: remoteStore(client), server: client, close: async () => client.close() };
}

/** How long a direct-mode command waits for a server that holds the data directory but does not answer on its
 * admin socket: one starting (it takes the lock, then opens the socket) or stopping (its socket is gone, its
 * lock goes when it exits) answers or lets go within this. The same patience serve has for its own lock
 * (data-dir-lock.ts). */
const SERVER_PATIENCE_MS = 3000;
const SERVER_RETRY_MS = 100;

/** A shared hold on the data directory (other direct-mode commands may run beside this one, a server may
 * not), or the admin connection of the server that holds it, once that server answers. */
async function holdDataDir(config: Config): Promise<{ lock: DataDirLock } | { client: AdminClient }> {
  const deadline = Date.now() + SERVER_PATIENCE_MS;
  let told = false;
  for (;;) {
    try {
      return { lock: lockDataDir(config.server.data_dir, 'shared') };
    } catch (err) {
      if (err instanceof DataDirLockUnusableError) throw new CliError(err.message, EX.NOPERM);
      if (!(err instanceof DataDirLockedError)) throw err;
    }
    const client = await connectAdmin(adminSocketPath(config), config.server.data_dir);
    if (client) return { client };
    if (Date.now() >= deadline) throw new CliError(unreachableServer(config), EX.TEMPFAIL);
    if (!told) {
      told = true;
      process.stderr.write(
        `a mailstack server holds the data directory ${config.server.data_dir} and does not answer on ${adminSocketPath(config)} yet: waiting up to ${SERVER_PATIENCE_MS / 1000} s for it to start or stop\n`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, SERVER_RETRY_MS));
  }
}

/** What to say when a server holds the data directory but nothing answers on the admin socket. */
export function unreachableServer(config: Config): string {
  return (
    `a mailstack server holds the data directory ${config.server.data_dir}, but nothing answers on the admin socket ${adminSocketPath(config)}: ` +
    'it may be starting or stopping (try again in a moment), it may run with another config whose admin_socket differs (pass that config with --config), ' +
    'or its socket file was deleted (restart the server to make a new one)'
  );
}

async function openStoreDirectly(config: Config, passphrase: string): Promise<Store> {
  let vault;
  try {
    vault = await openVault(config.server.data_dir, passphrase);
  } catch (err) {
    if (err instanceof VaultError) throw new CliError(err.message, exitCodeForVault(err));
    throw err;
  }
  try {
    // A command runs for seconds: no compaction timer (the server compacts; `mailstack store compact` asks it to).
    return await openStore({ dir: storeDir(config), key: vault.deriveKey('store'), compactEveryMs: 0 });
  } finally {
    vault.close();
  }
}

export async function withContext<T>(options: CommandOptions, run: (ctx: CommandContext) => Promise<T>): Promise<T> {
  const ctx = await openContext(options);
  try {
    return await run(ctx);
  } finally {
    await ctx.close();
  }
}
