// The transport of one IMAP session: socket bytes in and out, framing, STARTTLS, COMPRESS=DEFLATE, idle
// timeout and read backpressure. Knows nothing of commands (session.ts does).
import type { Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';
import { constants as zlibConstants, createDeflateRaw, createInflateRaw, type DeflateRaw, type InflateRaw } from 'node:zlib';
import { MAX_PREAUTH_LITERAL_BYTES, MAX_QUEUED_COMMANDS, MAX_SMALL_LITERAL_BYTES } from './limits.ts';
import { Framer } from './parser/frame.ts';
import type { InputItem, Transport } from './session.ts';

/** Pause writing responses (await drain) above this many bytes queued in the socket. */
const WRITE_HIGH_WATER = 1024 * 1024;

export interface ConnectionOptions {
  listener: string;
  secureContext: SecureContext;
  /** The socket is already TLS (993). */
  implicitTls: boolean;
  maxMessageBytes: number;
}

export class Connection implements Transport {
  private socket: Socket;
  private framer: Framer;
  private queue: InputItem[] = [];
  private waiting: ((item: InputItem | null) => void) | null = null;
  private ended = false;
  private pending: Buffer[] = [];
  private deflate: DeflateRaw | null = null;
  private inflate: InflateRaw | null = null;
  private paused = false;
  private idleTimeoutMs = 0;
  private authenticated = false;
  secure: boolean;
  readonly remoteAddress: string;
  readonly listener: string;

  constructor(socket: Socket, private readonly options: ConnectionOptions) {
    this.socket = socket;
    this.secure = options.implicitTls;
    this.listener = options.listener;
    this.remoteAddress = socket.remoteAddress ?? '';
    this.framer = this.newFramer();
    this.attach(socket);
  }

  get compressed(): boolean {
    return this.deflate !== null;
  }

  private newFramer(): Framer {
    const max = this.options.maxMessageBytes;
    // APPEND carries a message: its literal may be as big as the APPENDLIMIT; anything else stays small,
    // and before login smaller still (only LOGIN needs literals then).
    return new Framer((first) => {
      if (!this.authenticated) return MAX_PREAUTH_LITERAL_BYTES;
      return /^\S+ APPEND /i.test(first) ? max : MAX_SMALL_LITERAL_BYTES;
    });
  }

  /** Called at login: APPEND-sized literals are allowed from now on. */
  setAuthenticated(): void {
    this.authenticated = true;
  }

  private readonly onData = (chunk: Buffer) => {
    if (this.inflate) this.inflate.write(chunk);
    else this.feed(chunk);
  };
  private readonly onEnd = () => this.finish();
  private readonly onError = () => this.finish();
  private readonly onTimeout = () => {
    // A command still running (a slow login check, a big FETCH) is not idleness: wait another period.
    if (this.waiting === null && !this.ended) {
      this.socket.setTimeout(this.idleTimeoutMs);
      return;
    }
    this.write(Buffer.from('* BYE Autologout; idle for too long\r\n'));
    this.flush();
    this.close();
  };

  private attach(socket: Socket): void {
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
    socket.on('error', this.onError);
    socket.on('timeout', this.onTimeout);
  }

  private detach(socket: Socket): void {
    socket.off('data', this.onData);
    socket.off('end', this.onEnd);
    socket.off('close', this.onEnd);
    socket.off('error', this.onError);
    socket.off('timeout', this.onTimeout);
  }

  private feed(chunk: Buffer): void {
    if (this.ended) return;
    for (const ev of this.framer.push(chunk)) {
      if (ev.kind === 'continue') {
        this.write(Buffer.from('+ Ready for literal data\r\n'));
        this.flush();
      } else if (ev.kind === 'frame') {
        this.deliver({ kind: 'frame', frame: ev.frame });
      } else {
        this.deliver(ev);
      }
    }
  }

  private deliver(item: InputItem): void {
    const w = this.waiting;
    if (w) {
      this.waiting = null;
      w(item);
      return;
    }
    this.queue.push(item);
    if (this.queue.length >= MAX_QUEUED_COMMANDS && !this.paused) {
      this.paused = true;
      this.socket.pause();
      // With COMPRESS, bytes already received could inflate into many more commands: stop that too.
      this.inflate?.pause();
    }
  }

  nextInput(): Promise<InputItem | null> {
    const item = this.queue.shift();
    if (this.paused && this.queue.length < MAX_QUEUED_COMMANDS / 2) {
      this.paused = false;
      this.socket.resume();
      this.inflate?.resume();
    }
    if (item) return Promise.resolve(item);
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }

  write(data: Buffer): void {
    this.pending.push(data);
  }

  flush(): void {
    if (this.pending.length === 0 || this.ended) {
      this.pending = [];
      return;
    }
    const data = this.pending.length === 1 ? (this.pending[0] as Buffer) : Buffer.concat(this.pending);
    this.pending = [];
    if (this.deflate) {
      this.deflate.write(data);
      // RFC 4978 4: each response is flushed so the client can act on it.
      this.deflate.flush(zlibConstants.Z_SYNC_FLUSH);
    } else {
      this.socket.write(data);
    }
  }

  async drained(): Promise<void> {
    if (this.ended || this.socket.writableLength < WRITE_HIGH_WATER) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        resolve();
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
  }

  async startTls(): Promise<void> {
    const plain = this.socket;
    this.detach(plain);
    // RFC 9051 6.2.1 / RFC 7457 2.2: nothing pipelined in clear text may be acted on after the handshake.
    this.queue = [];
    this.framer = this.newFramer();
    const tls = new TLSSocket(plain, { isServer: true, secureContext: this.options.secureContext });
    this.socket = tls;
    this.attach(tls);
    tls.setTimeout(plain.timeout ?? 0);
    await new Promise<void>((resolve) => {
      const ok = () => {
        tls.off('error', fail);
        this.secure = true;
        resolve();
      };
      const fail = () => {
        tls.off('secure', ok);
        this.finish();
        resolve();
      };
      tls.once('secure', ok);
      tls.once('error', fail);
    });
  }

  startCompression(): void {
    const deflate = createDeflateRaw({ windowBits: 15 });
    const inflate = createInflateRaw({ windowBits: 15 });
    // Compressed output may still arrive after close() began (deflate is asynchronous): send it while the
    // socket is writable, so the final BYE/OK reach the client.
    deflate.on('data', (d: Buffer) => {
      if (this.socket.writable) this.socket.write(d);
    });
    inflate.on('data', (d: Buffer) => this.feed(d));
    // A client sending data that is not deflate gets disconnected, not a crash.
    inflate.on('error', () => this.close());
    deflate.on('error', () => this.close());
    this.deflate = deflate;
    this.inflate = inflate;
  }

  setIdleTimeout(ms: number): void {
    this.idleTimeoutMs = ms;
    this.socket.setTimeout(ms);
  }

  close(): void {
    if (this.socket.destroyed) {
      this.finish();
      return;
    }
    this.flush();
    if (this.deflate) {
      const socket = this.socket;
      this.deflate.end(() => socket.end());
    } else {
      this.socket.end();
    }
    // A client that never reads must not keep the socket: destroy after a grace period.
    const socket = this.socket;
    setTimeout(() => socket.destroy(), 5_000).unref();
    this.finish();
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    this.queue = [];
    const w = this.waiting;
    this.waiting = null;
    w?.(null);
  }
}
