// npm run bench:queue: outbound queue throughput. N messages of SIZE bytes, one recipient each, for one
// destination domain whose MX (published by the benchmark's own DNS server on loopback) is Postfix's
// smtp-sink on 127.0.0.1. Two figures: the enqueue rate (each enqueue durable in the encrypted store, C in
// flight, as concurrent submissions would do) and the delivery rate (first enqueue to the last message
// removed from the queue after its 250).
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
import { startDnsServer } from '../test/helpers/dns-server.ts';

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
const dns = await startDnsServer({ 'sink.test': { MX: [{ exchange: 'mx.sink.test', priority: 10 }] }, 'mx.sink.test': { A: ['127.0.0.1'] } });
const store = await openStore({ dir: join(dir, 'store'), key: randomBytes(32) });
const config = configSchema.parse({
  server: { data_dir: dir, hostname: 'bench.local.test' },
  dns: { upstream: [dns.upstream], timeout_ms: 1000 },
  queue: { smtp_port: port, allow_internal_destinations: true, per_destination_concurrency: sessions, retry_min_ms: 200, retry_max_ms: 1000 },
});
const runtime: Runtime = { config, log: silentLogger(), store: () => store, tls: { key: '', cert: '' }, events: new SecurityEventBus(), guard: openGuard };
const queue = startQueue(runtime, { resolver: createResolver({ upstream: [dns.upstream], timeoutMs: 1000 }) });

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
console.log(`  enqueue (durable, ${ENQUEUE_IN_FLIGHT} in flight): ${(enqueued - start).toFixed(0)} ms, ${rate(messages, enqueued - start)} msg/s`);
console.log(`  delivered (enqueue start to last removal): ${(finished - start).toFixed(0)} ms, ${rate(messages, finished - start)} msg/s; retries: ${deferred}`);

await queue.close();
await store.close();
await dns.close();
sink.kill();
rmSync(dir, { recursive: true, force: true });
