// `mailstack dkim keygen|import|list|show|delete`: DKIM keys in the vault and the DNS records that publish
// them (what Rspamd's `dkim_keygen` and OpenDKIM's `opendkim-genkey` do, without key files on disk).
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { withContext } from '../context.ts';
import { CliError, EX } from '../errors.ts';
import {
  DEFAULT_RSA_BITS,
  DkimKeyError,
  deleteKey,
  dnsRecord,
  generateKey,
  importKey,
  listKeys,
  loadKey,
  normaliseDomain,
  normaliseSelector,
  saveKey,
  type DkimKey,
  type DkimKeyType,
} from '../../dkim/index.ts';
import type { CommandContext } from '../context.ts';

function userInput<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof DkimKeyError) throw new CliError(err.message, EX.USAGE);
    throw err;
  }
}

function printRecord(key: DkimKey): void {
  const record = dnsRecord(key);
  process.stdout.write(
    [
      `Publish this TXT record for ${key.domain} (zone-file syntax):`,
      '',
      record.zoneLine,
      '',
      'The same value on one line, for DNS web interfaces:',
      `  name:  ${record.name}`,
      `  value: ${record.value}`,
      '',
    ].join('\n'),
  );
}

async function refuseOverwrite(ctx: CommandContext, domain: string, selector: string, force: boolean | undefined): Promise<void> {
  if (!force && (await loadKey(ctx.store.secrets, domain, selector))) {
    throw new CliError(
      `a key for selector "${selector}" of ${domain} already exists: choose another --selector (key rotation) or pass --force to replace it`,
      EX.CANTCREAT,
    );
  }
}

async function warnUnknownDomain(ctx: CommandContext, domain: string): Promise<void> {
  if (!(await ctx.store.accounts.hasDomain(domain))) {
    process.stderr.write(`note: ${domain} is not one of mailstack's domains yet (add it with: mailstack domain add ${domain})\n`);
  }
}

export function register(program: Command): void {
  const dkim = program.command('dkim').description('DKIM keys for signing outbound mail, and their DNS records');

  dkim
    .command('keygen')
    .description('create a signing key in the vault and print the DNS TXT record to publish')
    .requiredOption('-d, --domain <domain>', 'the domain to sign for (the From domain of outgoing mail)')
    .option('-s, --selector <selector>', 'DKIM selector (default: [dkim] selector, "mail")')
    .option('-t, --type <type>', 'rsa or ed25519 (ed25519 is signed in addition to an RSA key)', 'rsa')
    .option('-b, --bits <bits>', `RSA key size (default ${DEFAULT_RSA_BITS})`)
    .option('--force', 'replace an existing key with the same selector')
    .action(async (opts: { domain: string; selector?: string; type: string; bits?: string; force?: boolean }, cmd: Command) => {
      if (opts.type !== 'rsa' && opts.type !== 'ed25519') throw new CliError(`--type must be rsa or ed25519, not "${opts.type}"`, EX.USAGE);
      const bits = opts.bits === undefined ? DEFAULT_RSA_BITS : Number(opts.bits);
      if (!Number.isInteger(bits)) throw new CliError(`--bits must be a number, not "${opts.bits}"`, EX.USAGE);
      await withContext(cmd.optsWithGlobals(), async (ctx) => {
        const selector = opts.selector ?? ctx.config.dkim.selector;
        const key = userInput(() => generateKey(opts.domain, selector, opts.type as DkimKeyType, bits));
        await refuseOverwrite(ctx, key.domain, key.selector, opts.force);
        await saveKey(ctx.store.secrets, key);
        await warnUnknownDomain(ctx, key.domain);
        process.stdout.write(`created ${key.type === 'rsa' ? `rsa-${bits}` : 'ed25519'} key "${key.selector}" for ${key.domain} (kept in the vault)\n\n`);
        printRecord(key);
      });
    });

  dkim
    .command('import <file>')
    .description('import an existing private key (OpenDKIM or Rspamd PEM file, or Rspamd base64 Ed25519 key)')
    .requiredOption('-d, --domain <domain>', 'the domain the key signs for')
    .requiredOption('-s, --selector <selector>', 'the selector the key is published under')
    .option('--force', 'replace an existing key with the same selector')
    .action(async (file: string, opts: { domain: string; selector: string; force?: boolean }, cmd: Command) => {
      let content: Buffer;
      try {
        content = await readFile(file);
      } catch (err) {
        throw new CliError(`cannot read ${file}: ${(err as Error).message}`, EX.NOINPUT);
      }
      const key = userInput(() => importKey(opts.domain, opts.selector, content));
      await withContext(cmd.optsWithGlobals(), async (ctx) => {
        await refuseOverwrite(ctx, key.domain, key.selector, opts.force);
        await saveKey(ctx.store.secrets, key);
        await warnUnknownDomain(ctx, key.domain);
      });
      process.stdout.write(`imported ${key.type} key "${key.selector}" for ${key.domain} into the vault; you may now delete ${file}\n\n`);
      printRecord(key);
    });

  dkim
    .command('list')
    .description('list the signing keys')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const keys = await withContext(cmd.optsWithGlobals(), (ctx) => listKeys(ctx.store.secrets));
      const rows = keys.map((k) => ({ domain: k.domain, selector: k.selector, type: k.type, created: new Date(k.createdAt).toISOString() }));
      if (opts.json) {
        process.stdout.write(JSON.stringify(rows) + '\n');
        return;
      }
      if (rows.length === 0) {
        process.stdout.write('no DKIM keys (create one with: mailstack dkim keygen --domain example.org)\n');
        return;
      }
      const w = Math.max(...rows.map((r) => r.domain.length));
      const s = Math.max(...rows.map((r) => r.selector.length));
      for (const r of rows) process.stdout.write(`${r.domain.padEnd(w)}  ${r.selector.padEnd(s)}  ${r.type.padEnd(7)}  ${r.created}\n`);
    });

  dkim
    .command('show')
    .description("print a domain's DKIM DNS records again")
    .requiredOption('-d, --domain <domain>', 'the domain')
    .option('-s, --selector <selector>', 'only this selector')
    .action(async (opts: { domain: string; selector?: string }, cmd: Command) => {
      const domain = userInput(() => normaliseDomain(opts.domain));
      const selector = opts.selector === undefined ? undefined : userInput(() => normaliseSelector(opts.selector!));
      const keys = await withContext(cmd.optsWithGlobals(), (ctx) => listKeys(ctx.store.secrets, domain));
      const shown = keys.filter((k) => selector === undefined || k.selector === selector);
      if (shown.length === 0) {
        throw new CliError(`no DKIM key for ${domain}${selector ? ` with selector "${selector}"` : ''} (create one with: mailstack dkim keygen --domain ${domain})`, EX.NOINPUT);
      }
      shown.forEach((k, i) => {
        if (i > 0) process.stdout.write('\n');
        printRecord(k);
      });
    });

  dkim
    .command('delete')
    .description('delete a signing key (unpublish its DNS record a few days later)')
    .requiredOption('-d, --domain <domain>', 'the domain')
    .requiredOption('-s, --selector <selector>', 'the selector')
    .action(async (opts: { domain: string; selector: string }, cmd: Command) => {
      const deleted = await withContext(cmd.optsWithGlobals(), (ctx) => userInput(() => deleteKey(ctx.store.secrets, opts.domain, opts.selector)));
      if (!deleted) throw new CliError(`no DKIM key "${opts.selector}" for ${opts.domain}`, EX.NOINPUT);
      process.stdout.write(`deleted key "${opts.selector}" of ${opts.domain}\n`);
    });
}
