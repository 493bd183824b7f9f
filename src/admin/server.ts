import { createServer, type Server, type Socket } from 'node:net';
import { chmod, unlink, lstat } from 'node:fs/promises';
import { connect } from 'node:net';
import type { Logger } from '../log/index.ts';
import { LineSplitter, MAX_ADMIN_LINE_BYTES, decodeValue, encodeValue, type AdminRequest, type AdminResponse } from './protocol.ts';

export type AdminHandler = (params: unknown) => Promise<unknown> | unknown;

export interface AdminServer {
  /** Adds or replaces handlers; services register theirs when they start. */
  register(handlers: Record<string, AdminHandler>): void;
  close(): Promise<void>;
}

/** Why the admin socket could not be set up; `code` says which, the message says what to do. */
export class AdminSocketError extends Error {
  constructor(
    readonly code: 'in_use' | 'not_a_socket',
    message: string,
  ) {
    super(message);
    this.name = 'AdminSocketError';
  }
}

async function socketInUse(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * Removes what a crashed server left at `path`, and only that: a socket nobody answers on. Anything else
 * there (a file, a directory, a symlink) may be someone's data, e.g. `admin_socket = "data/vault.json"`:
 * refuse to start rather than delete it.
 */
async function clearStaleSocket(path: string): Promise<void> {
  const found = await lstat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
  if (!found) return;
  if (!found.isSocket()) {
    throw new AdminSocketError(
      'not_a_socket',
      `the admin socket path ${path} ([server] admin_socket, default DATA_DIR/admin.sock) exists and is not a socket: refusing to start, so as not to remove it; point admin_socket at a path of its own`,
    );
  }
  if (await socketInUse(path)) throw new AdminSocketError('in_use', `another mailstack server is already running (admin socket ${path} answers)`);
  await unlink(path); // a stale socket from a crash
}

/** Listens on a unix socket that only the owner can open (0600 inside a 0700 data directory). */
export async function startAdminServer(path: string, log: Logger): Promise<AdminServer> {
  const handlers = new Map<string, AdminHandler>();
  await clearStaleSocket(path);
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const lines = new LineSplitter();
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      for (const line of lines.push(chunk)) {
        if (line.length > MAX_ADMIN_LINE_BYTES) {
          socket.destroy();
          return;
        }
        void handleLine(line, socket);
      }
      if (lines.pending > MAX_ADMIN_LINE_BYTES) socket.destroy();
    });
  });

  async function handleLine(line: string, socket: Socket): Promise<void> {
    let request: AdminRequest;
    try {
      request = JSON.parse(line) as AdminRequest;
    } catch {
      socket.end(JSON.stringify({ id: 0, error: { name: 'AdminError', message: 'malformed request' } }) + '\n');
      return;
    }
    let response: AdminResponse;
    const handler = handlers.get(request.method);
    if (!handler) {
      response = { id: request.id, error: { name: 'AdminError', code: 'unknown_method', message: `the running server does not know "${request.method}"` } };
    } else {
      try {
        response = { id: request.id, result: encodeValue(await handler(decodeValue(request.params))) };
      } catch (err) {
        const e = err as Error & { code?: unknown };
        if (!e || typeof e.code !== 'string') log.error({ err, method: request.method }, 'admin handler failed');
        response = { id: request.id, error: { name: e?.name ?? 'Error', ...(typeof e?.code === 'string' ? { code: e.code } : {}), message: e?.message ?? String(err) } };
      }
    }
    if (!socket.destroyed) socket.write(JSON.stringify(response) + '\n');
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // The umask makes the socket 0600 from the moment it exists; chmod again to be sure.
    const oldMask = process.umask(0o177);
    server.listen(path, () => {
      process.umask(oldMask);
      resolve();
    });
  });
  await chmod(path, 0o600);

  return {
    register(more) {
      for (const [name, fn] of Object.entries(more)) handlers.set(name, fn);
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await unlink(path).catch(() => {});
    },
  };
}
