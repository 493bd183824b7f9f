// npm run bench:smtp: inbound delivery throughput. Postfix's smtp-source sends N messages of SIZE bytes over
// C sessions (a new connection per message, as smtp-source does without -d) to mailstack's MX for a local
// recipient; the clock stops when all N are durably stored (the store's message count). The MX runs with
// its restrictions and SPF/DKIM/DMARC checks on, answered by a DNS server of the benchmark's own on
// loopback (the client is not a trusted network).
//
// The same workload runs against Postfix + Dovecot LMTP in the same run, case by case right after ours, when
// MAILSTACK_PEERS_DIR names the directory holding setup-postfix-dovecot.sh (run as root; it installs and starts
// both on loopback); the clock there stops when N new files are in the recipient's Maildir/new.
//
//   MAILSTACK_PEERS_DIR=/path/to/peers npm run bench:smtp
//   BENCH_SMTP_CASES="1000x1024x20" npm run bench:smtp        (N x SIZE x SESSIONS, comma-separated)
//   BENCH_SMTP_CHECKS=off npm run bench:smtp                  (SPF/DKIM/DMARC off, to see what they cost)
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcrypt';
import { configSchema } from '../src/config/index.ts';
import { createResolver } from '../src/dns/index.ts';
import { silentLogger } from '../src/log/index.ts';
import { openGuard, SecurityEventBus, type Runtime } from '../src/runtime/index.ts';
import { openStore } from '../src/store/index.ts';
import { startSmtp } from '../src/smtp/index.ts';
import { startDnsServer } from '../test/helpers/dns-server.ts';
import { testCertificate } from '../test/smtp/harness.ts';
import { unjournaledExt4Note } from './file-system.ts';

interface Case {
  messages: number;
  size: number;
  sessions: number;
}

const DEFAULT_CASES: Case[] = [
  { messages: 5000, size: 1024, sessions: 20 },
  { messages: 1000, size: 100 * 1024, sessions: 10 },
  { messages: 2000, size: 1024, sessions: 1 },
];

function parseCases(spec: string | undefined): Case[] {
  if (!spec) return DEFAULT_CASES;
  return spec.split(',').map((c) => {
    const [messages, size, sessions] = c.split('x').map(Number);
    if (!messages || !size || !sessions) throw new Error(`bad case ${c}: expected NxSIZExSESSIONS`);
    return { messages, size, sessions };
  });
}

/** smtp-source as the brief says: -s sessions, -m messages, -l size; HELO name and sender that pass our
 * restrictions (FQDN HELO, sender domain with MX, SPF pass). */
function smtpSource(c: Case, target: string, to: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('smtp-source', ['-s', String(c.sessions), '-m', String(c.messages), '-l', String(c.size), '-M', 'client.example.net', '-f', 'bench@example.net', '-t', to, target], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`smtp-source exited ${code}: ${stderr.slice(0, 500)}`))));
  });
}

