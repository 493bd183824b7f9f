// `mailstack import postfix-dovecot`: take over an existing Postfix + Dovecot installation's accounts
// (vmailbox, virtual, Dovecot passwd-file) and, with --maildir, every user's mail.
import type { Command } from 'commander';
import { readFile, stat } from 'node:fs/promises';
import { withContext } from '../context.ts';
import { CliError, EX } from '../errors.ts';
import { progressBar } from '../progress.ts';
import { importPostfixDovecot, type ImportReport } from '../../accounts/index.ts';

/** Account files are small text files; anything bigger is the wrong file. */
const MAX_ACCOUNT_FILE_BYTES = 64 * 1024 * 1024;

async function readSource(option: string, path: string): Promise<{ name: string; text: string }> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (err) {
    throw new CliError(`${option} ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`, EX.NOINPUT);
  }
  if (buf.length > MAX_ACCOUNT_FILE_BYTES) throw new CliError(`${option} ${path}: larger than ${MAX_ACCOUNT_FILE_BYTES} bytes, not an account file`, EX.DATAERR);
  // A NUL byte: a binary file (a program, a Berkeley DB .db map), not the text file Postfix compiles from.
  if (buf.includes(0)) throw new CliError(`${option} ${path}: a binary file, not a text account file (give the source file, not its compiled .db/.lmdb map)`, EX.DATAERR);
  return { name: path, text: buf.toString('utf8') };
}

/** --maildir must name a directory we can read: otherwise every user would get a "no Maildir" note and the
 * run would end with 0 and no mail, which reads like success. Checked before anything is imported. */
async function checkMaildirRoot(path: string): Promise<void> {
  const hint = 'give the root of Dovecot\'s mail_location, the directory that holds DOMAIN/USER/Maildir';
  let isDirectory: boolean;
  try {
    isDirectory = (await stat(path)).isDirectory();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such directory' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw new CliError(`--maildir ${path}: ${why}; ${hint}`, EX.NOINPUT);
  }
  if (!isDirectory) throw new CliError(`--maildir ${path}: not a directory; ${hint}`, EX.NOINPUT);
}

function printReport(report: ImportReport, dryRun: boolean): void {
  const out: string[] = [];
  for (const t of report.took) out.push(`${dryRun ? 'would take' : 'took'}: ${t}`);
  for (const n of report.notes) out.push(`note: ${n}`);
  // Text from the files (a line, and the reason quoting it): control characters escaped, so that a file of
  // junk cannot drive the terminal.
  const shown = (text: string) => text.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  for (const s of report.skipped) out.push(shown(`skipped: ${s.file}${s.line ? `:${s.line}` : ''}${s.text ? `: ${s.text}` : ''}: ${s.reason}`));
  const c = report.counts;
  out.push(
    `${dryRun ? 'dry run, nothing written: would import' : 'imported'} ${c.domains} domain(s), ${c.users} user(s), ${c.aliases} alias(es), ${c.messages} message(s) in ${c.mailboxes} mailbox(es); ${c.alreadyPresent} already present; ${report.skipped.length} skipped`,
  );
  process.stdout.write(out.join('\n') + '\n');
}

export function register(program: Command): void {
  const imp = program.command('import').description('import accounts and mail from another mail server');
  imp
    .command('postfix-dovecot')
    .description('import a Postfix + Dovecot set-up: vmailbox, virtual and users files, and Maildir++ mail; safe to re-run')
    .requiredOption('--vmailbox <file>', 'Postfix virtual_mailbox_maps source ("address  domain/user/" or "address OK")')
    .option('--virtual <file>', 'Postfix virtual_alias_maps source ("source  dest1, dest2")')
    .requiredOption('--users <file>', 'Dovecot passwd-file ("address:{SCHEME}hash:...")')
    .option('--maildir <root>', 'also import mail from ROOT/%d/%n/Maildir (Dovecot mail_location), with flags, keywords and UIDs')
    .option('--dry-run', 'read and check everything, report what would be imported, write nothing')
    .action(async (opts: { vmailbox: string; virtual?: string; users: string; maildir?: string; dryRun?: boolean }, cmd: Command) => {
      const vmailbox = await readSource('--vmailbox', opts.vmailbox);
      const users = await readSource('--users', opts.users);
      const virtual = opts.virtual !== undefined ? await readSource('--virtual', opts.virtual) : undefined;
      if (opts.maildir !== undefined) await checkMaildirRoot(opts.maildir);
      const report = await withContext(cmd.optsWithGlobals(), async (ctx) => {
        const bar = progressBar('importing mail');
        try {
          return await importPostfixDovecot(ctx.store, virtual ? { vmailbox, users, virtual } : { vmailbox, users }, {
            ...(opts.maildir !== undefined ? { maildirRoot: opts.maildir } : {}),
            dryRun: opts.dryRun === true,
            maxMessageBytes: ctx.config.store.max_message_bytes,
            onProgress: (done, total) => bar.update(done, total),
          });
        } finally {
          bar.done();
        }
      });
      printReport(report, opts.dryRun === true);
    });
}
