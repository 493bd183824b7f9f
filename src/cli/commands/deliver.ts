// `mailstack deliver`: local delivery of one message read from stdin, like Dovecot's LDA (dovecot-lda) or
// Postfix's local(8) pipe targets. Exit codes are sysexits.h, which MTAs read: 0 delivered, 67 EX_NOUSER
// (unknown recipient: bounce), 75 EX_TEMPFAIL (store locked or unavailable: retry later), 77 EX_NOPERM
// (mailbox full and [store] over_quota = "permanent"), 65 EX_DATAERR (message too big or empty).
import type { Command } from 'commander';
import { withContext } from '../context.ts';
import { CliError, EX } from '../errors.ts';
import { loadCommandConfig } from '../open-context.ts';
import { deliverLocal, headerValues, toCrlf } from '../../delivery/index.ts';
import { silentLogger } from '../../log/index.ts';

async function readStdin(maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw new CliError(`message on stdin is larger than [store] max_message_bytes (${maxBytes} bytes)`, EX.DATAERR);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function register(program: Command): void {
  program
    .command('deliver')
    .description('deliver a message from stdin to local recipients (like dovecot-lda); exit codes follow sysexits.h')
    // Not requiredOption: commander counts the [] default as given, so a run without --to would deliver to
    // nobody and exit 0 (checked in the action instead, where the exit code can be EX_USAGE).
    .option('-t, --to <address>', 'recipient address (required; repeat for several)', collect, [] as string[])
    .option('-f, --from <address>', 'envelope sender for Return-Path (default: the message\'s Return-Path, else the null sender)')
    .option('-m, --mailbox <name>', 'mailbox to file into (INBOX when it does not exist)')
    .action(async (opts: { to: string[]; from?: string; mailbox?: string }, cmd: Command) => {
      if (opts.to.length === 0) throw new CliError('deliver: no recipient: give at least one --to <address>', EX.USAGE);
      const globals = cmd.optsWithGlobals();
      const { config } = loadCommandConfig(globals);
      const raw = toCrlf(await readStdin(config.store.max_message_bytes));
      if (raw.length === 0) throw new CliError('no message on stdin', EX.DATAERR);
      const envelopeFrom = opts.from ?? (headerValues(raw, 'Return-Path')[0] ?? '').replace(/^<|>$/g, '');
      let outcomes;
      try {
        outcomes = await withContext(globals, async (ctx) => {
          const result = await deliverLocal(
            ctx.store,
            { raw, envelopeFrom, recipients: opts.to, ...(opts.mailbox ? { mailbox: opts.mailbox } : {}) },
            { log: silentLogger() },
          );
          // Aliases that forward outside our domains: into the durable outbound queue, or the copy is lost.
          const forwards = [...new Set(result.flatMap((o) => (o.status === 'delivered' ? (o.forwards ?? []) : [])))];
          if (forwards.length > 0 && !result.some((o) => o.status === 'temp_failure')) await ctx.store.queue.enqueue({ sender: envelopeFrom, recipients: forwards, raw });
          return result;
        });
      } catch (err) {
        // Whatever kept us from the store (locked server, wrong passphrase file, I/O), the message must not
        // bounce: EX_TEMPFAIL makes the MTA keep it and retry, as Dovecot's LDA does for such errors.
        const why = err instanceof Error ? err.message : String(err);
        throw new CliError(`store unavailable: ${why}; the message was not delivered, try again later`, EX.TEMPFAIL);
      }
      for (const o of outcomes) {
        if (o.status !== 'delivered') process.stderr.write(`mailstack: <${o.address}>: ${o.message}\n`);
      }
      if (outcomes.some((o) => o.status === 'temp_failure')) process.exitCode = EX.TEMPFAIL;
      else if (outcomes.some((o) => o.status === 'over_quota')) process.exitCode = config.store.over_quota === 'permanent' ? EX.NOPERM : EX.TEMPFAIL;
      else if (outcomes.some((o) => o.status === 'unknown')) process.exitCode = EX.NOUSER;
      else process.exitCode = EX.OK;
    });
}