async function waitUntil(count: () => Promise<number>, target: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const n = await count();
    if (n >= target) return;
    if (Date.now() > deadline) throw new Error(`timeout: ${n}/${target} stored`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface Target {
  name: string;
  /** Sends the case and resolves with messages per second once all are stored. */
  runCase(c: Case): Promise<number>;
  close(): Promise<void>;
}

async function timeCase(name: string, c: Case, target: string, stored: () => Promise<number>): Promise<number> {
  const before = await stored();
  const start = process.hrtime.bigint();
  await smtpSource(c, target, 'user1@example.org');
  await waitUntil(async () => (await stored()) - before, c.messages, 600_000);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  console.log(`${name.padEnd(16)} ${label(c)}: ${seconds.toFixed(2)} s = ${(c.messages / seconds).toFixed(0)} msg/s`);
  return c.messages / seconds;
}

async function startMailstack(): Promise<Target> {
  const dir = await mkdtemp(join(tmpdir(), 'mailstack-bench-smtp-'));
  const dns = await startDnsServer({
    'example.net': { MX: [{ exchange: 'mx.example.net', priority: 10 }], A: ['192.0.2.1'], TXT: ['v=spf1 ip4:127.0.0.1 -all'] },
    '_dmarc.example.net': { TXT: ['v=DMARC1; p=quarantine'] },
    'client.example.net': { A: ['127.0.0.1'] },
  });
  const store = await openStore({ dir: join(dir, 'store'), key: randomBytes(32) });
  const cleanup = async () => {
    await store.close();
    await dns.close();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await store.accounts.addDomain('example.org');
    const user = await store.accounts.addUser({ address: 'user1@example.org', passwordHash: await bcrypt.hash('secret', 4) });
    const inbox = (await store.mail.getMailbox(user.id, 'INBOX'))!;
    const config = configSchema.parse({
      server: { hostname: 'mx.example.org', data_dir: dir, trusted_networks: [] },
      // BENCH_SMTP_CHECKS=off measures the cost of SPF/DKIM/DMARC (the recorded figures keep them on).
      smtp: { listen: ['127.0.0.1:0'], max_clients: 1000, auth_checks: process.env['BENCH_SMTP_CHECKS'] !== 'off' },
      store: { max_message_bytes: 10 * 1024 * 1024 },
      dns: { upstream: [dns.upstream] },
    });
    const runtime: Runtime = { config, log: silentLogger(), store: () => store, tls: await testCertificate(), events: new SecurityEventBus(), guard: openGuard };
    const resolver = createResolver({ upstream: [dns.upstream], timeoutMs: 2000 });
    const mx = await startSmtp(runtime, { resolver });
    const port = mx.listening[0]!.port;
    const stored = async () => (await store.mail.mailboxStatus(inbox.id)).messages;
    return {
      name: 'mailstack',
      runCase: (c) => timeCase('mailstack', c, `127.0.0.1:${port}`, stored),
      async close() {
        // Show that the checks really ran on the stored mail.
        const uids = await store.mail.listMessages(inbox.id);
        if (uids.length > 0) {
          const [last] = await store.mail.getMessages(inbox.id, [uids.at(-1)!.uid]);
          const raw = await store.mail.getBody(last!.bodyId);
          const ar = /Authentication-Results: mx\.example\.org;[^\r]*\r\n(?:[ \t][^\r]*\r\n)*/.exec(raw.toString())?.[0] ?? '(none)';
          console.log(`mailstack's last message: ${ar.replace(/\r\n[ \t]+/g, ' ').trim()}`);
        }
        await mx.close();
        await cleanup();
      },
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** Where the peer's Maildirs are (setup-postfix-dovecot.sh: /var/vmail/<domain>/<user>/Maildir). */
const VMAIL_ROOT = '/var/vmail';

async function startPeer(peers: string): Promise<Target> {
  console.log(`setting up Postfix + Dovecot with ${peers}/setup-postfix-dovecot.sh ...`);
  // The set-up script's smoke test counts files in user5's Maildir/new and .Junk/new under `set -o pipefail`,
  // which fails while those folders do not exist yet: create them (it chowns /var/vmail to vmail itself).
  for (const sub of ['new', 'cur', 'tmp']) {
    mkdirSync(`${VMAIL_ROOT}/example.org/user5/Maildir/${sub}`, { recursive: true });
    mkdirSync(`${VMAIL_ROOT}/example.org/user5/Maildir/.Junk/${sub}`, { recursive: true });
  }
  const stop = () => runDetached(join(peers, 'stop-postfix-dovecot.sh')).catch(() => undefined);
  try {
    await runDetached(join(peers, 'setup-postfix-dovecot.sh'));
  } catch (err) {
    await stop();
    throw err;
  }
  const newDir = `${VMAIL_ROOT}/example.org/user1/Maildir/new`;
  const stored = async () => (await readdir(newDir).catch(() => [])).length;
  return { name: 'postfix+dovecot', runCase: (c) => timeCase('postfix+dovecot', c, '127.0.0.1:2525', stored), close: stop };
}

/** Runs a set-up script whose daemons inherit its stdout: wait for the script's exit, not for its pipes to
 * close (they stay open as long as Postfix and Dovecot run). Output goes to a log file shown on failure. */
async function runDetached(script: string): Promise<void> {
  const logFile = join(tmpdir(), `mailstack-bench-peer-${process.pid}.log`);
  const fd = openSync(logFile, 'w');
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(script, [], { stdio: ['ignore', fd, fd] });
      child.on('error', reject);
      child.on('exit', (c) => resolve(c));
    });
    if (code !== 0) throw new Error(`${script} exited ${code}:\n${readFileSync(logFile, 'utf8').slice(-2000)}`);
  } finally {
    closeSync(fd);
    rmSync(logFile, { force: true });
  }
}

function label(c: Case): string {
  const size = c.size >= 1024 ? `${c.size / 1024} KB` : `${c.size} B`;
  return `${c.messages} x ${size} over ${c.sessions} session${c.sessions === 1 ? '' : 's'}`;
}

const cases = parseCases(process.env['BENCH_SMTP_CASES']);
const peers = process.env['MAILSTACK_PEERS_DIR'];
// Both sides run case by case, one right after the other: the machine is shared and its load drifts, so
// each ratio compares figures taken minutes apart at most.
const theirsTarget = peers ? await startPeer(peers) : null;
const ours: number[] = [];
const theirs: number[] = [];
try {
  const oursTarget = await startMailstack();
  try {
    for (const c of cases) {
      ours.push(await oursTarget.runCase(c));
      if (theirsTarget) theirs.push(await theirsTarget.runCase(c));
    }
  } finally {
    await oursTarget.close();
  }
} finally {
  await theirsTarget?.close();
}
console.log('\n| case | mailstack msg/s | Postfix + Dovecot msg/s | ratio |\n| --- | --- | --- | --- |');
cases.forEach((c, i) => {
  const t = theirs[i];
  console.log(`| ${label(c)} | ${ours[i]!.toFixed(0)} | ${t ? t.toFixed(0) : 'not run'} | ${t ? (ours[i]! / t).toFixed(2) + 'x' : '-'} |`);
});
// Dovecot's LMTP creates a file per message in the peer's Maildirs.
const fileSystemNote = theirs.length > 0 ? unjournaledExt4Note(VMAIL_ROOT, 'Postfix + Dovecot') : null;
if (fileSystemNote) console.log(fileSystemNote);
