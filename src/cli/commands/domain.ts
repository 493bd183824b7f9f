// `mailstack domain add|list|del`: the domains mailstack receives mail for (Postfix virtual_mailbox_domains).
import type { Command } from 'commander';
import { withContext } from '../context.ts';
import { CliError, EX } from '../errors.ts';
import { AddressError, normalizeDomain } from '../../accounts/index.ts';
import { StoreError } from '../../store/types.ts';

function domainArg(input: string): string {
  try {
    return normalizeDomain(input);
  } catch (err) {
    if (err instanceof AddressError) throw new CliError(`${err.message}`, EX.USAGE);
    throw err;
  }
}

export function register(program: Command): void {
  const domain = program.command('domain').description('manage the domains mailstack receives mail for');

  domain
    .command('add <domain>')
    .description('add a domain (then add its users and aliases)')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const d = domainArg(name);
      await withContext(cmd.optsWithGlobals(), async (ctx) => {
        try {
          await ctx.store.accounts.addDomain(d);
        } catch (err) {
          if (err instanceof StoreError && err.code === 'exists') throw new CliError(`domain ${d} already exists`, EX.DATAERR);
          throw err;
        }
      });
      process.stdout.write(`added domain ${d}\n`);
      // RFC 5321 4.5.1: every mail domain must accept mail for postmaster.
      process.stdout.write(`next: mailstack user add you@${d}, then mailstack alias add postmaster@${d} you@${d} (RFC 5321 requires postmaster)\n`);
    });

  domain
    .command('list')
    .description('list the domains with their number of users and aliases')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const rows = await withContext(cmd.optsWithGlobals(), async (ctx) => {
        const domains = await ctx.store.accounts.listDomains();
        return Promise.all(
          domains.map(async (d) => ({
            name: d.name,
            users: (await ctx.store.accounts.listUsers(d.name)).length,
            aliases: (await ctx.store.accounts.listAliases(d.name)).length,
          })),
        );
      });
      if (opts.json) {
        process.stdout.write(JSON.stringify(rows) + '\n');
        return;
      }
      if (rows.length === 0) {
        process.stdout.write('no domains (add one with: mailstack domain add example.org)\n');
        return;
      }
      const width = Math.max(...rows.map((r) => r.name.length));
      for (const r of rows) process.stdout.write(`${r.name.padEnd(width)}  ${r.users} user(s)  ${r.aliases} alias(es)\n`);
    });

  domain
    .command('del <domain>')
    .alias('delete')
    .description('delete a domain; refuses while it has users or aliases unless --force')
    .option('--force', 'also delete every user of the domain with all their mail, and its aliases')
    .action(async (name: string, opts: { force?: boolean }, cmd: Command) => {
      const d = domainArg(name);
      await withContext(cmd.optsWithGlobals(), async (ctx) => {
        try {
          await ctx.store.accounts.deleteDomain(d, { force: opts.force === true });
        } catch (err) {
          if (err instanceof StoreError && err.code === 'not_found') throw new CliError(`domain ${d} does not exist (see: mailstack domain list)`, EX.NOUSER);
          if (err instanceof StoreError && err.code === 'in_use') {
            throw new CliError(`${err.message.replace(/, or force$/, '')}, or pass --force to delete them and all their mail`, EX.DATAERR);
          }
          throw err;
        }
        // Aliases of other domains that pointed into this one now point outside our domains: their mail
        // would be forwarded to the Internet from now on. Said aloud, as `user del` does for its aliases.
        const outward = (await ctx.store.accounts.listAliases()).filter((a) => a.destination.toLowerCase().endsWith(`@${d}`));
        for (const a of outward) {
          process.stderr.write(`mailstack: warning: alias ${a.source} still points to ${a.destination}, which is no longer a local address: its mail would be forwarded to that domain's MX (remove it with: mailstack alias del ${a.source} ${a.destination})\n`);
        }
      });
      process.stdout.write(`deleted domain ${d}\n`);
    });
}
