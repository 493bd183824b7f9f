// The `mailstack` command line. Each file in commands/ registers one command (or a family) on the program;
// they are loaded in name order so that adding a command never means editing this file.
import { Command, CommanderError } from 'commander';
import { readdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { join, dirname } from 'node:path';
import { CliError } from './errors.ts';

export type CommandModule = { register(program: Command): void };

const program = new Command('mailstack')
  .description('mailstack: a secure, self-hosted mail server (SMTP, IMAP, DKIM, an encrypted vault) in one program.')
  .option('-c, --config <file>', 'config file (default $MAILSTACK_CONFIG or ./mailstack.toml)')
  .option('--passphrase-file <file>', 'read the vault passphrase from this file instead of the terminal')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

const dir = join(dirname(fileURLToPath(import.meta.url)), 'commands');
for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts')).sort()) {
  const mod = (await import(pathToFileURL(join(dir, file)).href)) as Partial<CommandModule>;
  mod.register?.(program);
}

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode;
  } else if (err instanceof CliError) {
    process.stderr.write(`mailstack: ${err.message}\n`);
    process.exitCode = err.exitCode;
  } else {
    const e = err as Error & { code?: string };
    // Known error classes carry a code and a message written for the user; anything else is a bug.
    if (e && typeof e.code === 'string' && e.message) {
      process.stderr.write(`mailstack: ${e.message}\n`);
      process.exitCode = 1;
    } else {
      process.stderr.write(`mailstack: internal error: ${e?.stack ?? String(err)}\n`);
      process.exitCode = 70; // EX_SOFTWARE
    }
  }
}
