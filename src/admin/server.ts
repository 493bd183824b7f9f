import { createServer, type Server, type Socket } from 'node:net';
import { chmod, unlink, stat } from 'node:fs/promises';
import { connect } from 'node:net';
import type { Logger } from '../log/index.ts';
import { MAX_ADMIN_LINE_BYTES, decodeValue, encodeValue, type AdminRequest, type AdminResponse } from './protocol.ts';

export type AdminHandler = (params: unknown) => Promise<unknown> | unknown;

export interface AdminServer {
  /** Adds or replaces handlers; services register theirs when they start. */
  register(handlers: Record<string, AdminHandler>): void;
  close(): Promise<void>;
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

/** Listens on a unix socket that only the owner can open (0600 inside a 0700 data directory). */
export async function startAdminServer(path: string, log: Logger): Promise<AdminServer> {
  const handlers = new Map<string, AdminHandler>();
  const exists = await stat(path).then(
    () => true,
    () => false,
  );
  if (exists) {
    if (await socketInUse(path)) throw Object.assign(new Error(`another mailstack server is already running (admin socket ${path} answers)`), { code: 'IN_USE' });
    await unlink(path); // a stale socket from a crash
  }
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffered = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      if (buffered.length > MAX_ADMIN_LINE_BYTES) {
        socket.destroy();
        return;
      }
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        void handleLine(line, socket);
      }
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
