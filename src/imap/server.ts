// The IMAP listeners: 143 with STARTTLS and 993 with implicit TLS (RFC 8314), one Session per connection.
import { createServer, type Server, type Socket } from 'node:net';
import { createSecureContext } from 'node:tls';
import { TLSSocket } from 'node:tls';
import type { Runtime } from '../runtime/index.ts';
import { newId } from '../log/index.ts';
import { Connection } from './connection.ts';
import { Session } from './session.ts';
import type { Authenticate } from './auth.ts';

export interface ImapListeners {
  close(): Promise<void>;
  listening: { name: string; address: string; port: number }[];
}

export interface ImapOverrides {
  /** Listen addresses instead of the config's (tests: ["127.0.0.1:0"]). */
  listen?: string[];
  listenTls?: string[];
  /** Login check (default: the accounts service's authenticate). */
  authenticate?: Authenticate;
}

function splitAddress(addr: string): { host: string; port: number } {
  const m = /^\[?([^\]]*)\]?:(\d+)$/.exec(addr);
  if (!m) throw new Error(`cannot parse listen address ${addr}`);
  return { host: m[1] || '0.0.0.0', port: Number(m[2]) };
}

export async function startImap(runtime: Runtime, overrides: ImapOverrides = {}): Promise<ImapListeners> {
  const cfg = runtime.config.imap;
  const secureContext = createSecureContext({ ...runtime.tls, minVersion: runtime.config.tls.min_version });
  const servers: Server[] = [];
  const sockets = new Set<Socket>();
  const listening: ImapListeners['listening'] = [];

  const handle = (socket: Socket, name: string, implicitTls: boolean) => {
    // Access control decides before a byte is read or written.
    if (!runtime.guard.admit(name, socket)) {
      socket.destroy();
      return;
    }
    sockets.add(socket);
    // The connection writes each response in one flush, so Nagle's algorithm only adds latency: a reply
    // that follows an unacknowledged segment would wait for the peer's delayed ACK (~40 ms per command).
    socket.setNoDelay(true);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const start = () => {
      const connection = new Connection(implicitTls ? tlsSocket! : socket, {
        listener: name,
        secureContext,
        implicitTls,
        maxMessageBytes: runtime.config.store.max_message_bytes,
      });
      const session = new Session(runtime, connection, newId('I'), overrides.authenticate);
      session.run().catch((err: unknown) => {
        runtime.log.error({ err: String(err), listener: name }, 'IMAP session failed');
        connection.close();
      });
    };
    let tlsSocket: TLSSocket | null = null;
    if (implicitTls) {
      tlsSocket = new TLSSocket(socket, { isServer: true, secureContext });
      tlsSocket.on('error', () => socket.destroy());
      // A handshake that never completes must not hold the socket.
      const handshakeTimeout = () => tlsSocket?.destroy();
      tlsSocket.setTimeout(cfg.idle_timeout_preauth_ms, handshakeTimeout);
      tlsSocket.once('secure', () => {
        tlsSocket?.off('timeout', handshakeTimeout);
        tlsSocket?.setTimeout(0);
        start();
      });
    } else {
      start();
    }
  };

  const listen = async (addr: string, name: string, implicitTls: boolean) => {
    const server = createServer((socket) => handle(socket, name, implicitTls));
    servers.push(server);
    const { host, port } = splitAddress(addr);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const a = server.address();
    if (a && typeof a === 'object') listening.push({ name, address: a.address, port: a.port });
  };

  try {
    for (const addr of overrides.listen ?? cfg.listen) await listen(addr, 'imap', false);
    for (const addr of overrides.listenTls ?? cfg.listen_tls) await listen(addr, 'imaps', true);
  } catch (err) {
    for (const s of servers) s.close();
    throw err;
  }

  return {
    listening,
    async close() {
      const closing = Promise.all(
        servers.map(
          (s) =>
            new Promise<void>((resolve) => {
              s.close(() => resolve());
            }),
        ),
      );
      // server.close() resolves once every connection is gone: end them now.
      for (const socket of sockets) socket.destroy();
      await closing;
    },
  };
}
