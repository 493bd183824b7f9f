// `mailstack alias add|list|del`: Postfix's virtual alias map. A source is an address or "@domain" (a
// catch-all, which never takes mail for an existing user); destinations are local users, other aliases
// or outside addresses (forwarded through the queue).
import type { Command } from 'commander';
import { withContext } from '../context.ts';
import { CliError, EX } from '../errors.ts';
import { AddressError, normalizeAddress, normalizeAliasSource, normalizeDomain, resolveRecipient } from '../../accounts/index.ts';
import { StoreError, type Store } from '../../store/types.ts';

function parseOr(kind: string, input: string, parse: (s: string) => string): string {
  try {
    return parse(input);
  } catch (err) {
    if (err instanceof AddressError) throw new CliError(`${kind}: ${err.message}`, EX.USAGE);
    throw err;
  }
}

/**
 * Takes back the entries just added when the source now expands beyond the alias limits: mail to it would
 * be refused (4.6.0 Alias expansion error) until the table is fixed, so the table is not broken in the
 * first place. Checks the source only: a catch-all (no address to resolve), and other aliases that
 * include this one, are not checked here; delivery still refuses them visibly.
 */
async function refuseOverLimit(store: Store, source: string, added: readonly string[]): Promise<void> {
  if (source.startsWith('@') || added.length === 0) return;
  const r = await resolveRecipient(store, source);
  if (r.status !== 'expansion_error') return;
  for (const destination of added) await store.accounts.deleteAlias(source, destination);
  throw new CliError(
    `${source}: not added: ${r.detail}, and mail to it would be refused; split the list, or point it at fewer, flatter aliases (see: mailstack alias list)`,
    EX.DATAERR,
  );
}

export function register(program: Command): void {
  const alias = program.command('alias').description('manage aliases, catch-alls (@domain) and forwards');

  alias
    .command('add <source> <destinations...>')
    .description('add an alias: SOURCE (local@domain, or @domain for a catch-all) to one or more destinations')
    .action(async (sourceInput: string, destInputs: string[], _opts: unknown, cmd: Command) => {
      const source = parseOr('source', sourceInput, normalizeAliasSource);
      // Postfix's virtual map also accepts "a, b" as one argument: split on commas too.
      const destinations = [...new Set(destInputs.flatMap((d) => d.split(',')).map((d) => d.trim()).filter((d) => d !== '').map((d) => parseOr('destination', d, normalizeAddress)))];
      if (destinations.length === 0) throw new CliError('give at least one destination address', EX.USAGE);
      const warnings: string[] = [];
      await withContext(cmd.optsWithGlobals(), async (ctx) => {
        const domain = source.slice(source.lastIndexOf('@') + 1);
        if (!(await ctx.store.accounts.hasDomain(domain))) {
          throw new CliError(`${domain} is not one of our domains: add it first with \`mailstack domain add ${domain}\``, EX.NOUSER);
        }
        const added: string[] = [];
        for (const destination of destinations) {
          try {
            await ctx.store.accounts.addAlias(source, destination);
          } catch (err) {
            if (err instanceof StoreError && err.code === 'exists') {
              warnings.push(`${source} -> ${destination} already exists`);
              continue;
            }
            throw err;
          }
          added.push(destination);
          const r = await resolveRecipient(ctx.store, destination);
          if (r.status === 'unknown') warnings.push(`${destination} does not reach anyone yet (no such user or alias): mail to ${source} for it will bounce`);
        }
        await refuseOverLimit(ctx.store, source, added);
      });
      for (const w of warnings) process.stderr.write(`mailstack: warning: ${w}\n`);
      process.stdout.write(`${source} -> ${destinations.join(', ')}\n`);
    });

  alias
    .command('list [domain]')
    .description('list aliases (source -> destinations)')
    .option('--json', 'print JSON')
    .action(async (domainInput: string | undefined, opts: { json?: boolean }, cmd: Command) => {
      const domain = domainInput === undefined ? undefined : parseOr('domain', domainInput, normalizeDomain);
      const aliases = await withContext(cmd.optsWithGlobals(), (ctx) =>
        // No argument at all for every domain: through the admin socket an undefined argument arrives as null.
        domain === undefined ? ctx.store.accounts.listAliases() : ctx.store.accounts.listAliases(domain),
      );
      if (opts.json) {
        process.stdout.write(JSON.stringify(aliases) + '\n');
        return;
      }
      if (aliases.length === 0) {
        process.stdout.write(`no aliases${domain ? ` in ${domain}` : ''}\n`);
        return;
      }
      const grouped = new Map<string, string[]>();
      for (const a of aliases) grouped.set(a.source, [...(grouped.get(a.source) ?? []), a.destination]);
      const width = Math.max(...[...grouped.keys()].map((s) => s.length));
      for (const [source, dests] of grouped) process.stdout.write(`${source.padEnd(width)}  ${dests.join(', ')}\n`);
    });

  alias
    .command('del <source> [destinations...]')
    .alias('delete')
    .description('delete an alias: every destination of SOURCE, or only the ones given')
    .action(async (sourceInput: string, destInputs: string[], _opts: unknown, cmd: Command) => {
      const source = parseOr('source', sourceInput, normalizeAliasSource);
      const destinations = destInputs.flatMap((d) => d.split(',')).map((d) => d.trim()).filter((d) => d !== '').map((d) => parseOr('destination', d, normalizeAddress));
      const deleted = await withContext(cmd.optsWithGlobals(), async (ctx) => {
        if (destinations.length === 0) return ctx.store.accounts.deleteAlias(source);
        let n = 0;
        for (const d of destinations) n += await ctx.store.accounts.deleteAlias(source, d);
        return n;
      });
      if (deleted === 0) throw new CliError(`no alias ${source}${destinations.length ? ` -> ${destinations.join(', ')}` : ''} (see: mailstack alias list)`, EX.NOUSER);
      process.stdout.write(`deleted ${deleted} alias entr${deleted === 1 ? 'y' : 'ies'} of ${source}\n`);
    });
}
