import { loadConfig, configPath, adminSocketPath, storeDir, ConfigError, type Config } from '../config/index.ts';
import { connectAdmin, remoteStore } from '../admin/index.ts';
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
  if (client) {
    const status = (await client.call('status')) as { locked: boolean };
    if (status.locked) {
      client.close();
      throw new CliError('the server is running but locked: run `mailstack unlock` first', EX.TEMPFAIL);
    }
    return { config, configFile: file, store: remoteStore(client), server: client, close: async () => client.close() };
  }
  // Said before the lock, whose file would otherwise be the first thing created in a mistyped data_dir.
  if (!(await vaultExists(config.server.data_dir))) throw new CliError(`no vault in ${config.server.data_dir}: create one with \`mailstack init --dir DIR\``, EX.CONFIG);
  // Asked before the lock: a prompt left open (or a passphrase file that never comes) must not keep a
  // server from starting.
  const passphrase = await readPassphrase(options.passphraseFile);
  const lock = lockForDirectMode(config);
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

/** A shared hold on the data directory: other direct-mode commands may run beside this one, a server may not. */
function lockForDirectMode(config: Config): DataDirLock {
  try {
    return lockDataDir(config.server.data_dir, 'shared');
  } catch (err) {
    if (err instanceof DataDirLockUnusableError) throw new CliError(err.message, EX.NOPERM);
    if (!(err instanceof DataDirLockedError)) throw err;
    throw new CliError(unreachableServer(config), EX.TEMPFAIL);
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
