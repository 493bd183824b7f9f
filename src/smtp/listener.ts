// The common part of every SMTP-family listener (MX, submission, LMTP): an smtp-server instance with our
// TLS key, access control at accept, per-connection limits, enhanced status codes that come out once, and
// a bounded reader for the DATA stream.
import { SMTPServer, type SMTPServerOptions, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { BlockList, isIP } from 'node:net';
import { chmod, unlink } from 'node:fs/promises';
import type { Runtime, Protocol } from '../runtime/index.ts';
import { newId, type Logger } from '../log/index.ts';
import { ENHANCED_PREFIX } from './reply.ts';

export interface ListenerLimits {
  max_recipients: number;
  max_line_bytes: number;
  max_commands: number;
  max_errors: number;
  idle_timeout_ms: number;
  session_timeout_ms: number;
  max_clients: number;
}

export interface Listening {
  name: string;
  address: string;
  port: number;
}

export interface ListenerHandle {
  close(): Promise<void>;
  listening: Listening[];
}

/** "host:port", "[v6]:port" or "/unix/socket". */
export function parseListen(spec: string): { path: string } | { host: string; port: number } {
  if (spec.startsWith('/')) return { path: spec };
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(spec);
  if (!m) throw new Error(`bad listen address ${spec}`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port: Number(m[3]) };
}

/** Postfix mynetworks: clients from these networks relay without AUTH and skip the restrictions. */
export function trustedNetworks(cidrs: readonly string[]): (address: string) => boolean {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [addr, bits] = cidr.split('/');
    if (!addr) continue;
    const family = isIP(addr) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(addr, family);
    else list.addSubnet(addr, Number(bits), family);
  }
  return (address: string) => {
    const plain = address.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');
    const family = isIP(plain);
    if (family === 0) return false;
    return list.check(plain, family === 6 ? 'ipv6' : 'ipv4');
  };
}

type Conn = SMTPServer['connections'] extends Set<infer C> ? C : never;

interface ListenerOptions {
  runtime: Runtime;
  /** The listener's name for access control and logs ("smtp", "submission", "submission_tls", "lmtp"). */
  name: string;
  protocol: Protocol;
  limits: ListenerLimits;
  log: Logger;
  smtp: SMTPServerOptions;
  /** Mode for unix-socket listeners. */
  socketMode?: number;
}

/**
 * Closes a plaintext connection as soon as the 221 reply to QUIT is in the kernel's hands, as Postfix's
 * smtpd does (RFC 5321 4.1.1.10: the server closes after replying to QUIT). smtp-server would half-close
 * and wait for the client's FIN; many senders (Postfix's smtp client among them) instead reset the
 * connection once they have the 221, and Node turns that reset into an ECONNRESET error whose stack is
 * formatted (through source maps under tsx) for nothing: ~0.1 ms per message, on the path of the next
 * connection. TLS connections keep smtp-server's close, which sends the TLS close_notify first.
 */
function closeAfterQuit(conn: Conn, socket: Socket): void {
  if (conn._socket !== socket || socket.destroyed || (socket as TLSSocket).encrypted) return;
  // Nothing queued in user space: the reply is in the socket's send buffer, and close(2) still delivers
  // it before the FIN.
  if (socket.writableLength === 0) socket.destroy();
  else socket.end(() => socket.destroy());
}

/**
 * smtp-server with our policies wired in. Subclassed rather than configured because the library has no
 * hook for accept-time access control (before the TLS handshake of port 465) or for the replies it sends.
 */
class GuardedSmtpServer extends SMTPServer {
  constructor(
    private readonly opts: ListenerOptions,
    smtpOptions: SMTPServerOptions,
  ) {
    super(smtpOptions);
  }

  override _acceptSocket(socket: Socket, handshake: boolean): (() => void) | false {
    // Access control before any byte is read or written (common brief): bans, GeoIP, rates.
    if (!this.opts.runtime.guard.admit(this.opts.name, socket)) {
      socket.destroy();
      return false;
    }
    return super._acceptSocket(socket, handshake);
  }

  override _handleProxy(socket: Socket, callback: Parameters<SMTPServer['_handleProxy']>[1]): void {
    // Without a PROXY header to read, smtp-server still starts the session one event-loop turn later
    // (setImmediate) and draws its id from crypto.randomBytes: the session starts now instead, with an id
    // like our other ones (grep-able next to the message ids, as Postfix's queue ids are).
    if (this._expectsProxyHeader(socket)) return super._handleProxy(socket, callback);
    callback(null, { id: newId(), ignore: this.options.ignoredHosts?.includes(socket.remoteAddress ?? '') ?? false });
  }

  override connect(socket: Socket, socketOptions?: Parameters<SMTPServer['connect']>[1]): void {
    // SMTPServer.connect() with two changes: our instrumentation before the first byte, and no 100 ms pause
    // before the greeting. smtp-server waits to catch clients that talk first; such a client is still
    // refused (421 "You talk too soon": nothing is read as a command before the greeting), so the pause
    // only cost every honest connection 100 ms (one connection per message is how many MTAs send).
    const conn: Conn = new SMTPConnection(this, socket, socketOptions);
    this.connections.add(conn);
    conn.on('error', (err: Error) => this._onError(err));
    conn.on('connect', (data: Parameters<SMTPServer['_onClientConnect']>[0]) => this._onClientConnect(data));
    this.instrument(conn, socket);
    conn._setListeners(() => {
      if (this.options.maxClients && this.connections.size > this.options.maxClients) {
        conn.send(421, `4.7.0 ${conn.name} Too many connected clients, try again in a moment`, false);
        return;
      }
      conn.connectionReady();
    });
  }

