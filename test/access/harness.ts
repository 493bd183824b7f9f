// Test harness for access control: a real store in a temp directory, the hand-made GeoLite2 CSV fixture,
// plain TCP servers that use the guard at accept like the real listeners, and clients that connect from a
// chosen loopback source address (any of 127.0.0.0/8 works on Linux without configuration).
import { connect, createServer, type Server, type Socket } from 'node:net';
import { mkdtemp, rm, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { parseConfig, type Config } from '../../src/config/index.ts';
import { openStore } from '../../src/store/index.ts';
import type { Store } from '../../src/store/types.ts';
import { SecurityEventBus } from '../../src/runtime/index.ts';
import type { Logger } from '../../src/log/index.ts';
import { createAccessControl, importGeoFiles, GEOIP_SECRET, type AccessControl } from '../../src/access/index.ts';
import { runCli, makeInstance } from '../helpers/cli.ts';

export const FIXTURE_DIR = fileURLToPath(new URL('../fixtures/geoip/', import.meta.url));
export const FIXTURE_FILES = ['GeoLite2-Country-Blocks-IPv4.csv', 'GeoLite2-Country-Blocks-IPv6.csv', 'GeoLite2-Country-Locations-en.csv'].map((f) => join(FIXTURE_DIR, f));

/** A config whose [access] section is `accessToml` (the rest minimal). */
export function accessConfig(accessToml: string, dataDir = '/nonexistent'): Config {
  return parseConfig(`[server]\ndata_dir = "${dataDir}"\n\n${accessToml}\n`, join(tmpdir(), 'mailstack-access-test.toml'));
}

/** Log lines captured as parsed JSON objects. */
export function captureLog(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { log: pino({ level: 'info' }, sink), lines };
}

export interface Env {
  dir: string;
  store: Store;
  /** Closes and reopens the store on the same directory (a restart). */
  reopen(): Promise<Store>;
  events: SecurityEventBus;
  clock: { now: number };
  cleanup(): Promise<void>;
}

const KEY = Buffer.alloc(32, 7);

export async function makeEnv(): Promise<Env> {
  const dir = await mkdtemp(join(tmpdir(), 'mailstack-access-'));
  const env: Env = {
    dir,
    store: await openStore({ dir, key: KEY }),
    events: new SecurityEventBus(),
    clock: { now: Date.UTC(2026, 0, 1) },
    async reopen() {
      await env.store.close();
      env.store = await openStore({ dir, key: KEY });
      return env.store;
    },
    async cleanup() {
      await env.store.close().catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
  return env;
}

export async function importFixture(store: Store): Promise<void> {
  const table = await importGeoFiles(FIXTURE_FILES);
  await store.secrets.put(GEOIP_SECRET, table.serialize());
}

export function guardFor(env: Env, config: Config, log: Logger = pino({ level: 'silent' })): AccessControl {
  return createAccessControl({ config, store: () => env.store, log, events: env.events, now: () => env.clock.now });
}

export interface TestServer {
  port: number;
  /** Sockets the server admitted and that are still open. */
  open: Set<Socket>;
  close(): Promise<void>;
}

/** A line-greeting TCP server that asks the guard at accept, before any byte, as the listeners do. */
export async function startGuarded(guard: AccessControl, listener: string): Promise<TestServer> {
  const open = new Set<Socket>();
  const server: Server = createServer((socket) => {
    socket.on('error', () => {});
    if (!guard.admit(listener, socket)) {
      socket.destroy();
      return;
    }
    open.add(socket);
    socket.on('close', () => open.delete(socket));
    socket.write(`* OK ${listener} ready\r\n`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    open,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  };
}

export interface Client {
  greeted: boolean;
  greeting: string;
  socket: Socket;
  /** Resolves when the server closed the connection. */
  closed: Promise<void>;
}

/** Connects from `from` (a 127.0.0.x address); resolves once greeted, or once closed without a greeting. */
export function connectFrom(port: number, from: string): Promise<Client> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress: from });
    let settled = false;
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.on('error', () => {});
    socket.once('data', (d: Buffer) => {
      settled = true;
      resolve({ greeted: true, greeting: d.toString(), socket, closed });
    });
    socket.once('close', () => {
      if (!settled) resolve({ greeted: false, greeting: '', socket, closed });
    });
  });
}

export async function greets(port: number, from: string): Promise<boolean> {
  const c = await connectFrom(port, from);
  c.socket.destroy();
  await c.closed;
  return c.greeted;
}

/** A `mailstack init` instance with an [access] section (policy lines), and a CLI runner bound to it. */
export async function instanceWithAccess(
  policy = 'client_countries = ["DE", "AT", "FR", "LU"]\nadmin_networks = ["203.0.113.0/24"]',
  tables = '[access.listeners.imap]\nallow_cidrs = ["198.51.100.7/32"]\n',
) {
  const inst = await makeInstance();
  const text = await readFile(inst.config, 'utf8');
  const withPolicy = text.includes('\n[access]\n') ? text.replace('\n[access]\n', `\n[access]\n${policy}\n`) : `${text}\n[access]\n${policy}\n`;
  await writeFile(inst.config, `${withPolicy}\n${tables}`);
  const cli = (...args: string[]) => runCli([...args, '--config', inst.config, '--passphrase-file', inst.passphraseFile]);
  return { inst, cli };
}
