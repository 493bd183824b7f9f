// `mailstack deliver`: local delivery of one message read from stdin, like Dovecot's LDA (dovecot-lda) or
// Postfix's local(8) pipe targets. Exit codes are sysexits.h, which MTAs read: 0 delivered, 67 EX_NOUSER
// (unknown recipient: bounce), 75 EX_TEMPFAIL (store locked or unavailable: retry later), 77 EX_NOPERM
// (mailbox full and [store] over_quota = "permanent"), 65 EX_DATAERR (message too big or empty), 64 EX_USAGE
// (no --to, a --from that is not an address: the MTA's pipe command is wrong).
import type { Command } from 'commander';
import { CliError, EX } from '../errors.ts';
import { loadCommandConfig, openContext } from '../open-context.ts';
import { AddressError, parseAddress } from '../../accounts/index.ts';
import { deliverAndQueue, headerValues, toCrlf } from '../../delivery/index.ts';
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

/** An address as written in a path (`<a@b>`, or bare), without its brackets. */
function withoutBrackets(path: string): string {
  return path.trim().replace(/^<(.*)>$/s, '$1');
}

/** "" or "<>": the null sender (RFC 5321 4.5.5), which bounces and notifications carry; dovecot-lda takes
 * `-f "<>"` the same way. */
function isNullSender(bare: string): boolean {
  return bare === '';
}

/** The envelope sender given with --from, checked: it becomes the Return-Path header, and the MTA passed
 * it, so a bad one is a mistake in the MTA's pipe command (EX_USAGE, like dovecot-lda's "Invalid -f
 * parameter"), never a reason to retry. The spelling is kept as given: a remote local part may be
 * case-sensitive (RFC 5321 2.4). */
function envelopeSenderOption(input: string): string {
  const bare = withoutBrackets(input);
  if (isNullSender(bare)) return '';
  try {
    parseAddress(bare);
  } catch (err) {
    if (err instanceof AddressError) {
      // The reason quotes the input: its line breaks are escaped so that the MTA logs one line.
      const reason = err.message.replace(/[\x00-\x1f\x7f]/g, (c) => JSON.stringify(c).slice(1, -1));
      throw new CliError(`--from ${JSON.stringify(input)} is not a usable envelope sender (${reason}); give it as local@domain, or "<>" for the null sender`, EX.USAGE);
    }
    throw err;
  }
  return bare;
}

/** Without --from: the Return-Path the message carries (an earlier hop's), else the null sender. One that
 * is not an address is ignored rather than copied into the new Return-Path: it is the message's data, not
 * the caller's mistake. */
function envelopeSenderFromMessage(raw: Buffer): string {
  const bare = withoutBrackets(headerValues(raw, 'Return-Path')[0] ?? '');
  if (isNullSender(bare)) return '';
  try {
    parseAddress(bare);
    return bare;
  } catch (err) {
    if (err instanceof AddressError) return '';
    throw err;
  }
}

function storeUnavailable(err: unknown): CliError {
  const why = err instanceof Error ? err.message : String(err);
  return new CliError(`store unavailable: ${why}; the message was not delivered, try again later`, EX.TEMPFAIL);
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
      const envelopeFrom = opts.from !== undefined ? envelopeSenderOption(opts.from) : envelopeSenderFromMessage(raw);
      // Whatever keeps us from opening the store (locked server, wrong passphrase file, I/O), the message
      // must not bounce: EX_TEMPFAIL makes the MTA keep it and retry, as Dovecot's LDA does for such errors.
      const ctx = await openContext(globals).catch((err: unknown) => {
        throw storeUnavailable(err);
      });
      let outcomes;
      try {
        // All or nothing. This run answers the MTA with one exit code for every --to: after a partial
        // delivery, 75 would make it retry and duplicate what was stored, and 67 would bounce a message
        // that reached someone. dovecot-lda avoids the question by taking one user per run; we take
        // several, so every recipient is checked (exists, no loop, room) before anything is stored, and
        // the store's deliver (one transaction for all targets) stores for all of them or for none.
        // Aliases that forward outside our domains go into the durable outbound queue (or the copy is
        // lost), in the transaction that stores the local copies: a failure leaves neither, so the MTA's
        // retry duplicates nothing.
        const result = await deliverAndQueue(
          ctx.store,
          { raw, envelopeFrom, recipients: opts.to, ...(opts.mailbox ? { mailbox: opts.mailbox } : {}) },
          { log: silentLogger(), allOrNothing: true, outbound: { sender: envelopeFrom, recipients: [], raw, forwards: true } },
        );
        outcomes = result.outcomes;
      } catch (err) {
        // Every failure here is EX_TEMPFAIL, a bug included: the MTA keeps the message and retries, and the
        // message says why. An unexpected error answered otherwise (EX_SOFTWARE) would bounce it, and a
        // message we failed to store must never be lost for that. Usage mistakes were refused above, before
        // the store was opened, so none of them is retried for days.
        throw storeUnavailable(err);
      } finally {
        await ctx.close();
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
