// `mailstack geoip import|status|lookup`: the GeoIP database behind the country allow-lists. The import reads
// MaxMind GeoLite2 Country in either form a user downloads (the CSV set: Blocks-IPv4, Blocks-IPv6, Locations;
// or the .mmdb), keeps a compact range table encrypted in the vault, and has a running server reload it.
import type { Command } from 'commander';
import { withContext, type CommandContext } from '../context.ts';
import { CliError, EX } from '../errors.ts';
import { GEOIP_SECRET, GeoDataError, GeoTable, countryIndex, importGeoFiles, networksFor, parseIp } from '../../access/index.ts';
import type { GeoSource, GeoStats } from '../../access/index.ts';

async function storedTable(ctx: CommandContext): Promise<GeoTable | null> {
  const buf = await ctx.store.secrets.get(GEOIP_SECRET);
  if (!buf) return null;
  try {
    return GeoTable.deserialize(buf);
  } catch (err) {
    if (err instanceof GeoDataError) throw new CliError(err.message, EX.DATAERR);
    throw err;
  }
}

/** Every country the config names, with where. */
function configuredCountries(ctx: CommandContext): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const add = (cc: string, where: string) => out.set(cc.toUpperCase(), [...(out.get(cc.toUpperCase()) ?? []), where]);
  for (const cc of ctx.config.access.client_countries) add(cc, 'client_countries');
  for (const [name, l] of Object.entries(ctx.config.access.listeners)) {
    for (const cc of l.allow_countries ?? []) add(cc, `listeners.${name}.allow_countries`);
    for (const cc of l.deny_countries) add(cc, `listeners.${name}.deny_countries`);
  }
  return out;
}

function summary(stats: GeoStats, source: GeoSource): string {
  return `${source.rangesRead} ranges read from ${source.files.join(', ')}: ${stats.v4Ranges} IPv4 and ${stats.v6Ranges} IPv6 ranges after merging, ${stats.countries} countries, ${(stats.bytes / 1048576).toFixed(1)} MiB`;
}

export function register(program: Command): void {
  const geoip = program.command('geoip').description('the GeoIP database for the country allow-lists ([access] client_countries)');

  geoip
    .command('import <files...>')
    .description('import MaxMind GeoLite2 Country: the CSV files (Blocks-IPv4, Blocks-IPv6, Locations-en) or a .mmdb')
    .action(async (files: string[], _opts: unknown, cmd: Command) => {
      const started = performance.now();
      let table: GeoTable;
      try {
        table = await importGeoFiles(files);
      } catch (err) {
        if (err instanceof GeoDataError) throw new CliError(err.message, EX.DATAERR);
        throw err;
      }
      const parsedMs = performance.now() - started;
      await withContext(cmd.optsWithGlobals(), async (ctx) => {
        await ctx.store.secrets.put(GEOIP_SECRET, table.serialize());
        process.stdout.write(`imported in ${Math.round(parsedMs)} ms: ${summary(table.stats(), table.source)}\n`);
        for (const [cc, where] of configuredCountries(ctx)) {
          const n = networksFor(table, new Set([countryIndex(cc)]), []);
          const line = `  ${cc}: ${n.v4.length} IPv4 and ${n.v6.length} IPv6 networks (${where.join(', ')})`;
          process.stdout.write(n.v4.length + n.v6.length === 0 ? `${line}: none in this database, check the code\n` : `${line}\n`);
        }
        if (!ctx.server) {
          process.stdout.write('stored in the vault: the server loads it when it is unlocked\n');
          return;
        }
        try {
          const loaded = (await ctx.server.call('geoip.reload')) as (GeoStats & { source: GeoSource }) | null;
          process.stdout.write(loaded ? `the running server reloaded it: ${loaded.v4Ranges + loaded.v6Ranges} ranges, ${loaded.countries} countries\n` : 'the running server found no table\n');
        } catch (err) {
          if ((err as { code?: string }).code !== 'unknown_method') throw err;
          process.stdout.write('stored in the vault: this server has no access control wired in; it loads the table at its next start\n');
        }
      });
    });

  geoip
    .command('status')
    .description('what GeoIP database is imported')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await withContext(cmd.optsWithGlobals(), async (ctx) => {
        const table = await storedTable(ctx);
        if (opts.json) {
          process.stdout.write(JSON.stringify(table ? { ...table.stats(), source: table.source } : null) + '\n');
          return;
        }
        if (!table) {
          process.stdout.write('no GeoIP database imported: country allow-lists are not enforced (mailstack geoip import FILE...)\n');
          return;
        }
        process.stdout.write(`${summary(table.stats(), table.source)}; imported ${new Date(table.source.importedAt).toISOString()}\n`);
      });
    });

  geoip
    .command('lookup <addresses...>')
    .description('the country of each address in the imported database')
    .action(async (addresses: string[], _opts: unknown, cmd: Command) => {
      await withContext(cmd.optsWithGlobals(), async (ctx) => {
        const table = await storedTable(ctx);
        if (!table) throw new CliError('no GeoIP database imported (mailstack geoip import FILE...)', EX.NOINPUT);
        for (const a of addresses) {
          if (!parseIp(a)) throw new CliError(`"${a}" is not an IP address`, EX.USAGE);
          process.stdout.write(`${a} ${table.lookupText(a) ?? '--'}\n`);
        }
      });
    });
}
