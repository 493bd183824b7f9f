// Test harness for the SMTP-family listeners: a temp data directory, a real encrypted store with a random
// key, a domain with users and aliases, a self-signed certificate, the test DNS server on loopback, a
// Runtime built by hand, and the listeners on 127.0.0.1:0. Every test gets its own and closes it.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configSchema, type Config } from '../../src/config/index.ts';
import { createResolver, type Resolver } from '../../src/dns/index.ts';
import { createLogger } from '../../src/log/index.ts';
import { openGuard, SecurityEventBus, type AuthEvent, type Clock, type ConnectionGuard, type Runtime } from '../../src/runtime/index.ts';
import { openStore } from '../../src/store/index.ts';
import type { Store } from '../../src/store/types.ts';
import bcrypt from 'bcrypt';
import { startLmtp, startSmtp, startSubmission, type ListenerHandle, type SmtpDeps } from '../../src/smtp/index.ts';
import { startDnsServer, type TestDnsServer, type Zone } from '../helpers/dns-server.ts';

export const HOSTNAME = 'mx.example.org';
export const PASSWORDS = { alice: 'alice-secret-1', bob: 'bob-secret-2', carol: 'carol-secret-3' } as const;

/** bcrypt at the lowest cost: the accounts service verifies any cost, and cost 12 would make every test
 * spend a second hashing fixtures. */
function hashPassword(password: string): Promise<string> {
  return bcrypt.hash(password, 4);
}

/** One self-signed EC certificate per test process (openssl takes ~50 ms; tests share it). */
let certCache: Promise<{ key: string; cert: string }> | null = null;
export function testCertificate(): Promise<{ key: string; cert: string }> {
  certCache ??= (async () => {
    const dir = join(tmpdir(), `mailstack-test-cert-${process.pid}`);
    if (!existsSync(join(dir, 'cert.pem'))) {
      mkdirSync(dir, { recursive: true });
      execFileSync(
        'openssl',
        ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=localhost', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')],
        { stdio: 'ignore' },
      );
      process.once('exit', () => {
        try {
          execFileSync('rm', ['-rf', dir]);
        } catch {
          /* best effort */
        }
      });
    }
    return { key: await readFile(join(dir, 'key.pem'), 'utf8'), cert: await readFile(join(dir, 'cert.pem'), 'utf8') };
  })();
  return certCache;
}

export interface QueuedMessage {
  sender: string;
  recipients: string[];
  raw: Buffer;
}

export interface HarnessOptions {
  /** Overrides for config sections (merged one level deep). */
  config?: Partial<Record<keyof Config, Record<string, unknown>>>;
  /** Extra DNS records; the defaults publish sender.test (MX + A) and nothing else. */
  zone?: Zone;
  submission?: boolean;
  lmtp?: boolean | 'unix';
  mx?: boolean;
  /** Without it the harness records queued messages in `queued`. null: no queue port at all. */
  queue?: SmtpDeps['queue'] | null;
  sign?: SmtpDeps['sign'];
  guard?: ConnectionGuard;
  /** Times the failed-login delay (default: the system clock). */
  clock?: Clock;
  /** Where the harness's data directory is made (default: the system's temporary directory). */
  parentDir?: string;
}

export interface SmtpHarness {
  runtime: Runtime;
  store: Store;
  dns: TestDnsServer;
  resolver: Resolver;
  dir: string;
  mx: { host: string; port: number };
  submission: { host: string; port: number };
  submissionTls: { host: string; port: number };
  lmtp: { host: string; port: number } | { path: string };
  queued: QueuedMessage[];
  authFailures: AuthEvent[];
  /** Simulates a locked vault: store() returns null until unlock(). */
  lock(): void;
  unlock(): void;
  /** Raw messages in a user's mailbox, oldest first. */
  messages(address: string, mailbox?: string): Promise<Buffer[]>;
  /** Number of messages across every mailbox of every user. */
  totalMessages(): Promise<number>;
  close(): Promise<void>;
}

/** Runs `body` against a fresh harness and closes it afterwards, whatever happened. */
export async function withSmtpHarness(options: HarnessOptions | undefined, body: (h: SmtpHarness) => Promise<void>): Promise<void> {
  const h = await startSmtpHarness(options);
  try {
    await body(h);
  } finally {
    await h.close();
  }
}

