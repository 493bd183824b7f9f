import type { Command } from 'commander';
import { connectAdmin, AdminCallError } from '../../admin/index.ts';
import { adminSocketPath } from '../../config/index.ts';
import { loadCommandConfig, unreachableServer } from '../open-context.ts';
import { dataDirHeldByServer } from '../../store/index.ts';
import { readPassphrase } from '../prompt.ts';
import { CliError, EX } from '../errors.ts';
import type { ServerStatus } from '../../server/index.ts';

export function register(program: Command): void {
  program
    .command('unlock')
    .description('hand the vault passphrase to the running server over its admin socket')
    .action(async (_opts: unknown, cmd: Command) => {
      const globals = cmd.optsWithGlobals<{ config?: string; passphraseFile?: string }>();
      const { config } = loadCommandConfig(globals);
      const client = await connectAdmin(adminSocketPath(config), config.server.data_dir);
      if (!client) {
        if (dataDirHeldByServer(config.server.data_dir)) throw new CliError(unreachableServer(config), EX.UNAVAILABLE);
        throw new CliError(`no server is running (nothing answers on ${adminSocketPath(config)}): start it with \`mailstack serve\``, EX.UNAVAILABLE);
      }
      try {
        const before = (await client.call('status')) as ServerStatus;
        if (!before.locked) {
          process.stdout.write('already unlocked\n');
          return;
        }
        const passphrase = await readPassphrase(globals.passphraseFile);
        try {
          await client.call('unlock', { passphrase });
        } catch (err) {
          if (err instanceof AdminCallError && err.code === 'wrong_passphrase') throw new CliError(err.message, EX.NOPERM);
          throw err;
        }
        process.stdout.write('unlocked: the server accepts mail now\n');
      } finally {
        client.close();
      }
    });
}
