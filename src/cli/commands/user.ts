// `mailstack user add|passwd|set|del|list`: mail accounts (Postfix vmailbox + Dovecot passwd-file in one).
// Passwords come from the terminal (echo off) or from stdin with --password-stdin; never from argv,
// where every user of the machine can read them in the process list.
import type { Command } from 'commander';
import { withContext } from '../context.ts';
import { CliError, EX } from '../errors.ts';
import { promptNewSecret, readSecretStdin } from '../prompt.ts';
import { AddressError, formatSize, hashPassword, isSupportedHash, MAX_PASSWORD_BYTES, normalizeAddress, normalizeDomain, parseSize, SizeError } from '../../accounts/index.ts';
import { StoreError } from '../../store/types.ts';
import type { Store, User } from '../../store/types.ts';

/** Shorter passwords fall to an online guessing attack within the limits access control allows. */
export const MIN_PASSWORD_CHARS = 8;

function addressArg(input: string): string {
  try {
    return normalizeAddress(input);
  } catch (err) {
    if (err instanceof AddressError) throw new CliError(err.message, EX.USAGE);
    throw err;
  }
}

function quotaArg(input: string): number {
  try {
    return parseSize(input);
  } catch (err) {
    if (err instanceof SizeError) throw new CliError(`--quota: ${err.message}`, EX.USAGE);
    throw err;
  }
}

async function readNewPassword(fromStdin: boolean | undefined): Promise<string> {
  const password = fromStdin ? await readSecretStdin('password') : await promptNewSecret('password');
  if ([...password].length < MIN_PASSWORD_CHARS) throw new CliError(`the password is too short: use at least ${MIN_PASSWORD_CHARS} characters`, EX.DATAERR);
  if (Buffer.byteLength(password) > MAX_PASSWORD_BYTES) throw new CliError(`the password is too long: at most ${MAX_PASSWORD_BYTES} bytes`, EX.DATAERR);
  return password;
}

async function requireUser(store: Store, address: string): Promise<User> {
  const user = await store.accounts.getUser(address);
  if (!user) throw new CliError(`no user ${address} (see: mailstack user list)`, EX.NOUSER);
  return user;
}

