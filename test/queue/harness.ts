// Shared set-up for queue tests: a real store in a temp dir, the test DNS server, a Runtime, the queue,
// and tiny SMTP receivers (smtp-server) whose replies each test scripts.
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { TestContext } from 'node:test';
import { SMTPServer, type SMTPServerSession, type SMTPServerAddress } from 'smtp-server';
import { openStore, type Store } from '../../src/store/index.ts';
import { configSchema } from '../../src/config/index.ts';
import { SecurityEventBus, openGuard, type Runtime } from '../../src/runtime/index.ts';
import { createLogger, silentLogger } from '../../src/log/index.ts';
import { createResolver } from '../../src/dns/index.ts';
import { startQueue, type QueueDeps, type RunningQueue } from '../../src/queue/index.ts';
import { makeSelfSigned } from '../../src/server/index.ts';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.ts';

export interface Harness {
  dir: string;
  store: Store;
  dns: TestDnsServer;
  runtime: Runtime;
  queue: RunningQueue;
}

/** The Runtime a queue needs, over an open store; also used by the crash test's child process. */
export function buildRuntime(store: Store, dir: string, dnsUpstream: string, queue: Record<string, unknown>): Runtime {
  const config = configSchema.parse({
    server: { data_dir: dir, hostname: 'mx.local.test' },
    dns: { upstream: [dnsUpstream], timeout_ms: 1000 },
    queue: { allow_internal_destinations: true, retry_min_ms: 20, retry_max_ms: 100, connect_timeout_ms: 2000, command_timeout_ms: 5000, ...queue },
  });
  return {
    config,
    // QUEUE_TEST_LOG=debug shows the queue's log lines on stderr.
    log: process.env['QUEUE_TEST_LOG'] ? createLogger({ level: process.env['QUEUE_TEST_LOG'] as 'debug' }) : silentLogger(),
    store: () => store,
    tls: { key: '', cert: '' },
    events: new SecurityEventBus(),
    guard: openGuard,
  };
}

export interface HarnessOptions {
  /** Reuse a data directory and store key (to reopen what a killed process left). */
  dir?: string;
  key?: Buffer;
  dns?: TestDnsServer;
}

export async function startHarness(t: TestContext, queue: Record<string, unknown>, deps: Partial<QueueDeps> = {}, options: HarnessOptions = {}): Promise<Harness> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'queue-test-'));
  const store = await openStore({ dir: join(dir, 'store'), key: options.key ?? randomBytes(32) });
  const dns = options.dns ?? (await startDnsServer());
  const runtime = buildRuntime(store, dir, dns.upstream, queue);
  const resolver = deps.resolver ?? createResolver({ upstream: [dns.upstream], timeoutMs: 1000 });
  const running = startQueue(runtime, { resolver, ...(deps.deliverLocal ? { deliverLocal: deps.deliverLocal } : {}) });
  t.after(async () => {
    await running.close();
    await store.close();
    if (!options.dns) await dns.close();
    if (!options.dir) rmSync(dir, { recursive: true, force: true });
  });
  return { dir, store, dns, runtime, queue: running };
}

export interface ReceivedMessage {
  from: string;
  to: string[];
  raw: Buffer;
  secure: boolean;
  session: string;
}

export interface ReceiverScript {
  /** Throw smtpError(code, text) to refuse a recipient. */
  onRcpt?: (address: string, attempt: number) => void;
  /** Called after the data arrived; throw smtpError to refuse the message. */
  onData?: (message: ReceivedMessage, attempt: number) => void | Promise<void>;
  /** Hold DATA until this resolves (to keep a message in flight). */
  holdData?: Promise<void>;
  /** Offer STARTTLS with a self-signed certificate. */
  tls?: boolean;
  host?: string;
  port?: number;
  /** SIZE limit the receiver announces (RFC 1870). */
  size?: number;
}

export interface Receiver {
  host: string;
  port: number;
  messages: ReceivedMessage[];
  connections: number;
  maxConcurrent: number;
  events: EventEmitter<{ message: [ReceivedMessage]; connection: [] }>;
  close(): Promise<void>;
}

export function smtpError(code: number, text: string): Error {
  return Object.assign(new Error(text), { responseCode: code });
}

let certCache: { key: Buffer; cert: Buffer } | null = null;
async function testCertificate(): Promise<{ key: Buffer; cert: Buffer }> {
  if (certCache) return certCache;
  const dir = mkdtempSync(join(tmpdir(), 'queue-cert-'));
  try {
    await makeSelfSigned('mx.remote.test', dir, join(dir, 'key.pem'), join(dir, 'cert.pem'));
    certCache = { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
    return certCache;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function startReceiver(t: TestContext, script: ReceiverScript = {}): Promise<Receiver> {
  const events = new EventEmitter<{ message: [ReceivedMessage]; connection: [] }>();
  const state: Receiver = { host: script.host ?? '127.0.0.1', port: 0, messages: [], connections: 0, maxConcurrent: 0, events, close: async () => {} };
  let active = 0;
  let rcptAttempts = 0;
  let dataAttempts = 0;
  const cert = script.tls ? await testCertificate() : null;
  const server = new SMTPServer({
    logger: false,
    authOptional: true,
    disabledCommands: script.tls ? ['AUTH'] : ['AUTH', 'STARTTLS'],
    ...(cert ? { key: cert.key, cert: cert.cert } : {}),
    size: script.size ?? 50 * 1024 * 1024,
    // Tests end with the queue's cached connection still open: close it at once.
    closeTimeout: 1,
    // No reverse lookups of 127.0.0.1 through the machine's resolver.
    disableReverseLookup: true,
    onConnect(_session, callback) {
      state.connections++;
      active++;
      state.maxConcurrent = Math.max(state.maxConcurrent, active);
      events.emit('connection');
      callback();
    },
    onClose() {
      active--;
    },
    onRcptTo(address: SMTPServerAddress, _session: SMTPServerSession, callback: (err?: Error | null) => void) {
      rcptAttempts++;
      try {
        script.onRcpt?.(address.address, rcptAttempts);
        callback();
      } catch (err) {
        callback(err as Error);
      }
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', async () => {
        dataAttempts++;
        const message: ReceivedMessage = {
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks),
          secure: session.secure,
          session: session.id,
        };
        try {
          if (script.holdData) await script.holdData;
          await script.onData?.(message, dataAttempts);
          state.messages.push(message);
          callback();
          events.emit('message', message);
        } catch (err) {
          callback(err as Error);
        }
      });
    },
  });
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(script.port ?? 0, state.host, () => resolve()));
  state.port = (server.server.address() as { port: number }).port;
  state.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  t.after(() => state.close());
  return state;
}

/** The next event of that name whose payload satisfies `match`. */
export function nextEvent<T>(emitter: EventEmitter, name: string, match: (payload: T) => boolean = () => true): Promise<T> {
  return new Promise((resolve) => {
    const listener = (payload: T) => {
      if (!match(payload)) return;
      emitter.off(name, listener);
      resolve(payload);
    };
    emitter.on(name, listener);
  });
}

export const MESSAGE = Buffer.from(
  [
    'From: Alice <alice@local.test>',
    'To: Bob <bob@remote.test>',
    'Subject: Queue test',
    'Date: Tue, 24 Nov 2026 10:00:00 +0000',
    'Message-ID: <queue-test@local.test>',
    '',
    'Hello Bob.',
    '.leading dot line',
    '',
  ].join('\r\n'),
);
