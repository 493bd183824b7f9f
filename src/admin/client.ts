import { lstatSync, statSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { decodeValue, encodeValue, LineSplitter, type AdminResponse } from './protocol.ts';
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

/** A server that accepts no connection in this long is stuck (a unix socket connects at once when it runs). */
const CONNECT_TIMEOUT_MS = 5_000;
/** Most calls answer in milliseconds; unlock runs scrypt (about half a second each, one attempt at a time).
 * A minute leaves room for a loaded machine and still tells a stopped server from a slow one. */
const CALL_TIMEOUT_MS = 60_000;
/** Calls whose work grows with the store or the queue: verify reads every page and body, compact rewrites
 * body files, flush attempts every queued delivery, geoip.reload loads the whole table. */
const LONG_CALL_TIMEOUT_MS = 60 * 60_000;
const LONG_CALLS = new Set(['store.verify', 'store.compact', 'queue.flush', 'geoip.reload']);
/** `status` reads a few fields: a server that has not answered it in this long is stopped or stuck, and the
 * person asking should hear so before a minute has gone. */
const STATUS_TIMEOUT_MS = 10_000;

/** MAILSTACK_ADMIN_TIMEOUT_MS (tests, slow machines), or null when unset or not a positive number. */
function timeoutOverrideMs(): number | null {
  const override = Number(process.env['MAILSTACK_ADMIN_TIMEOUT_MS']);
  return Number.isFinite(override) && override > 0 ? override : null;
}

/** The per-call deadline; the override applies to every call. */
function callTimeoutMs(method: string): number {
  return timeoutOverrideMs() ?? (LONG_CALLS.has(method) ? LONG_CALL_TIMEOUT_MS : method === 'status' ? STATUS_TIMEOUT_MS : CALL_TIMEOUT_MS);
}

function connectTimeoutMs(): number {
  return Math.min(timeoutOverrideMs() ?? CONNECT_TIMEOUT_MS, CONNECT_TIMEOUT_MS);
}

function timeoutError(path: string, what: string, ms: number): AdminCallError {
  return new AdminCallError(
    'AdminError',
    'timeout',
    `the server on ${path} did not answer ${what} within ${ms / 1000} s: it may be stopped (kill -STOP) or overloaded; check its process (ps, or systemctl status for a service) and its log, and try again`,
  );
}

/**
 * Throws AdminCallError 'untrusted' when the socket at `path` belongs to someone who is neither this user nor
 * the owner of the data directory (who runs the server). Secrets go over this socket (the vault passphrase,
 * passwords), and a socket placed in a directory others can write to (admin_socket = "/tmp/...") may have been
 * created first by another local user, to collect them. Unix sockets carry no peer identity Node can read, so
 * the owner of the socket file stands for it: only its owner (or root) could have created it there.
 */
function checkSocketOwner(path: string, dataDir: string): void {
  let owner: number;
  try {
    owner = lstatSync(path).uid;
  } catch {
    return; // nothing there: connecting fails, and the caller works without a server
  }
  const trusted = new Set([process.getuid?.() ?? owner, 0]);
  try {
    trusted.add(statSync(dataDir).uid);
  } catch {
    /* no data directory: only this user and root */
  }
  if (trusted.has(owner)) return;
  throw new AdminCallError(
    'AdminError',
    'untrusted',
    `refusing to use the admin socket ${path}: it belongs to uid ${owner}, neither this user nor the owner of ${dataDir}, so another local user may have put it there to collect passphrases. Remove it, and set [server] admin_socket to a path in a directory only the mailstack user can write (the default is ${dataDir}/admin.sock)`,
  );
}

function isReply(value: unknown): value is AdminResponse {
  if (typeof value !== 'object' || value === null || !Number.isInteger((value as { id?: unknown }).id)) return false;
  // A call that returns nothing comes back as {"id":N}: JSON drops an undefined result.
  if ('error' in value) return typeof value.error === 'object' && value.error !== null;
  return true;
}

/** Connects to a running server's admin socket; null when no server is listening there. Throws
 * AdminCallError 'timeout' when something listens but does not accept the connection in time, and
 * 'untrusted' when the socket is not the server's (checkSocketOwner). */
export async function connectAdmin(path: string, dataDir: string): Promise<AdminClient | null> {
  checkSocketOwner(path, dataDir);
  const socket: Socket | null = await new Promise((resolve, reject) => {
    const s = connect(path);
    const limitMs = connectTimeoutMs();
    const timer = setTimeout(() => {
      s.destroy();
      reject(timeoutError(path, 'the connection', limitMs));
    }, limitMs);
    s.once('connect', () => {
      clearTimeout(timer);
      resolve(s);
    });
    s.once('error', () => {
      clearTimeout(timer);
      resolve(null);
    });
  });
  if (!socket) return null;
  let nextId = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const lines = new LineSplitter();
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    for (const line of lines.push(chunk)) {
      let response: AdminResponse;
      try {
        response = JSON.parse(line) as AdminResponse;
      } catch {
        // Not the admin protocol: whatever listens there is not a mailstack server.
        socket.destroy();
        failAll(`${path} answered something that is not mailstack's admin protocol`);
        return;
      }
      // Valid JSON is not yet a reply: `null`, `42` or an error without fields would throw in this handler,
      // where no caller can catch it.
      if (!isReply(response)) {
        socket.destroy();
        failAll(`${path} answered something that is not mailstack's admin protocol`);
        return;
      }
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
        const limitMs = callTimeoutMs(method);
        // A late answer would belong to no one: a call that timed out ends the connection.
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(timeoutError(path, `"${method}"`, limitMs));
          socket.destroy();
        }, limitMs);
        const settle = () => clearTimeout(timer);
        pending.set(id, {
          resolve: (v) => (settle(), resolve(v)),
          reject: (e) => (settle(), reject(e)),
        });
        socket.write(JSON.stringify({ id, method, params: encodeValue(params) }) + '\n');
      });
    },
    close() {
      socket.end();
    },
  };
}
