import { loadConfig, configPath, adminSocketPath, storeDir, ConfigError } from '../config/index.ts';
import { connectAdmin, remoteStore } from '../admin/index.ts';
import { openVault, VaultError } from '../vault/index.ts';
import { openStore } from '../store/index.ts';
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
  const client = await connectAdmin(adminSocketPath(config));
  if (client) {
    const status = (await client.call('status')) as { locked: boolean };
    if (status.locked) {
      client.close();
      throw new CliError('the server is running but locked: run `mailstack unlock` first', EX.TEMPFAIL);
    }
    return { config, configFile: file, store: remoteStore(client), server: client, close: async () => client.close() };
  }
  const passphrase = await readPassphrase(options.passphraseFile);
  let vault;
  try {
    vault = await openVault(config.server.data_dir, passphrase);
  } catch (err) {
    if (err instanceof VaultError) throw new CliError(err.message, exitCodeForVault(err));
    throw err;
  }
  // A command runs for seconds: no compaction timer (the server compacts; `mailstack store compact` asks it to).
  const store = await openStore({ dir: storeDir(config), key: vault.deriveKey('store'), compactEveryMs: 0 });
  vault.close();
  return { config, configFile: file, store, server: null, close: () => store.close() };
}

export async function withContext<T>(options: CommandOptions, run: (ctx: CommandContext) => Promise<T>): Promise<T> {
  const ctx = await openContext(options);
  try {
    return await run(ctx);
  } finally {
    await ctx.close();
  }
}
