// `mailstack store verify|compact`: the mail store's upkeep. Through the running server when there is one,
// on the data directory otherwise (asking for the passphrase).
import type { Command } from 'commander';
import { withContext } from '../context.ts';
import { CliError, EX } from '../errors.ts';

function mebibytes(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

function ratioArg(input: string): number {
  const value = Number(input);
  if (input.trim() === '' || !(value >= 0 && value <= 1)) {
    throw new CliError(`--min-dead takes a share between 0 and 1 (0.5 means: files at least half dead), got "${input}"`, EX.USAGE);
  }
  return value;
}

export function register(program: Command): void {
  const store = program.command('store').description("the mail store's upkeep: check it, give deleted mail's space back");

  store
    .command('verify')
    .description('read every stored page and message body and check its authentication tag; exit 65 on damage')
    .action(async (_opts: unknown, cmd: Command) => {
      const result = await withContext(cmd.optsWithGlobals(), (ctx) => ctx.store.verify());
      if (result.ok) {
        process.stdout.write('store verified: every page and body authenticates\n');
        return;
      }
      for (const problem of result.problems) process.stdout.write(`problem: ${problem}\n`);
      throw new CliError(`the store has ${result.problems.length} problem(s); restore the damaged files from a backup`, EX.DATAERR);
    });

  store
    .command('compact')
    .description('rewrite the body files whose space is mostly deleted mail, merge small ones, and delete them (the server also does this hourly)')
    .option('--min-dead <share>', 'rewrite a file when at least this share of it is deleted mail (0 to 1)', '0.5')
    .option('--json', 'print the report as JSON')
    .action(async (opts: { minDead: string; json?: boolean }, cmd: Command) => {
      const minDeadRatio = ratioArg(opts.minDead);
      const report = await withContext(cmd.optsWithGlobals(), (ctx) => ctx.store.compact({ minDeadRatio }));
      if (opts.json) {
        process.stdout.write(JSON.stringify(report) + '\n');
        return;
      }
      if (report.files === 0) {
        process.stdout.write(`nothing to compact: no body file is ${Math.round(minDeadRatio * 100)}% deleted mail or more, nor are there small ones to merge\n`);
        return;
      }
      const merged = report.filesMerged > 0 ? ` (${report.filesMerged} small ones merged)` : '';
      process.stdout.write(
        `compacted ${report.files} body file(s)${merged}: ${mebibytes(report.bytesFreed)} deleted, ${report.bodiesMoved} message bodies (${mebibytes(report.bytesMoved)}) rewritten first\n`,
      );
    });
}
