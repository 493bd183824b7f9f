import { connect, type Socket } from 'node:net';
import { decodeValue, encodeValue, type AdminResponse } from './protocol.ts';
import { StoreError, type StoreErrorCode } from '../store/types.ts';

/** An error the server reported for a call; keeps the server-side name and code. */
export class AdminCallError extends Error {
  constructor(
    name: string,
    readonly code: string | undefined,
    message: string,
  ) {
    super(message);
    this.name = name;
  }
}

export interface AdminClient {
  call(method: string, params?: unknown): Promise<unknown>;
  close(): void;
}

/** Connects to a running server's admin socket; null when no server is listening there. */
export async function connectAdmin(path: string): Promise<AdminClient | null> {
  const socket: Socket | null = await new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => resolve(s));
    s.once('error', () => resolve(null));
  });
  if (!socket) return null;
  let nextId = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let buffered = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const response = JSON.parse(buffered.slice(0, nl)) as AdminResponse;
      buffered = buffered.slice(nl + 1);
      const waiter = pending.get(response.id);
      if (!waiter) continue;
      pending.delete(response.id);
      if ('error' in response) {
        const { name, code, message } = response.error;
        waiter.reject(name === 'StoreError' ? new StoreError(code as StoreErrorCode, message) : new AdminCallError(name, code, message));
      } else {
        waiter.resolve(decodeValue(response.result));
      }
    }
  });
  const failAll = (why: string) => {
    for (const w of pending.values()) w.reject(new AdminCallError('AdminError', 'disconnected', why));
    pending.clear();
  };
  socket.on('close', () => failAll('the server closed the admin connection'));
  socket.on('error', () => {});
  return {
    call(method, params) {
      return new Promise((resolve, reject) => {
        if (socket.destroyed) {
          reject(new AdminCallError('AdminError', 'disconnected', 'the admin connection is closed'));
          return;
        }
        const id = nextId++;
        pending.set(id, { resolve, reject });
        socket.write(JSON.stringify({ id, method, params: encodeValue(params) }) + '\n');
      });
    },
    close() {
      socket.end();
    },
  };
}
