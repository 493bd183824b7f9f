// A message in flight when the queue's process is killed with SIGKILL is still in the store afterwards and
// is delivered by the next process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { startDnsServer } from '../helpers/dns-server.ts';
import { MESSAGE, nextEvent, startHarness, startReceiver, type ReceivedMessage } from './harness.ts';

test('a message in flight survives kill -9 and is delivered after restart', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'queue-crash-'));
  const key = randomBytes(32);
  const dns = await startDnsServer();
  t.after(async () => {
    await dns.close();
    rmSync(dir, { recursive: true, force: true });
  });
  dns.set('remote.test', 'MX', [{ exchange: 'mx.remote.test', priority: 10 }]);
  dns.set('mx.remote.test', 'A', ['127.0.0.1']);

  let phase: 'crash' | 'restart' = 'crash';
  let dataArrived!: () => void;
  const inFlight = new Promise<void>((resolve) => (dataArrived = resolve));
  const receiver = await startReceiver(t, {
    onData: async () => {
      if (phase === 'crash') {
        dataArrived();
        await new Promise(() => {}); // never answer: the message stays in flight until the sender dies
      }
    },
  });

  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./crash-child.ts', import.meta.url))], {
    env: { ...process.env, CRASH_DIR: dir, CRASH_KEY: key.toString('hex'), CRASH_DNS: dns.upstream, CRASH_PORT: String(receiver.port) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let output = '';
  const queued = new Promise<string>((resolve) => {
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
      const m = /QUEUED (\S+)/.exec(output);
      if (m) resolve(m[1]!);
    });
  });
  const id = await queued;
  await inFlight;
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  child.kill('SIGKILL');
  assert.equal(await exited, 'SIGKILL');
  assert.equal(receiver.messages.length, 0, 'nothing was acknowledged before the kill');

  phase = 'restart';
  const delivered = nextEvent<ReceivedMessage>(receiver.events, 'message');
  const h = await startHarness(t, { smtp_port: receiver.port }, {}, { dir, key, dns });
  const removed = nextEvent<{ queueId: string }>(h.queue.events, 'removed', (e) => e.queueId === id);
  const message = await delivered;
  await removed;
  assert.equal(message.raw.toString(), MESSAGE.toString());
  assert.deepEqual(message.to, ['bob@remote.test']);
  assert.equal(await h.store.queue.get(id), null);
});