export async function startSmtpHarness(options: HarnessOptions = {}): Promise<SmtpHarness> {
  const dir = await mkdtemp(join(options.parentDir ?? tmpdir(), 'mailstack-smtp-'));
  const listeners: ListenerHandle[] = [];
  let dns: TestDnsServer | null = null;
  let store: Store | null = null;
  try {
    dns = await startDnsServer({
      'sender.test': { MX: [{ exchange: 'mx.sender.test', priority: 10 }], A: ['192.0.2.10'] },
      'mx.sender.test': { A: ['192.0.2.10'] },
      ...options.zone,
    });
    const resolver = createResolver({ upstream: [dns.upstream], timeoutMs: 1000 });
    const base: Record<string, Record<string, unknown>> = {
      server: { hostname: HOSTNAME, data_dir: dir, trusted_networks: [] },
      smtp: { listen: options.mx === false ? [] : ['127.0.0.1:0'] },
      submission: options.submission ? { listen: ['127.0.0.1:0'], listen_tls: ['127.0.0.1:0'] } : {},
      lmtp: options.lmtp ? { listen: [options.lmtp === 'unix' ? join(dir, 'lmtp.sock') : '127.0.0.1:0'] } : {},
      dns: { upstream: [dns.upstream], timeout_ms: 1000 },
    };
    for (const [section, values] of Object.entries(options.config ?? {})) base[section] = { ...base[section], ...values };
    const config = configSchema.parse(base);

    store = await openStore({ dir: join(dir, 'store'), key: randomBytes(32) });
    await store.accounts.addDomain('example.org');
    await store.accounts.addDomain('example.net');
    const alice = await store.accounts.addUser({ address: 'alice@example.org', passwordHash: await hashPassword(PASSWORDS.alice) });
    await store.accounts.addUser({ address: 'bob@example.org', passwordHash: await hashPassword(PASSWORDS.bob) });
    await store.accounts.addUser({ address: 'carol@example.net', passwordHash: await hashPassword(PASSWORDS.carol) });
    await store.accounts.addAlias('postmaster@example.org', 'alice@example.org');
    await store.accounts.addAlias('team@example.org', 'alice@example.org');
    await store.accounts.addAlias('team@example.org', 'bob@example.org');
    await store.accounts.addAlias('@example.net', 'carol@example.net');
    void alice;

    const tls = await testCertificate();
    let locked = false;
    const openStoreRef = store;
    const authFailures: AuthEvent[] = [];
    const events = new SecurityEventBus();
    events.on('auth-failure', (e) => authFailures.push(e));
    const runtime: Runtime = {
      config,
      log: createLogger({ level: (process.env['MAILSTACK_LOG_LEVEL'] as 'silent' | undefined) ?? 'silent' }),
      store: () => (locked ? null : openStoreRef),
      tls,
      events,
      guard: options.guard ?? openGuard,
      ...(options.clock ? { clock: options.clock } : {}),
    };
    const queued: QueuedMessage[] = [];
    let queueCounter = 0;
    const deps: SmtpDeps = { resolver };
    if (options.queue !== null) {
      deps.queue = options.queue ?? {
        async enqueue(sender, recipients, raw) {
          queued.push({ sender, recipients, raw });
          return `Q${++queueCounter}`;
        },
        // An entry the listener stored with the local copies (in the harness's real store): recorded like
        // the ones enqueue gets, its bytes read back from the store.
        accepted(entry) {
          const message: QueuedMessage = { sender: entry.sender, recipients: entry.recipients.map((r) => r.address), raw: Buffer.alloc(0) };
          queued.push(message);
          void openStoreRef.queue.getRaw(entry.id).then((raw) => (message.raw = raw));
        },
      };
    }
    if (options.sign) deps.sign = options.sign;

    const mx = options.mx === false ? null : await startSmtp(runtime, deps);
    if (mx) listeners.push(mx);
    const sub = options.submission ? await startSubmission(runtime, deps) : null;
    if (sub) listeners.push(sub);
    const lmtp = options.lmtp ? await startLmtp(runtime, deps) : null;
    if (lmtp) listeners.push(lmtp);

    const at = (handle: ListenerHandle | null, name: string) => {
      const l = handle?.listening.find((x) => x.name === name);
      return { host: '127.0.0.1', port: l?.port ?? 0 };
    };
    const lmtpListening = lmtp?.listening[0];
    const theStore = store;
    const theDns = dns;
    return {
      runtime,
      store,
      dns,
      resolver,
      dir,
      mx: at(mx, 'smtp'),
      submission: at(sub, 'submission'),
      submissionTls: at(sub, 'submission_tls'),
      lmtp: lmtpListening && lmtpListening.port === 0 ? { path: lmtpListening.address } : at(lmtp, 'lmtp'),
      queued,
      authFailures,
      lock: () => void (locked = true),
      unlock: () => void (locked = false),
      async messages(address, mailbox = 'INBOX') {
        const user = await theStore.accounts.getUser(address);
        if (!user) throw new Error(`no user ${address}`);
        const box = await theStore.mail.getMailbox(user.id, mailbox);
        if (!box) return [];
        const metas = await theStore.mail.listMessages(box.id);
        return Promise.all(metas.map((m) => theStore.mail.getBody(m.bodyId)));
      },
      async totalMessages() {
        let n = 0;
        for (const user of await theStore.accounts.listUsers()) {
          for (const box of await theStore.mail.listMailboxes(user.id)) n += (await theStore.mail.mailboxStatus(box.id)).messages;
        }
        return n;
      },
      async close() {
        await Promise.all(listeners.map((l) => l.close()));
        await theStore.close();
        await theDns.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await Promise.all(listeners.map((l) => l.close()));
    await store?.close();
    await dns?.close();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** A small RFC 5322 message. */
export function message(fields: { from?: string; to?: string; subject?: string; body?: string; extraHeaders?: string[] } = {}): string {
  const lines = [
    `From: ${fields.from ?? 'Sender <someone@sender.test>'}`,
    `To: ${fields.to ?? 'alice@example.org'}`,
    `Subject: ${fields.subject ?? 'test message'}`,
    `Date: ${new Date().toUTCString()}`,
    `Message-ID: <${randomBytes(8).toString('hex')}@sender.test>`,
    ...(fields.extraHeaders ?? []),
    '',
    fields.body ?? 'Hello.',
    '',
  ];
  return lines.join('\r\n');
}
