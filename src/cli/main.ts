// The `mailstack` command line. Each file in commands/ registers one command (or a family) on the program;
// they are loaded in name order so that adding a command never means editing this file.
import { Command, CommanderError } from 'commander';
import { readdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { join, dirname } from 'node:path';
import { CliError, EX } from './errors.ts';
import { AdminCallError } from '../admin/index.ts';

/** sysexits.h: the command was used incorrectly. */
const EX_USAGE = 64;

export type CommandModule = { register(program: Command): void };

const program = new Command('mailstack')
  .description('mailstack: a secure, self-hosted mail server (SMTP, IMAP, DKIM, an encrypted vault) in one program.')
  .option('-c, --config <file>', 'config file (default $MAILSTACK_CONFIG or ./mailstack.toml)')
  .option('--passphrase-file <file>', 'read the vault passphrase from this file instead of the terminal')
  .showHelpAfterError('(run with --help for usage)')
  // Each command's --help lists --config and --passphrase-file too: they are given after the command as often
  // as before it. Set before the commands are registered, which copy it.
  .configureHelp({ showGlobalOptions: true })
  .exitOverride();

const dir = join(dirname(fileURLToPath(import.meta.url)), 'commands');
const files = readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts')).sort();
// A command lives in the file of its name (commands/queue.ts registers `queue`). Loading only that file keeps
// a command's start fast (the server's and the store's modules are heavy); help and unknown names load all.
const named = process.argv.slice(2).find((a) => !a.startsWith('-') && !isOptionValue(a));
const only = named && files.includes(`${named}.ts`) ? [`${named}.ts`] : files;
for (const file of only) {
  const mod = (await import(pathToFileURL(join(dir, file)).href)) as Partial<CommandModule>;
  mod.register?.(program);
}

/** True when `arg` is the value of a global option that takes one (`--config FILE`). */
function isOptionValue(arg: string): boolean {
  const args = process.argv.slice(2);
  const i = args.indexOf(arg);
  const before = i > 0 ? args[i - 1] : undefined;
  return before === '-c' || before === '--config' || before === '--passphrase-file';
}

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // --help and --version end with 0; everything else Commander reports (an unknown command or option, a
    // missing argument, one too many) is a usage error: EX_USAGE, as the other commands' usage errors.
    process.exitCode = err.exitCode === 0 ? 0 : EX_USAGE;
  } else if (err instanceof CliError) {
    process.stderr.write(`mailstack: ${err.message}\n`);
    process.exitCode = err.exitCode;
  } else if (err instanceof AdminCallError && (err.code === 'timeout' || err.code === 'disconnected' || err.code === 'untrusted')) {
    // The server stopped answering, or went away, in the middle of a command: try again later. Or the socket
    // is not the server's (client.ts checkSocketOwner): a permission problem, nothing was sent.
    process.stderr.write(`mailstack: ${err.message}\n`);
    process.exitCode = err.code === 'timeout' ? EX.TEMPFAIL : err.code === 'untrusted' ? EX.NOPERM : EX.UNAVAILABLE;
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
