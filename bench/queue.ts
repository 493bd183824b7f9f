// npm run bench:queue: outbound queue throughput. N messages of SIZE bytes, one recipient each, for one
// destination domain whose MX (published by the benchmark's own DNS server on loopback) is Postfix's
// smtp-sink on 127.0.0.1.
// 1. direct: enqueue() called by the program, 32 in flight (each durable in the encrypted store), then
//    delivered; figures: the enqueue rate and the delivery rate (first enqueue to the last removal).
// 2. relay, side by side with Postfix in the same run: smtp-source sends the N messages over SESSIONS
//    connections from a trusted network to mailstack's MX, which queues and relays them to smtp-sink; the
//    same to a private Postfix (relayhost = the sink). The clock stops when the last message was accepted
//    by the sink (mailstack: removed from the queue; Postfix: the N-th status=sent in its log).
//
//   npm run bench:queue                         (default 2000 x 1 KB, 20 sessions to the destination)
//   BENCH_QUEUE="5000x1024x20" npm run bench:queue
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { configSchema } from '../src/config/index.ts';
import { createResolver } from '../src/dns/index.ts';
import { silentLogger } from '../src/log/index.ts';
import { openGuard, SecurityEventBus, type Runtime } from '../src/runtime/index.ts';
import { openStore } from '../src/store/index.ts';
import { startQueue } from '../src/queue/index.ts';
import { startSmtp } from '../src/smtp/index.ts';
import { startDnsServer } from '../test/helpers/dns-server.ts';
import { testCertificate } from '../test/smtp/harness.ts';
import { postfixAvailable, startPostfix } from '../test/queue/postfix-peer.ts';
import { existsSync, readFileSync } from 'node:fs';

const [messages, size, sessions] = (process.env['BENCH_QUEUE'] ?? '2000x1024x20').split('x').map(Number) as [number, number, number];
const ENQUEUE_IN_FLIGHT = 32;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function body(n: number): Buffer {
  const head = `From: bench@local.test\r\nTo: sink${n}@sink.test\r\nSubject: bench ${n}\r\nMessage-ID: <b${n}@local.test>\r\n\r\n`;
  const line = 'x'.repeat(76) + '\r\n';
  return Buffer.from(head + line.repeat(Math.max(1, Math.ceil((size - head.length) / line.length))));
}

const dir = mkdtempSync(join(tmpdir(), 'bench-queue-'));
const port = await freePort();
// smtp-sink: accepts everything and throws it away; -u is needed when started as root.
const sink = spawn('smtp-sink', ['-u', 'nobody', '-m', String(sessions * 2), `127.0.0.1:${port}`, '1024'], { stdio: 'ignore' });
process.on('exit', () => sink.kill());
const dns = await startDnsServer({
  'sink.test': { MX: [{ exchange: 'mx.sink.test', priority: 10 }] },
  'mx.sink.test': { A: ['127.0.0.1'] },
  'client.test': { A: ['127.0.0.1'], TXT: ['v=spf1 ip4:127.0.0.1 -all'] },
});
const store = await openStore({ dir: join(dir, 'store'), key: randomBytes(32) });
const config = configSchema.parse({
  server: { data_dir: dir, hostname: 'bench.local.test', trusted_networks: ['127.0.0.0/8'] },
  smtp: { listen: ['127.0.0.1:0'], max_clients: 1000 },
  dns: { upstream: [dns.upstream], timeout_ms: 1000 },
  queue: { smtp_port: port, allow_internal_destinations: true, per_destination_concurrency: sessions, retry_min_ms: 200, retry_max_ms: 1000 },
});
const runtime: Runtime = { config, log: silentLogger(), store: () => store, tls: await testCertificate(), events: new SecurityEventBus(), guard: openGuard };
const resolver = createResolver({ upstream: [dns.upstream], timeoutMs: 1000 });
const queue = startQueue(runtime, { resolver });

