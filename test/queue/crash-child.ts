// Child process of crash.test.ts: opens the store, starts the queue, queues one message and reports its
// id on stdout; then it keeps delivering until the parent kills it with SIGKILL.
import { join } from 'node:path';
import { openStore } from '../../src/store/index.ts';
import { createResolver } from '../../src/dns/index.ts';
import { startQueue } from '../../src/queue/index.ts';
import { buildRuntime, MESSAGE } from './harness.ts';

const dir = process.env['CRASH_DIR']!;
const key = Buffer.from(process.env['CRASH_KEY']!, 'hex');
const upstream = process.env['CRASH_DNS']!;
const port = Number(process.env['CRASH_PORT']);

const store = await openStore({ dir: join(dir, 'store'), key });
const runtime = buildRuntime(store, dir, upstream, { smtp_port: port });
const queue = startQueue(runtime, { resolver: createResolver({ upstream: [upstream], timeoutMs: 1000 }) });
const id = await queue.enqueue('alice@local.test', ['bob@remote.test'], MESSAGE);
process.stdout.write(`QUEUED ${id}\n`);
