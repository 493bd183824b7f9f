// `mailstack queue list|show|flush|retry|delete`: the outbound queue, like Postfix's postqueue -p / -f / -i
// and postsuper -d. Works on a running server (flush wakes its queue at once) or on the data directory.
import type { Command } from 'commander';
import { withContext } from '../context.ts';
import { CliError, EX } from '../errors.ts';
import type { QueueEntry } from '../../store/types.ts';

function formatSize(bytes: number): string {
  return bytes < 10_240 ? `${bytes}` : `${Math.round(bytes / 1024)}K`;
}

function formatEntry(e: QueueEntry): string {
  const arrival = new Date(e.createdAt).toISOString().replace('T', ' ').slice(0, 19);
  const lines = [`${e.id.padEnd(12)} ${formatSize(e.size).padStart(8)} ${arrival}  ${e.sender === '' ? 'MAILER-DAEMON' : e.sender}`];
  for (const r of e.recipients) {
    if (r.state === 'deferred' && r.lastError) lines.push(`${' '.repeat(42)}(${r.lastError})`);
    const mark = r.state === 'pending' || r.state === 'deferred' ? '' : ` [${r.state}]`;
    lines.push(`${' '.repeat(42)}${r.address}${mark}`);
  }
  return lines.join('\n');
}

async function flushVia(cmd: Command, id: string | undefined): Promise<void> {
  const { count, running } = await withContext(cmd.optsWithGlobals(), async (ctx) => {
    if (id !== undefined && !(await ctx.store.queue.get(id))) throw new CliError(`no message ${id} in the queue (see: mailstack queue list)`, EX.NOINPUT);
    if (ctx.server) {
      try {
        const r = (await ctx.server.call('queue.flush', id === undefined ? {} : { id })) as { count: number };
        return { count: r.count, running: true };
      } catch (err) {
        // A server without a running queue (still starting, or queue disabled): mark the mail due in the
        // store; the queue picks it up when it runs.
        if ((err as { code?: string }).code !== 'unknown_method') throw err;
      }
    }
    return { count: await ctx.store.queue.retryAll(id), running: false };
  });
  process.stdout.write(`${count} recipient(s) due now${running ? '' : ' (no server is running: they go out when it starts)'}\n`);
}

export function register(program: Command): void {
  const queue = program.command('queue').description('the outbound mail queue (postqueue/postsuper)');

  queue
    .command('list')
    .description('list queued messages with their recipients and last errors (postqueue -p)')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const entries = await withContext(cmd.optsWithGlobals(), (ctx) => ctx.store.queue.list());
      if (opts.json) {
        process.stdout.write(JSON.stringify(entries) + '\n');
        return;
      }
      if (entries.length === 0) {
        process.stdout.write('Mail queue is empty\n');
        return;
      }
      process.stdout.write(`${'-Queue ID-'.padEnd(12)} ${'-Size-'.padStart(8)} ${'-Arrival Time (UTC)-'.padEnd(19)}  -Sender/Recipient-\n`);
      for (const e of entries) process.stdout.write(formatEntry(e) + '\n\n');
      const kbytes = Math.ceil(entries.reduce((n, e) => n + e.size, 0) / 1024);
      process.stdout.write(`-- ${kbytes} Kbytes in ${entries.length} Request${entries.length === 1 ? '' : 's'}.\n`);
    });

  queue
    .command('show <id>')
    .description('show one queued message: recipients, states, errors, and its headers (--raw: all of it)')
    .option('--raw', 'print the whole message as queued')
    .action(async (id: string, opts: { raw?: boolean }, cmd: Command) => {
      const found = await withContext(cmd.optsWithGlobals(), async (ctx) => {
        const entry = await ctx.store.queue.get(id);
        return entry ? { entry, raw: await ctx.store.queue.getRaw(id) } : null;
      });
      if (!found) throw new CliError(`no message ${id} in the queue (see: mailstack queue list)`, EX.NOINPUT);
      if (opts.raw) {
        process.stdout.write(found.raw);
        return;
      }
      const { entry, raw } = found;
      const out = [
        `id:       ${entry.id}`,
        `sender:   ${entry.sender === '' ? '<> (a bounce)' : entry.sender}`,
        `arrival:  ${new Date(entry.createdAt).toISOString()}`,
        `size:     ${entry.size} bytes`,
        'recipients:',
        ...entry.recipients.map((r) =>
          [
            `  ${r.address}: ${r.state}, ${r.attempts} attempt(s)` + (r.state === 'pending' || r.state === 'deferred' ? `, next ${new Date(r.nextAttemptAt).toISOString()}` : ''),
            ...(r.remoteMta ? [`    remote MTA: ${r.remoteMta}`] : []),
            ...(r.lastError ? [`    last error: ${r.lastError}`] : []),
          ].join('\n'),
        ),
        '',
      ];
      const end = raw.indexOf('\r\n\r\n');
      process.stdout.write(out.join('\n') + '\n' + raw.subarray(0, end === -1 ? raw.length : end).toString() + '\n');
    });

  queue
    .command('flush [id]')
    .description('retry every deferred message now, or only one (postqueue -f / -i ID)')
    .action(async (id: string | undefined, _opts: unknown, cmd: Command) => flushVia(cmd, id));

  queue
    .command('retry <id>')
    .description('retry one message now (postqueue -i ID)')
    .action(async (id: string, _opts: unknown, cmd: Command) => flushVia(cmd, id));

  queue
    .command('delete <ids...>')
    .description('remove messages from the queue without a bounce; ALL removes every message (postsuper -d)')
    .action(async (ids: string[], _opts: unknown, cmd: Command) => {
      const { deleted, missing } = await withContext(cmd.optsWithGlobals(), async (ctx) => {
        const targets = ids.length === 1 && ids[0] === 'ALL' ? (await ctx.store.queue.list()).map((e) => e.id) : ids;
        let deleted = 0;
        const missing: string[] = [];
        for (const id of targets) {
          if (await ctx.store.queue.delete(id)) deleted++;
          else missing.push(id);
        }
        return { deleted, missing };
      });
      process.stdout.write(`deleted ${deleted} message(s)\n`);
      if (missing.length > 0) throw new CliError(`not in the queue: ${missing.join(', ')}`, EX.NOINPUT);
    });
}
