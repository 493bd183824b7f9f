// Test harness for the IMAP server: a fresh encrypted store in a temp dir, a user, a self-signed
// certificate, the real server on 127.0.0.1:0 (STARTTLS and implicit TLS), and a raw transcript client
// for exact protocol checks.
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { createDeflateRaw, createInflateRaw, constants as zc, type DeflateRaw, type InflateRaw } from 'node:zlib';
import { configSchema, type Config } from '../../src/config/index.ts';
import { silentLogger } from '../../src/log/index.ts';
import { SecurityEventBus, openGuard, type Runtime, type AuthEvent, type Clock, type ConnectionGuard } from '../../src/runtime/index.ts';
import { openStore } from '../../src/store/index.ts';
import type { Store, User } from '../../src/store/types.ts';
import { authenticate, hashPassword, verifyPassword } from '../../src/accounts/index.ts';
import { startImap, type ImapListeners, type ImapOverrides } from '../../src/imap/index.ts';

export const PASSWORD = 'correct horse battery staple';

let cachedHash: string | null = null;
async function passwordHash(): Promise<string> {
  cachedHash ??= await hashPassword(PASSWORD);
  return cachedHash;
}

export interface Harness {
  dir: string;
  store: Store;
  user: User;
  other: User;
  runtime: Runtime;
  imap: ImapListeners;
  port: number;
  tlsPort: number;
  authFailures: AuthEvent[];
  /** Sets whether the store is visible (false = locked vault). */
  setLocked(locked: boolean): void;
  /** A client on the implicit-TLS port, logged in as the user unless login is false. */
  client(options?: { login?: boolean; user?: User }): Promise<ImapClient>;
  /** A client on the STARTTLS port, not logged in, before STARTTLS. */
  plainClient(): Promise<ImapClient>;
  /** Delivers a message into a mailbox of the user, as SMTP delivery would. */
  deliver(raw: string | Buffer, mailbox?: string, user?: User): Promise<number>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  imap?: Partial<Config['imap']>;
  /** Access control's hook (default: admit everyone, no extra delay). */
  guard?: ConnectionGuard;
  /** Times the failed-login delay (default: the system clock). */
  clock?: Clock;
  /** The login check (default: the accounts service's, with bcrypt results memoised). */
  authenticate?: ImapOverrides['authenticate'];
  maxMessageBytes?: number;
  /** Where the harness's directory is made (default: the system's temporary directory). */
  parentDir?: string;
}