  /** Per-connection limits and the reply filter. */
  private instrument(conn: Conn, socket: Socket): void {
    const limits = this.opts.limits;
    const send = conn.send.bind(conn);
    let commands = 0;
    let errors = 0;
    let closing = false;
    const limitReached = (text: string) => {
      closing = true;
      this.opts.log.info({ session: conn.id, remote: conn.remoteAddress, commands, errors }, text);
      send(421, `4.7.0 ${conn.name} ${text}, closing connection`, false);
    };
    conn.send = (code: number, data?: string | string[] | null, context?: string | false) => {
      if (closing && code !== 421) return;
      // An application reply that carries its own enhanced code ("5.7.1 ...") is sent as is (RFC 3463
      // codes appear once); without ENHANCEDSTATUSCODES negotiated... they still do no harm (RFC 2034 3).
      if (typeof data === 'string' && ENHANCED_PREFIX.test(data)) context = false;
      send(code, data, context);
      if (code === 221) closeAfterQuit(conn, socket);
      if (code === 421 || code === 354 || code === 334 || code === 220) return;
      commands++;
      if (code >= 400) errors++;
      if (errors >= limits.max_errors) limitReached('too many errors');
      else if (commands >= limits.max_commands) limitReached('too many commands');
    };
    // RFC 5321 4.5.3.2 sets per-command timeouts; a whole-session bound stops a client that trickles one
    // command just inside the idle timeout for ever.
    const deadline = setTimeout(() => {
      if (!closing) limitReached('session time limit reached');
    }, limits.session_timeout_ms);
    deadline.unref();
    socket.once('close', () => clearTimeout(deadline));
  }
}

export async function startListener(opts: ListenerOptions, specs: readonly string[]): Promise<ListenerHandle> {
  const servers: { server: SMTPServer; path?: string }[] = [];
  const listening: Listening[] = [];
  const tls = opts.runtime.tls;
  try {
    for (const spec of specs) {
      const server = new GuardedSmtpServer(opts, {
        // Always our own key/cert: smtp-server's built-in key is public (LIBRARIES.md).
        key: tls.key,
        cert: tls.cert,
        minVersion: opts.runtime.config.tls.min_version,
        name: opts.runtime.config.server.hostname,
        logger: false,
        hideENHANCEDSTATUSCODES: false,
        maxClients: opts.limits.max_clients,
        maxRecipients: opts.limits.max_recipients,
        maxCommandLength: opts.limits.max_line_bytes,
        socketTimeout: opts.limits.idle_timeout_ms,
        closeTimeout: 1000,
        ...opts.smtp,
      });
      server.on('error', (err: Error) => opts.log.warn({ err, listener: opts.name }, 'smtp listener error'));
      const where = parseListen(spec);
      if ('path' in where) await unlink(where.path).catch(() => undefined);
      await new Promise<void>((resolve, reject) => {
        const onError = (err: Error) => reject(err);
        server.server.once('error', onError);
        const done = () => {
          server.server.off('error', onError);
          resolve();
        };
        if ('path' in where) server.listen(where.path, done);
        else server.listen(where.port, where.host, done);
      });
      const address = server.server.address();
      if ('path' in where) {
        if (opts.socketMode !== undefined) await chmod(where.path, opts.socketMode);
        servers.push({ server, path: where.path });
        listening.push({ name: opts.name, address: where.path, port: 0 });
      } else {
        servers.push({ server });
        const port = typeof address === 'object' && address ? address.port : where.port;
        listening.push({ name: opts.name, address: where.host, port });
      }
      opts.log.info({ endpoint: opts.name, address: listening[listening.length - 1] }, 'listening');
    }
  } catch (err) {
    await Promise.all(servers.map(({ server }) => new Promise<void>((r) => server.close(() => r()))));
    throw err;
  }
  return {
    listening,
    async close() {
      await Promise.all(
        servers.map(
          ({ server, path }) =>
            new Promise<void>((resolve) => {
              // Idle sessions get 421 after closeTimeout; close() resolves once the listener is down.
              server.close(() => resolve());
              for (const conn of server.connections) if (!conn._dataStream) conn.send(421, `4.3.2 ${conn.name} shutting down`, false);
            }).then(() => (path ? unlink(path).catch(() => undefined) : undefined)),
        ),
      );
    },
  };
}

/** The message bytes of a DATA stream, bounded by `maxBytes`; null when the message was over the limit
 * (its bytes are read and dropped so the connection stays in sync). */
export function readMessage(stream: SMTPServerDataStream, maxBytes: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    stream.on('data', (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > maxBytes) {
        over = true;
        chunks.length = 0;
        return;
      }
      chunks.push(chunk);
    });
    stream.once('end', () => resolve(over || stream.sizeExceeded ? null : Buffer.concat(chunks, size)));
    stream.once('error', reject);
  });
}

/** Typed per-session state kept beside smtp-server's session object. */
export class SessionState<T> {
  private readonly map = new WeakMap<SMTPServerSession, T>();
  constructor(private readonly create: (session: SMTPServerSession) => T) {}
  get(session: SMTPServerSession): T {
    let state = this.map.get(session);
    if (!state) {
      state = this.create(session);
      this.map.set(session, state);
    }
    return state;
  }
}
