import type { Command } from 'commander';
import { changePassphrase, VaultError } from '../../vault/index.ts';
import { loadCommandConfig } from '../open-context.ts';
import { readPassphrase, readSecretFile, promptNewSecret } from '../prompt.ts';
import { CliError, EX } from '../errors.ts';

export function register(program: Command): void {
  const cmd = program.command('passphrase').description('manage the vault passphrase');
  cmd
    .command('change')
    .description('re-wrap the master key under a new passphrase (the data is not re-encrypted)')
    .option('--new-passphrase-file <file>', 'read the new passphrase from this file')
    .action(async (opts: { newPassphraseFile?: string }, sub: Command) => {
      const globals = sub.optsWithGlobals<{ config?: string; passphraseFile?: string }>();
      const { config } = loadCommandConfig(globals);
      const oldPassphrase = await readPassphrase(globals.passphraseFile);
      const newPassphrase = opts.newPassphraseFile ? await readSecretFile(opts.newPassphraseFile) : await promptNewSecret('vault passphrase');
      try {
        await changePassphrase(config.server.data_dir, oldPassphrase, newPassphrase);
      } catch (err) {
        if (err instanceof VaultError) throw new CliError(err.message, err.code === 'wrong_passphrase' ? EX.NOPERM : EX.USAGE);
        throw err;
      }
      process.stdout.write('passphrase changed\n');
    });
}
