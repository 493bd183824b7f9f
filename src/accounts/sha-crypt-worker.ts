// The SHA-crypt verification thread: thousands of SHA rounds per check (10-40 ms of CPU) must not run on
// the event loop, or a stream of wrong passwords against imported hashes would stall every connection.
import { parentPort } from 'node:worker_threads';
import { verifyShaCrypt } from './sha-crypt.ts';

export interface ShaCryptRequest {
  id: number;
  crypt: string;
  password: string;
}
export interface ShaCryptReply {
  id: number;
  ok: boolean;
  error?: string;
}

parentPort?.on('message', (req: ShaCryptRequest) => {
  let reply: ShaCryptReply;
  try {
    reply = { id: req.id, ok: verifyShaCrypt(req.crypt, req.password) };
  } catch (err) {
    reply = { id: req.id, ok: false, error: (err as Error).message };
  }
  parentPort?.postMessage(reply);
});
