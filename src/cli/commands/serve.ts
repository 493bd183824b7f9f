import type { Command } from 'commander';
import { startServer } from '../../server/index.ts';
import { createLogger } from '../../log/index.ts';
import { VaultError } from '../../vault/index.ts';
import { AdminSocketError } from '../../admin/index.ts';
import { loadCommandConfig } from '../open-context.ts';
import { readSecretFile } from '../prompt.ts';
import { CliError, EX } from '../errors.ts';

export function register(program: Command): void {
  program
    .command('serve')
    .description('run the server; it starts locked until `mailstack unlock` (or --passphrase-file, for unattended set-ups)')
    .action(async (_opts: unknown, cmd: Command) => {
      const globals = cmd.optsWithGlobals<{ config?: string; passphraseFile?: string }>();
      const { config } = loadCommandConfig(globals);
      const log = createLogger({ level: config.log.level, ...(config.log.file ? { destination: config.log.file } : {}) });
      const passphrase = globals.passphraseFile ? await readSecretFile(globals.passphraseFile) : undefined;
      let server;
      try {
        server = await startServer({ config, log, ...(passphrase !== undefined ? { passphrase } : {}) });
      } catch (err) {
        if (err instanceof VaultError) throw new CliError(err.message, EX.NOPERM);
        if (err instanceof AdminSocketError) throw new CliError(err.message, err.code === 'in_use' ? EX.TEMPFAIL : EX.CONFIG);
        const e = err as Error & { code?: string };
        if (e.code === 'EADDRINUSE' || e.code === 'EACCES') throw new CliError(`cannot listen: ${e.message}`, EX.CONFIG);
        throw err;
      }
      const stop = async (signal: string) => {
        log.info({ event: 'stopping', signal }, 'stopping');
        await server.close();
        process.exit(0);
      };
      process.once('SIGTERM', () => void stop('SIGTERM'));
      process.once('SIGINT', () => void stop('SIGINT'));
      await new Promise(() => {}); // run until a signal
    });
}
