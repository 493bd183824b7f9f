import type { Command } from 'commander';
import { mkdir, writeFile, access, chmod, rm } from 'node:fs/promises';
import { resolve, join } from 'node:path';
import { createVault, VaultError, DEFAULT_KDF } from '../../vault/index.ts';
import { openStore } from '../../store/index.ts';
import { parseConfig, storeDir } from '../../config/index.ts';
import { hostName } from '../../config/sections/common.ts';
import { CliError, EX } from '../errors.ts';
import { promptNewSecret, readSecretFile } from '../prompt.ts';
import { starterConfig } from '../starter-config.ts';

export interface InitOptions {
  dir: string;
  passphrase: string;
  hostname?: string;
  /** scrypt cost; lower only for throwaway instances and tests. */
  kdfN?: number;
  ports?: Parameters<typeof starterConfig>[0]['ports'];
  bind?: string;
}

/** Creates DIR/mailstack.toml, DIR/data (0700) with a new vault and an empty encrypted store. */
export async function initInstance(o: InitOptions): Promise<{ configFile: string; dataDir: string }> {
  const dir = resolve(o.dir);
  const configFile = join(dir, 'mailstack.toml');
  const dataDir = join(dir, 'data');
  if (await access(configFile).then(() => true, () => false)) {
    throw new CliError(`${configFile} already exists: refusing to overwrite it (choose another --dir)`, EX.CANTCREAT);
  }
  const hostname = o.hostname ?? 'mail.example.org';
  const checked = hostName.safeParse(hostname);
  if (!checked.success) throw new CliError(`--hostname ${JSON.stringify(hostname)}: ${checked.error.issues[0]?.message ?? 'not a host name'}`, EX.USAGE);
  const text = starterConfig({ dataDir: 'data', hostname, ...(o.ports ? { ports: o.ports } : {}), ...(o.bind ? { bind: o.bind } : {}) });
  const config = parseConfig(text, configFile); // the starter must always be valid
  // What this run creates goes again if it fails (a weak passphrase, say), so that the next try starts clean.
  const created = await mkdir(dir, { recursive: true });
  const createdDataDir = (await mkdir(dataDir, { recursive: true, mode: 0o700 })) !== undefined;
  try {
    await chmod(dataDir, 0o700);
    let vault;
    try {
      vault = await createVault(dataDir, o.passphrase, { ...DEFAULT_KDF, ...(o.kdfN ? { N: o.kdfN } : {}) });
    } catch (err) {
      if (err instanceof VaultError) throw new CliError(err.message, EX.USAGE);
      throw err;
    }
    const store = await openStore({ dir: storeDir(config), key: vault.deriveKey('store') });
    await store.close();
    vault.close();
    await writeFile(configFile, text, { mode: 0o640 });
  } catch (err) {
    if (createdDataDir) await rm(dataDir, { recursive: true, force: true });
    if (created !== undefined) await rm(created, { recursive: true, force: true });
    throw err;
  }
  return { configFile, dataDir };
}

export function register(program: Command): void {
  program
    .command('init')
    .description('create a config file and an encrypted data directory (asks for the vault passphrase)')
    .requiredOption('--dir <dir>', 'directory for mailstack.toml and data/')
    .option('--hostname <name>', "this server's host name", 'mail.example.org')
    .option('--kdf-n <N>', 'scrypt cost N, a power of two (default 131072; lower only for throwaway test instances)', (v) => Number(v))
    .action(async (opts: { dir: string; hostname: string; kdfN?: number }, cmd: Command) => {
      const globals = cmd.optsWithGlobals<{ passphraseFile?: string }>();
      if (opts.kdfN !== undefined && (!Number.isInteger(Math.log2(opts.kdfN)) || opts.kdfN < 1024)) {
        throw new CliError('--kdf-n must be a power of two of at least 1024', EX.USAGE);
      }
      const passphrase = globals.passphraseFile ? await readSecretFile(globals.passphraseFile) : await promptNewSecret('vault passphrase');
      const { configFile, dataDir } = await initInstance({ dir: opts.dir, passphrase, hostname: opts.hostname, ...(opts.kdfN ? { kdfN: opts.kdfN } : {}) });
      process.stdout.write(
        `created ${configFile}\ncreated ${dataDir} (encrypted; the passphrase unlocks it: keep it safe, it cannot be recovered)\n` +
          `next: edit the config, add a domain and a user (mailstack domain add / user add --config ${configFile}),\n` +
          `then start with \`mailstack serve --config ${configFile}\` and unlock with \`mailstack unlock\`\n`,
      );
    });
}
