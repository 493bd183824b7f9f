// bench/imap-ab.ts: the read-only commands of bench:imap against mailstack and Dovecot alternately, after
// both are filled, so that each pair of samples sees the same machine load (this machine's 2 shared cores make
// single samples of a 50 ms command move by 2x). Prints the median and best of each, and the ratio of medians.
//
//   node --import tsx bench/imap-ab.ts [--messages 10000] [--rounds 7]
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { RawImapClient } from '../test/imap/differential-client.ts';
import { startDovecot } from '../test/imap/differential-dovecot.ts';
import { makeMessages } from './imap-workload.ts';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}
const MESSAGES = Number(arg('messages', '10000'));
const ROUNDS = Number(arg('rounds', '7'));
const COMMANDS = ['SELECT bench', 'UID FETCH 1:* (FLAGS)', 'FETCH 1:* (ENVELOPE)', 'UID SEARCH SUBJECT "quarterly report"', 'UID SEARCH BODY needleword'];


interface Target { name: string; client: RawImapClient; stop(): Promise<void> }

async function login(port: number, ca: Buffer, user: string, password: string): Promise<RawImapClient> {
  const c = await RawImapClient.open('127.0.0.1', port);
  await c.startTls(ca);
  await c.ok(`LOGIN ${user} ${password}`);
  return c;
}

async function mailstack(): Promise<Target> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'imap-server.ts')], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, MAILSTACK_LOG_LEVEL: 'silent' } });
  const line = await new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once('line', resolve));
  const info = JSON.parse(line) as { port: number; user: string; password: string; certFile: string };
  const client = await login(info.port, readFileSync(info.certFile), info.user, `"${info.password}"`);
  return { name: 'mailstack', client, stop: async () => { const exited = new Promise((r) => child.once('exit', r)); child.kill('SIGTERM'); await exited; } };
}

async function dovecot(): Promise<Target> {
  const dir = mkdtempSync(join(tmpdir(), 'mailstack-bench-tls-'));
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=localhost', '-keyout', keyFile, '-out', certFile], { stdio: 'ignore' });
  const d = await startDovecot({ tls: { certFile, keyFile } });
  const client = await login(d.port, readFileSync(certFile), d.user, d.password);
  return { name: 'dovecot', client, stop: async () => { await d.stop(); rmSync(dir, { recursive: true, force: true }); } };
}

const messages = makeMessages(MESSAGES);
const targets = [await mailstack(), await dovecot()];
try {
  for (const t of targets) {
    await t.client.command('DELETE bench');
    await t.client.ok('CREATE bench');
    const start = performance.now();
    for (const m of messages) await t.client.ok('APPEND bench ', m);
    console.log(`${t.name}: APPEND x${MESSAGES} ${((performance.now() - start) / 1000).toFixed(1)} s`);
    await t.client.ok('SELECT bench');
  }
  const samples = new Map<string, number[]>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const command of COMMANDS) {
      // Alternate which server goes first, so neither always runs right after the other's burst.
      const order = round % 2 === 0 ? targets : [...targets].reverse();
      for (const t of order) {
        const start = performance.now();
        await t.client.ok(command);
        const key = `${t.name}\t${command}`;
        samples.set(key, [...(samples.get(key) ?? []), performance.now() - start]);
      }
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(`\n| command (${MESSAGES} messages, ${ROUNDS} alternating rounds) | mailstack median (best) | Dovecot median (best) | Dovecot / mailstack, medians |\n| --- | ---: | ---: | ---: |`);
  for (const command of COMMANDS) {
    const ours = samples.get(`mailstack\t${command}`)!;
    const theirs = samples.get(`dovecot\t${command}`)!;
    console.log(`| ${command} | ${median(ours).toFixed(1)} ms (${Math.min(...ours).toFixed(1)}) | ${median(theirs).toFixed(1)} ms (${Math.min(...theirs).toFixed(1)}) | ${(median(theirs) / median(ours)).toFixed(2)}x |`);
  }
} finally {
  for (const t of targets) {
    await t.client.close().catch(() => undefined);
    await t.stop();
  }
}
