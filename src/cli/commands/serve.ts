import type { Command } from 'commander';
import { startServer, type RunningServer } from '../../server/index.ts';
import { createLogger, type Logger } from '../../log/index.ts';
import { VaultError } from '../../vault/index.ts';
import { AdminSocketError } from '../../admin/index.ts';
import { DataDirLockedError, DataDirLockUnusableError } from '../../store/index.ts';
import { loadCommandConfig } from '../open-context.ts';
import { readSecretFile } from '../prompt.ts';
import { CliError, EX, exitCodeForVault } from '../errors.ts';

export function register(program: Command): void {
  program
    .command('serve')
    .description('run the server; it starts locked until `mailstack unlock` (or --passphrase-file, for unattended set-ups)')
    .action(async (_opts: unknown, cmd: Command) => {
      const globals = cmd.optsWithGlobals<{ config?: string; passphraseFile?: string }>();
      const { config } = loadCommandConfig(globals);
      const log = createLogger({ level: config.log.level, ...(config.log.file ? { destination: config.log.file } : {}) });
      const passphrase = globals.passphraseFile ? await readSecretFile(globals.passphraseFile) : undefined;
      const starting = startServer({ config, log, ...(passphrase !== undefined ? { passphrase } : {}) });
      // Signals are handled from the start: a SIGTERM while the listeners open or the vault unlocks waits for
      // that, then closes everything (the admin socket included) instead of dying with the socket left behind.
      stopOnSignals(starting, log);
      try {
        await starting;
      } catch (err) {
        throw startFailure(err);
      }
      await new Promise(() => {}); // run until a signal
    });
}

function stopOnSignals(starting: Promise<RunningServer>, log: Logger): void {
  const stop = async (signal: string) => {
    log.info({ event: 'stopping', signal }, 'stopping');
    // A start that failed has closed what it opened and reports its own exit status.
    const server = await starting.catch(() => null);
    if (!server) return;
    await server.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}

/** The error to show for a start that failed; startServer has already closed what it opened. */
function startFailure(err: unknown): unknown {
  if (err instanceof VaultError) return new CliError(err.message, exitCodeForVault(err));
  if (err instanceof DataDirLockedError) {
    return new CliError(
      `${err.message} (another \`serve\`, perhaps with another config, or an admin command working on the store directly): two servers on one data directory would both write its store; stop the other, or give this server its own [server] data_dir`,
      EX.TEMPFAIL,
    );
  }
  if (err instanceof DataDirLockUnusableError) return new CliError(err.message, EX.NOPERM);
  if (err instanceof AdminSocketError) return new CliError(err.message, err.code === 'in_use' ? EX.TEMPFAIL : EX.CONFIG);
  const e = err as Error & { code?: string };
  if (e.code === 'EADDRINUSE' || e.code === 'EACCES') return new CliError(`cannot listen: ${e.message}`, EX.CONFIG);
  return err;
}
