import type { Command } from 'commander';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { initInstance } from './init.ts';
import { loadConfig, storeDir } from '../../config/index.ts';
import { openVault } from '../../vault/index.ts';
import { openStore } from '../../store/index.ts';
import { hashPassword } from '../../accounts/index.ts';
import { startServer } from '../../server/index.ts';
import { createLogger } from '../../log/index.ts';

const DEV_DOMAIN = 'example.test';

/** Ports for the throwaway instance: unprivileged, away from the usual 25xx/1143 test peers. */
function devPorts(base: number) {
  return { smtp: base + 25, submission: base + 587, submissions: base + 465, imap: base + 143, imaps: base + 993 };
}

export function register(program: Command): void {
  program
    .command('dev')
    .description('start a throwaway local instance (what `npm start` runs): temporary data dir, domain example.test, a user with a printed password, self-signed TLS, unprivileged ports')
    .option('--port-base <n>', 'listeners on BASE+25, BASE+587, BASE+465, BASE+143, BASE+993', (v) => Number(v), 10000)
    .option('--keep', 'keep the data directory when stopped')
    .action(async (opts: { portBase: number; keep?: boolean }) => {
      const dir = await mkdtemp(join(tmpdir(), 'mailstack-dev-'));
      const passphrase = randomBytes(18).toString('base64url');
      const passphraseFile = join(dir, 'passphrase');
      await writeFile(passphraseFile, passphrase + '\n', { mode: 0o600 });
      const ports = devPorts(opts.portBase);
      // A low scrypt cost: this instance is thrown away, and its passphrase sits beside it anyway.
      const { configFile } = await initInstance({ dir, passphrase, hostname: 'localhost', kdfN: 2 ** 14, ports, bind: '127.0.0.1' });
      const { config } = loadConfig(configFile);

      const password = randomBytes(9).toString('base64url');
      const user = `me@${DEV_DOMAIN}`;
      const vault = await openVault(config.server.data_dir, passphrase);
      const store = await openStore({ dir: storeDir(config), key: vault.deriveKey('store') });
      vault.close();
      await store.accounts.addDomain(DEV_DOMAIN);
      await store.accounts.addUser({ address: user, passwordHash: await hashPassword(password) });
      await store.accounts.addAlias(`postmaster@${DEV_DOMAIN}`, user);
      await store.close();

      const log = createLogger({ level: config.log.level });
      const server = await startServer({ config, log, passphrase });
      const listening = server.status().listening.map((l) => `  ${l.name.padEnd(14)} 127.0.0.1:${l.port}`);
      process.stdout.write(
        [
          '',
          'mailstack is running (throwaway instance)',
          `  data directory  ${dir}${opts.keep ? '' : '  (removed when you stop it)'}`,
          `  config          ${configFile}`,
          `  user            ${user}`,
          `  password        ${password}`,
          `  vault           unlocked; passphrase in ${passphraseFile}`,
          'listening:',
          ...(listening.length ? listening : ['  (no listeners)']),
          '',
          `admin commands:   MAILSTACK_CONFIG=${configFile} npx mailstack status`,
          'TLS uses a self-signed certificate: tell your client to accept it. Stop with Ctrl-C.',
          '',
        ].join('\n'),
      );
      const stop = async () => {
        await server.close();
        if (!opts.keep) await rm(dir, { recursive: true, force: true });
        process.exit(0);
      };
      process.once('SIGINT', () => void stop());
      process.once('SIGTERM', () => void stop());
      await new Promise(() => {});
    });
}
