import type { Command } from 'commander';
import { loadCommandConfig } from '../open-context.ts';

export function register(program: Command): void {
  const cmd = program.command('config').description('work with the config file');
  cmd
    .command('check')
    .description('validate the config file without starting anything')
    .action((_opts: unknown, sub: Command) => {
      const { file } = loadCommandConfig(sub.optsWithGlobals());
      process.stdout.write(`${file}: ok\n`);
    });
}