export function register(program: Command): void {
  const user = program.command('user').description('manage mail accounts (address, password, quota)');

  user
    .command('add <address>')
    .description('add an account with INBOX, Drafts, Sent, Junk, Trash and Archive; asks for the password')
    .option('--password-stdin', 'read the password from the first line of standard input')
    .option('--quota <size>', 'storage quota, e.g. 500M or 2G (default 0 = unlimited)')
    .action(async (addressInput: string, opts: { passwordStdin?: boolean; quota?: string }, cmd: Command) => {
      const address = addressArg(addressInput);
      const quotaBytes = opts.quota !== undefined ? quotaArg(opts.quota) : 0;
      const domain = address.slice(address.lastIndexOf('@') + 1);
      await withContext(cmd.optsWithGlobals(), async (ctx) => {
        // Check before asking for a password: a typo in the domain should not cost typing it twice.
        if (!(await ctx.store.accounts.hasDomain(domain))) {
          throw new CliError(`${domain} is not one of our domains: add it first with \`mailstack domain add ${domain}\``, EX.NOUSER);
        }
        if (await ctx.store.accounts.getUser(address)) throw new CliError(`user ${address} already exists (change the password with: mailstack user passwd ${address})`, EX.DATAERR);
        const passwordHash = await hashPassword(await readNewPassword(opts.passwordStdin));
        try {
          await ctx.store.accounts.addUser({ address, passwordHash, quotaBytes });
        } catch (err) {
          if (err instanceof StoreError && err.code === 'exists') throw new CliError(`user ${address} already exists`, EX.DATAERR);
          throw err;
        }
      });
      process.stdout.write(`added user ${address}${quotaBytes ? ` (quota ${formatSize(quotaBytes)})` : ''}\n`);
    });

  user
    .command('passwd <address>')
    .description('set a new password (stored as bcrypt)')
    .option('--password-stdin', 'read the password from the first line of standard input')
    .action(async (addressInput: string, opts: { passwordStdin?: boolean }, cmd: Command) => {
      const address = addressArg(addressInput);
      await withContext(cmd.optsWithGlobals(), async (ctx) => {
        await requireUser(ctx.store, address);
        const passwordHash = await hashPassword(await readNewPassword(opts.passwordStdin));
        await ctx.store.accounts.updateUser(address, { passwordHash });
      });
      process.stdout.write(`password of ${address} changed\n`);
    });

  user
    .command('set <address>')
    .description('change an account\'s quota and sender rights')
    .option('--quota <size>', 'storage quota, e.g. 500M or 2G (0 = unlimited)')
    .option('--send-as <addresses>', 'comma-separated extra From addresses (an "@domain" entry allows a whole domain); "" clears')
    .option('--no-enforce-sender', 'let this account send as any address (Postfix: no reject_sender_login_mismatch)')
    .option('--enforce-sender', 'allow only own addresses, aliases reaching the account and --send-as (default)')
    .action(async (addressInput: string, opts: { quota?: string; sendAs?: string; enforceSender?: boolean }, cmd: Command) => {
      const address = addressArg(addressInput);
      const update: { quotaBytes?: number; sendAs?: string[]; enforceSender?: boolean } = {};
      if (opts.quota !== undefined) update.quotaBytes = quotaArg(opts.quota);
      if (opts.sendAs !== undefined) {
        update.sendAs = opts.sendAs
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== '')
          .map((s) => {
            try {
              return s.startsWith('@') ? `@${normalizeDomain(s.slice(1))}` : normalizeAddress(s);
            } catch (err) {
              if (err instanceof AddressError) throw new CliError(`--send-as: ${err.message}`, EX.USAGE);
              throw err;
            }
          });
      }
      // Commander sets enforceSender to true by default because of --no-enforce-sender: only pass it when
      // one of the two flags was given.
      const src = cmd.getOptionValueSource('enforceSender');
      if (src === 'cli') update.enforceSender = opts.enforceSender === true;
      if (Object.keys(update).length === 0) throw new CliError('nothing to change: give --quota, --send-as, --enforce-sender or --no-enforce-sender', EX.USAGE);
      const u = await withContext(cmd.optsWithGlobals(), async (ctx) => {
        await requireUser(ctx.store, address);
        return ctx.store.accounts.updateUser(address, update);
      });
      process.stdout.write(`${u.address}: quota ${u.quotaBytes ? formatSize(u.quotaBytes) : 'unlimited'}, ${u.enforceSender ? 'sender enforced' : 'may send as anyone'}${u.sendAs.length ? `, also sends as ${u.sendAs.join(', ')}` : ''}\n`);
    });

  user
    .command('del <address>')
    .alias('delete')
    .description('delete an account and all its mail (asks for --yes)')
    .option('--yes', 'confirm: the mail is deleted, not archived (export it first with `mailstack export maildir`)')
    .action(async (addressInput: string, opts: { yes?: boolean }, cmd: Command) => {
      const address = addressArg(addressInput);
      await withContext(cmd.optsWithGlobals(), async (ctx) => {
        const u = await requireUser(ctx.store, address);
        if (!opts.yes) {
          const usage = await ctx.store.mail.quotaUsage(u.id);
          throw new CliError(
            `this deletes ${address} and all its mail (${usage.messages} message(s), ${formatSize(usage.usedBytes)}): run again with --yes to confirm, or keep a copy first with \`mailstack export maildir --user ${address} --out DIR\``,
            EX.USAGE,
          );
        }
        await ctx.store.accounts.deleteUser(address);
        // Aliases are kept (they may list other destinations too); say which ones still name the account.
        const dangling = (await ctx.store.accounts.listAliases()).filter((a) => a.destination === address);
        for (const a of dangling) process.stderr.write(`mailstack: warning: alias ${a.source} still points to ${address} (remove it with: mailstack alias del ${a.source} ${address})\n`);
      });
      process.stdout.write(`deleted user ${address}\n`);
    });

  user
    .command('list [domain]')
    .description('list accounts with quota and usage')
    .option('--json', 'print JSON')
    .action(async (domainInput: string | undefined, opts: { json?: boolean }, cmd: Command) => {
      let domain: string | undefined;
      if (domainInput !== undefined) {
        try {
          domain = normalizeDomain(domainInput);
        } catch (err) {
          if (err instanceof AddressError) throw new CliError(err.message, EX.USAGE);
          throw err;
        }
      }
      const rows = await withContext(cmd.optsWithGlobals(), async (ctx) => {
        // No argument at all for every domain: through the admin socket an undefined argument arrives as null.
        const users = await (domain === undefined ? ctx.store.accounts.listUsers() : ctx.store.accounts.listUsers(domain));
        return Promise.all(
          users.map(async (u) => {
            const usage = await ctx.store.mail.quotaUsage(u.id);
            // An imported account without a usable password hash cannot log in until `user passwd`.
            const canLogIn = isSupportedHash(u.passwordHash);
            return { address: u.address, quotaBytes: u.quotaBytes, usedBytes: usage.usedBytes, messages: usage.messages, enforceSender: u.enforceSender, sendAs: u.sendAs, canLogIn };
          }),
        );
      });
      if (opts.json) {
        process.stdout.write(JSON.stringify(rows) + '\n');
        return;
      }
      if (rows.length === 0) {
        process.stdout.write(`no users${domain ? ` in ${domain}` : ''} (add one with: mailstack user add user@example.org)\n`);
        return;
      }
      const width = Math.max(...rows.map((r) => r.address.length));
      for (const r of rows) {
        process.stdout.write(
          `${r.address.padEnd(width)}  ${String(r.messages).padStart(6)} msgs  ${formatSize(r.usedBytes).padStart(7)} / ${r.quotaBytes ? formatSize(r.quotaBytes) : 'unlimited'}${r.canLogIn ? '' : '  (no usable password: mailstack user passwd)'}\n`,
        );
      }
    });
}
