// `mailstack export maildir`: an account's mail as plain Maildir++ that Dovecot (or any Maildir reader)
// can use directly: no lock-in.
import type { Command } from 'commander';
import { readdir } from 'node:fs/promises';
import { withContext } from '../context.ts';
import { CliError, EX } from '../errors.ts';
import { progressBar } from '../progress.ts';
import { AddressError, exportMaildir, normalizeAddress } from '../../accounts/index.ts';

export function register(program: Command): void {
  const exp = program.command('export').description('export an account to a standard format');
  exp
    .command('maildir')
    .description('write an account as Maildir++ (flags in file names, dovecot-keywords, dovecot-uidlist with the UIDs)')
    .requiredOption('--user <address>', 'the account to export')
    .requiredOption('--out <dir>', 'the Maildir to create (e.g. /var/vmail/example.org/user/Maildir); must be new or empty')
    .action(async (opts: { user: string; out: string }, cmd: Command) => {
      let address: string;
      try {
        address = normalizeAddress(opts.user);
      } catch (err) {
        if (err instanceof AddressError) throw new CliError(`--user: ${err.message}`, EX.USAGE);
        throw err;
      }
      let entries: string[] = [];
      try {
        entries = await readdir(opts.out);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new CliError(`--out ${opts.out}: ${(err as Error).message}`, EX.CANTCREAT);
      }
      if (entries.length > 0) throw new CliError(`--out ${opts.out} is not empty: export into a new directory (mail there is never overwritten)`, EX.CANTCREAT);
      const result = await withContext(cmd.optsWithGlobals(), async (ctx) => {
        const user = await ctx.store.accounts.getUser(address);
        if (!user) throw new CliError(`no user ${address} (see: mailstack user list)`, EX.NOUSER);
        const total = (await ctx.store.mail.quotaUsage(user.id)).messages;
        const bar = progressBar(`exporting ${address}`);
        let done = 0;
        try {
          return await exportMaildir(ctx.store, user, opts.out, () => bar.update(++done, total));
        } finally {
          bar.done();
        }
      });
      for (const p of result.problems) process.stderr.write(`mailstack: warning: ${p.path}: ${p.reason}\n`);
      process.stdout.write(`exported ${result.messages} message(s) in ${result.mailboxes} mailbox(es) of ${address} to ${opts.out}\n`);
      if (result.problems.length > 0) process.exitCode = EX.DATAERR;
    });
}