export function makeCert(dir: string): { key: Buffer; cert: Buffer } {
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=localhost', '-keyout', key, '-out', cert], { stdio: 'ignore' });
  return { key: readFileSync(key), cert: readFileSync(cert) };
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const dir = mkdtempSync(join(options.parentDir ?? tmpdir(), 'mailstack-imap-'));
  const tls = makeCert(dir);
  const store = await openStore({ dir: join(dir, 'data'), key: randomBytes(32) });
  await store.accounts.addDomain('example.org');
  const hash = await passwordHash();
  const user = await store.accounts.addUser({ address: 'alice@example.org', passwordHash: hash, quotaBytes: 10 * 1024 * 1024 });
  const other = await store.accounts.addUser({ address: 'bob@example.org', passwordHash: hash });
  const config = configSchema.parse({
    server: { data_dir: dir },
    store: { max_message_bytes: options.maxMessageBytes ?? 1024 * 1024 },
    imap: { login_failure_delay_ms: 0, login_failure_max_delay_ms: 0, ...options.imap },
  });
  let locked = false;
  const events = new SecurityEventBus();
  const authFailures: AuthEvent[] = [];
  events.on('auth-failure', (e) => authFailures.push(e));
  const runtime: Runtime = {
    config,
    log: silentLogger(),
    store: () => (locked ? null : store),
    tls,
    events,
    guard: options.guard ?? openGuard,
    ...(options.clock ? { clock: options.clock } : {}),
  };
  // The real accounts check, with bcrypt results memoised per (hash, password): each distinct check runs
  // once at full cost, repeated logins of the same test user do not (bcrypt cost 12 is ~1 s on this machine).
  const verified = new Map<string, boolean>();
  const verify = async (stored: string, password: string) => {
    const k = stored + '\0' + password;
    let v = verified.get(k);
    if (v === undefined) {
      v = await verifyPassword(stored, password);
      verified.set(k, v);
    }
    return v;
  };
  const imap = await startImap(runtime, {
    listen: ['127.0.0.1:0'],
    listenTls: ['127.0.0.1:0'],
    authenticate: options.authenticate ?? ((s, a, p) => authenticate(s, a, p, { verify })),
  });
  const port = imap.listening.find((l) => l.name === 'imap')!.port;
  const tlsPort = imap.listening.find((l) => l.name === 'imaps')!.port;
  const clients: ImapClient[] = [];
  const h: Harness = {
    dir, store, user, other, runtime, imap, port, tlsPort, authFailures,
    setLocked: (v) => {
      locked = v;
    },
    async client(opts = {}) {
      const c = await ImapClient.connectTls(tlsPort);
      clients.push(c);
      if (opts.login !== false) await c.ok(`LOGIN ${(opts.user ?? user).address} "${PASSWORD}"`);
      return c;
    },
    async plainClient() {
      const c = await ImapClient.connectPlain(port);
      clients.push(c);
      return c;
    },
    async deliver(raw, mailbox = 'INBOX', u = user) {
      const res = await store.mail.deliver({ raw: Buffer.isBuffer(raw) ? raw : Buffer.from(raw), targets: [{ userId: u.id, mailbox }] });
      return res.stored[0]!.uid;
    },
    async close() {
      for (const c of clients) c.destroy();
      await imap.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return h;
}

/** A message with CRLF line ends. */
export function message(subject: string, body = 'Hello.', extraHeaders = ''): string {
  return `From: Sender <sender@example.com>\r\nTo: alice@example.org\r\nSubject: ${subject}\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\nMessage-ID: <${subject.replace(/\W/g, '')}@example.com>\r\n${extraHeaders}\r\n${body}\r\n`;
}

export interface Response {
  tagged: string;
  untagged: string[];
  /** tagged status: OK, NO or BAD */
  status: string;
}

/** A raw IMAP client: sends lines, reads responses (literals folded into the response text). */
export class ImapClient {
  private buffer = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  private closed = false;
  private tagCounter = 0;
  private deflate: DeflateRaw | null = null;
  greeting = '';

  private constructor(private socket: Socket) {
    this.attach(socket);
  }

  private onData = (d: Buffer) => {
    if (this.inflate) this.inflate.write(d);
    else this.push(d);
  };
  private inflate: InflateRaw | null = null;

  private attach(socket: Socket): void {
    socket.on('data', this.onData);
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => {});
  }

  static async connectTls(port: number): Promise<ImapClient> {
    const socket = tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', () => resolve());
      socket.once('error', reject);
    });
    const c = new ImapClient(socket);
    c.greeting = await c.readLine();
    return c;
  }

  static async connectPlain(port: number): Promise<ImapClient> {
    const socket = netConnect({ port, host: '127.0.0.1' });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
    });
    const c = new ImapClient(socket);
    c.greeting = await c.readLine();
    return c;
  }

  private push(d: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, d]);
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private async waitData(): Promise<void> {
    if (this.closed) throw new Error('connection closed');
    await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  /** Reads one line (without CRLF). */
  async readRawLine(): Promise<string> {
    for (;;) {
      const i = this.buffer.indexOf('\r\n');
      if (i >= 0) {
        const line = this.buffer.subarray(0, i).toString('utf8');
        this.buffer = this.buffer.subarray(i + 2);
        return line;
      }
      if (this.closed) throw new Error(`connection closed (pending: ${this.buffer.toString('utf8').slice(0, 200)})`);
      await this.waitData();
    }
  }

  async readBytes(n: number): Promise<Buffer> {
    while (this.buffer.length < n) await this.waitData();
    const out = this.buffer.subarray(0, n);
    this.buffer = this.buffer.subarray(n);
    return out;
  }

  /** Reads one response; literals are included inline as {n}\r\n<bytes>. */
  async readLine(): Promise<string> {
    let line = await this.readRawLine();
    for (;;) {
      const m = /~?\{(\d+)\}$/.exec(line);
      if (!m) return line;
      const data = await this.readBytes(Number(m[1]));
      line += '\r\n' + data.toString('utf8') + (await this.readRawLine());
    }
  }

  /** True when the connection is closed by the server (after reading what is left). */
  async closedByServer(): Promise<boolean> {
    while (!this.closed) await this.waitData().catch(() => {});
    return true;
  }

  write(data: string | Buffer): void {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    if (this.deflate) {
      this.deflate.write(buf);
      this.deflate.flush(zc.Z_SYNC_FLUSH);
    } else {
      this.socket.write(buf);
    }
  }

  nextTag(): string {
    return `A${++this.tagCounter}`;
  }

  /** Sends `tag command` and collects responses until the tagged one. */
  async command(cmd: string): Promise<Response> {
    const tag = this.nextTag();
    this.write(`${tag} ${cmd}\r\n`);
    return this.until(tag);
  }

  async until(tag: string): Promise<Response> {
    const untagged: string[] = [];
    for (;;) {
      const line = await this.readLine();
      if (line.startsWith(tag + ' ')) {
        const status = line.slice(tag.length + 1).split(' ')[0] ?? '';
        return { tagged: line, untagged, status };
      }
      untagged.push(line);
    }
  }

  async ok(cmd: string): Promise<Response> {
    const r = await this.command(cmd);
    if (r.status !== 'OK') throw new Error(`expected OK for "${cmd.slice(0, 80)}", got: ${r.tagged}\n${r.untagged.join('\n')}`);
    return r;
  }

  async startTls(): Promise<void> {
    await this.ok('STARTTLS');
    await this.upgrade();
  }

  /** The client side of the TLS handshake, after a STARTTLS OK read by the caller. */
  async upgrade(): Promise<void> {
    this.socket.off('data', this.onData);
    const secure = tlsConnect({ socket: this.socket, rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', () => resolve());
      secure.once('error', reject);
    });
    this.socket = secure;
    this.attach(secure);
  }

  startCompression(): void {
    this.deflate = createDeflateRaw();
    this.deflate.on('data', (d: Buffer) => this.socket.write(d));
    this.inflate = createInflateRaw();
    this.inflate.on('data', (d: Buffer) => this.push(d));
  }

  destroy(): void {
    this.socket.destroy();
  }
}