let removed = 0;
let deferred = 0;
const done = new Promise<void>((resolve) => {
  queue.events.on('removed', () => ++removed === messages && resolve());
  queue.events.on('attempt', (a) => (deferred += a.results.filter((r) => r.outcome !== 'delivered').length));
});
const payloads = Array.from({ length: messages }, (_, i) => body(i));
const start = performance.now();
let next = 0;
await Promise.all(
  Array.from({ length: ENQUEUE_IN_FLIGHT }, async () => {
    while (next < messages) {
      const i = next++;
      await queue.enqueue('bench@local.test', [`sink${i}@sink.test`], payloads[i]!);
    }
  }),
);
const enqueued = performance.now();
await done;
const finished = performance.now();

const rate = (n: number, ms: number) => Math.round((n / ms) * 1000);
console.log(`bench:queue ${messages} x ${size} B, ${sessions} sessions to smtp-sink, load average ${loadavg()[0]!.toFixed(1)}`);
console.log(`  direct: enqueue (durable, ${ENQUEUE_IN_FLIGHT} in flight): ${(enqueued - start).toFixed(0)} ms, ${rate(messages, enqueued - start)} msg/s`);
console.log(`  direct: delivered (enqueue start to last removal): ${(finished - start).toFixed(0)} ms, ${rate(messages, finished - start)} msg/s; retries: ${deferred}`);

function smtpSource(target: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('smtp-source', ['-s', String(sessions), '-m', String(messages), '-l', String(size), '-M', 'client.test', '-f', 'bench@client.test', '-t', 'sink@sink.test', target], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`smtp-source exited ${code}: ${stderr.slice(0, 300)}`))));
  });
}

// 2. relay through mailstack's MX.
const mx = await startSmtp(runtime, { resolver, queue });
removed = 0;
const relayed = new Promise<void>((resolve) => queue.events.on('removed', () => ++removed === messages && resolve()));
const relayStart = performance.now();
await smtpSource(`127.0.0.1:${mx.listening[0]!.port}`);
await relayed;
const ours = performance.now() - relayStart;
console.log(`  relay: mailstack MX -> queue -> smtp-sink: ${ours.toFixed(0)} ms, ${rate(messages, ours)} msg/s`);
await mx.close();

let theirs: number | null = null;
if (postfixAvailable()) {
  const root = mkdtempSync(join(tmpdir(), 'bench-queue-postfix-'));
  const postfix = await startPostfix(root, { relayPort: port });
  try {
    const sent = () => (existsSync(postfix.log) ? readFileSync(postfix.log, 'utf8').match(/status=sent/g)?.length ?? 0 : 0);
    const pfStart = performance.now();
    await smtpSource(`127.0.0.1:${postfix.port}`);
    // Polling the log is the benchmark's clock, not a test's synchronisation.
    while (sent() < messages) await new Promise((r) => setTimeout(r, 50));
    theirs = performance.now() - pfStart;
    console.log(`  relay: Postfix smtpd -> queue -> smtp-sink: ${theirs.toFixed(0)} ms, ${rate(messages, theirs)} msg/s`);
  } finally {
    await postfix.stop();
    rmSync(root, { recursive: true, force: true });
  }
}
console.log(`\n| ${messages} x ${size} B over ${sessions} sessions | msg/s |\n| --- | --- |`);
console.log(`| mailstack enqueue() (durable) | ${rate(messages, enqueued - start)} |`);
console.log(`| mailstack enqueue() to delivered | ${rate(messages, finished - start)} |`);
console.log(`| mailstack relay (MX -> queue -> sink) | ${rate(messages, ours)} |`);
console.log(`| Postfix relay (smtpd -> queue -> sink) | ${theirs === null ? 'not run' : rate(messages, theirs)} |`);
if (theirs !== null) console.log(`| ratio mailstack / Postfix (relay) | ${(theirs / ours).toFixed(2)}x |`);

await queue.close();
await store.close();
await dns.close();
sink.kill();
rmSync(dir, { recursive: true, force: true });
