// `mailstack firewall export`: the access policy for the host firewall (PF or nftables): allow-lists per
// listener with countries resolved to networks, deny-lists, and the ban table. Cheap enough for a timer:
// the export works from the imported range table and merges adjacent ranges into the fewest CIDRs.
import { rename, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { withContext } from '../context.ts';
import { CliError, EX } from '../errors.ts';
import { GEOIP_SECRET, GeoTable, exportFirewall, firewallTables, type FirewallFormat } from '../../access/index.ts';
import type { Ban } from '../../store/types.ts';

export function register(program: Command): void {
  const firewall = program.command('firewall').description('export the access policy for PF or nftables');

  firewall
    .command('export')
    .description('write the allow-lists and the ban table as a pf.conf fragment (or one PF table file) or an nft script')
    .requiredOption('--format <format>', 'pf or nftables')
    .option('--out <file>', 'write here (atomically) instead of standard output')
    .option('--table <name>', 'only this table (e.g. mailstack_clients, mailstack_bans); with pf: a plain table file for `pfctl -t NAME -T replace -f FILE`')
    .action(async (opts: { format: string; out?: string; table?: string }, cmd: Command) => {
      if (opts.format !== 'pf' && opts.format !== 'nftables') throw new CliError(`--format: "${opts.format}" is not pf or nftables`, EX.USAGE);
      const format = opts.format as FirewallFormat;
      const now = Date.now();
      const { text, counts } = await withContext(cmd.optsWithGlobals(), async (ctx) => {
        const buf = await ctx.store.secrets.get(GEOIP_SECRET);
        const geo = buf ? GeoTable.deserialize(buf) : null;
        let bans: Ban[];
        try {
          bans = ctx.server ? ((await ctx.server.call('ban.list')) as Ban[]) : await ctx.store.bans.list(now);
        } catch (err) {
          if ((err as { code?: string }).code !== 'unknown_method') throw err;
          bans = await ctx.store.bans.list(now);
        }
        const input = { access: ctx.config.access, geo, bans, now };
        let text: string;
        try {
          text = exportFirewall(input, format, opts.table);
        } catch (err) {
          if ((err as { code?: string }).code === 'invalid') throw new CliError((err as Error).message, EX.USAGE);
          throw err;
        }
        const counts = firewallTables(input)
          .filter((t) => opts.table === undefined || t.name === opts.table || t.name === `mailstack_${opts.table}`)
          .map((t) => `${t.name}: ${t.v4.length} IPv4, ${t.v6.length} IPv6`);
        return { text, counts };
      });
      if (opts.out) {
        const tmp = `${opts.out}.tmp-${process.pid}`;
        await writeFile(tmp, text, { mode: 0o644 });
        await rename(tmp, opts.out);
        process.stderr.write(`wrote ${opts.out}: ${counts.join('; ')}\n`);
      } else {
        process.stdout.write(text);
      }
    });
}
