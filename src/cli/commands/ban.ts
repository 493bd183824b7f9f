// `mailstack ban list|add|del|flush`: the ban table, like `pfctl -t bruteforce -T show|add|delete|flush`.
// With a running server the change goes through it (so it takes effect at once and closes the open
// connections of a banned source); with the server stopped it is written to the data directory directly.
import type { Command } from 'commander';
import { withContext, type CommandContext } from '../context.ts';
import { CliError, EX } from '../errors.ts';
import { AccessError, checkBanTarget, exemptNetworks, newBan, normaliseTarget, parseDuration } from '../../access/index.ts';
import type { Ban } from '../../store/types.ts';

/** Calls the server's access handler; null when no server runs or it has no access control wired in. */
async function viaServer(ctx: CommandContext, method: string, params: unknown): Promise<{ result: unknown } | null> {
  if (!ctx.server) return null;
  try {
    return { result: await ctx.server.call(method, params) };
  } catch (err) {
    const e = err as { code?: string; message?: string };
    if (e.code === 'unknown_method') return null;
    if (e.code === 'invalid' || e.code === 'exempt') throw new CliError(e.message ?? String(err), EX.USAGE);
    throw err;
  }
}

function usageErrors<T>(run: () => T): T {
  try {
    return run();
  } catch (err) {
    if (err instanceof AccessError) throw new CliError(err.message, EX.USAGE);
    throw err;
  }
}

function describe(ban: Ban, now: number): string {
  const expires = ban.expiresAt === 0 ? 'never expires' : `expires ${new Date(ban.expiresAt).toISOString()} (in ${formatSpan(ban.expiresAt - now)})`;
  return `${ban.target}  ${expires}, ban #${ban.count}: ${ban.reason}`;
}

function formatSpan(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

export function register(program: Command): void {
  const ban = program.command('ban').description('the ban table: sources refused on client listeners (like pfctl -t bruteforce)');

  ban
    .command('list')
    .alias('show')
    .description('list active bans')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const now = Date.now();
      const bans = await withContext(cmd.optsWithGlobals(), async (ctx) => {
        const r = await viaServer(ctx, 'ban.list', {});
        return r ? (r.result as Ban[]) : ctx.store.bans.list(now);
      });
      if (opts.json) {
        process.stdout.write(JSON.stringify(bans) + '\n');
        return;
      }
      if (bans.length === 0) process.stdout.write('no active bans\n');
      for (const b of bans) process.stdout.write(describe(b, now) + '\n');
    });

  ban
    .command('add <target>')
    .description('ban an address or network (e.g. 192.0.2.7, 2001:db8::/48) and close its open connections')
    .option('--duration <span>', 'how long: 90s, 30m, 1h, 7d, 2w, or "never" (default: grows with earlier bans, from [access] ban_s)')
    .option('--reason <text>', 'why (shown by `ban list`)', 'banned by the admin')
    .action(async (targetInput: string, opts: { duration?: string; reason: string }, cmd: Command) => {
      let durationMs: number | undefined;
      if (opts.duration !== undefined) {
        const d = parseDuration(opts.duration);
        if (d === null) throw new CliError(`--duration: "${opts.duration}" is not a duration (like 90s, 30m, 1h, 7d or never)`, EX.USAGE);
        durationMs = d;
      }
      const now = Date.now();
      const added = await withContext(cmd.optsWithGlobals(), async (ctx) => {
        const { target } = usageErrors(() => checkBanTarget(exemptNetworks(ctx.config.access), targetInput));
        const r = await viaServer(ctx, 'ban.add', { target, reason: opts.reason, ...(durationMs !== undefined ? { durationMs } : {}) });
        if (r) return r.result as Ban;
        const b = newBan(ctx.config.access, target, opts.reason, await ctx.store.bans.get(target), now, durationMs);
        await ctx.store.bans.put(b);
        return b;
      });
      process.stdout.write(`banned ${describe(added, now)}\n`);
    });

  ban
    .command('del <target>')
    .alias('delete')
    .description('remove a ban')
    .action(async (targetInput: string, _opts: unknown, cmd: Command) => {
      const target = normaliseTarget(targetInput);
      if (!target) throw new CliError(`"${targetInput}" is not an address or network`, EX.USAGE);
      const removed = await withContext(cmd.optsWithGlobals(), async (ctx) => {
        const r = await viaServer(ctx, 'ban.del', { target });
        return r ? (r.result as boolean) : ctx.store.bans.delete(target);
      });
      if (!removed) throw new CliError(`${target} is not banned (see: mailstack ban list)`, EX.NOUSER);
      process.stdout.write(`unbanned ${target}\n`);
    });

  ban
    .command('flush')
    .description('remove every ban')
    .action(async (_opts: unknown, cmd: Command) => {
      const n = await withContext(cmd.optsWithGlobals(), async (ctx) => {
        const r = await viaServer(ctx, 'ban.flush', {});
        return r ? (r.result as number) : ctx.store.bans.flush();
      });
      process.stdout.write(`${n} ban${n === 1 ? '' : 's'} removed\n`);
    });
}
