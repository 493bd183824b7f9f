// Runs SHA-crypt verifications on one background thread, started on first use. The thread is unref'd
// while idle so it never keeps a process (a CLI command, a test) alive.
import { Worker } from 'node:worker_threads';
import type { ShaCryptReply, ShaCryptRequest } from './sha-crypt-worker.ts';

let worker: Worker | null = null;
let nextId = 1;
const pending = new Map<number, { resolve(ok: boolean): void; reject(err: Error): void }>();

function failAll(err: Error): void {
  for (const p of pending.values()) p.reject(err);
  pending.clear();
}

function getWorker(): Worker {
  if (worker) return worker;
  const w = new Worker(new URL('./sha-crypt-worker-bootstrap.mjs', import.meta.url));
  w.unref();
  w.on('message', (reply: ShaCryptReply) => {
    const p = pending.get(reply.id);
    if (!p) return;
    pending.delete(reply.id);
    if (pending.size === 0) w.unref();
    if (reply.error !== undefined) p.reject(new Error(reply.error));
    else p.resolve(reply.ok);
  });
  const gone = (err: Error) => {
    if (worker === w) worker = null;
    failAll(err);
  };
  w.on('error', gone);
  w.on('exit', (code) => gone(new Error(`SHA-crypt thread exited with code ${code}`)));
  worker = w;
  return w;
}

/** Verifies a $5$/$6$ hash on the background thread. */
export function verifyShaCryptOffThread(crypt: string, password: string): Promise<boolean> {
  const w = getWorker();
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    w.ref();
    const req: ShaCryptRequest = { id, crypt, password };
    w.postMessage(req);
  });
}
