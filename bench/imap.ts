// bench:imap: the IMAP workload of issue 4 against mailstack and against a private Dovecot started in the same
// run, both over STARTTLS on loopback with the same client (this process) and the same generated messages.
//
//   npm run bench:imap -- [--messages 50000] [--idle 2000] [--only mailstack|dovecot] [--repeat 3]
//   npm run bench:imap -- --mime     (src/mime alone over the SpamAssassin corpus: the per-delivery cost)
//
// Timings: APPEND of all messages (one connection, one at a time), SELECT, UID FETCH 1:* (FLAGS),
// FETCH 1:* (ENVELOPE), UID SEARCH SUBJECT (header substring), UID SEARCH BODY (body word), STORE 1:* +FLAGS.
// Then --idle N authenticated connections in IDLE and the server's resident memory per connection (the whole
// process tree: Dovecot forks a process per session, mailstack is one process), as summed RSS and summed PSS.
// The workload follows ../shared/peers/bench-imap.py (same shape of messages and operations, our own code).
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { RawImapClient } from '../test/imap/differential-client.ts';
import { dovecotBinary, startDovecot } from '../test/imap/differential-dovecot.ts';
import { unjournaledExt4Note } from './file-system.ts';
import { spamAssassinSample } from '../test/imap/differential-corpus.ts';
import { extractSearchText, summarizeMessage } from '../src/mime/index.ts';
import { makeMessages } from './imap-workload.ts';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}
const MESSAGES = Number(arg('messages', '50000'));
const IDLE = Number(arg('idle', '2000'));
const ONLY = arg('only', '');
/** Read-only operations (SELECT, FETCH, SEARCH) run this many times and the best time is kept: one sample of a
 * 50 ms operation on this shared machine moves by 2x with the load. APPEND and STORE change the mailbox and
 * run once. */
const REPEAT = Math.max(1, Number(arg('repeat', '3')));

interface Target {
  name: string;
  port: number;
  user: string;
  password: string;
  ca: Buffer;
  /** Root PIDs whose process trees make up the server. */
  pids: () => number[];
  stop(): Promise<void>;
}


/** Resident memory of the process trees under `roots`, in KiB: summed VmRSS, and summed Pss (smaps_rollup).
 * RSS counts a page shared by N processes N times: Dovecot's per-session processes share most of theirs
 * (libc, libdovecot, the binary), so summed RSS overstates what they cost; PSS charges each process
 * 1/N of a shared page, so the sum over a tree is what the tree really holds. */
function memoryKb(roots: number[]): { rss: number; pss: number } {
  const parent = new Map<number, number>();
  const rss = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const status = readFileSync(`/proc/${d}/status`, 'utf8');
      const pp = /PPid:\s+(\d+)/.exec(status);
      const r = /VmRSS:\s+(\d+)/.exec(status);
      parent.set(Number(d), pp ? Number(pp[1]) : 0);
      rss.set(Number(d), r ? Number(r[1]) : 0);
    } catch {
      // gone
    }
  }
  const inTree = (pid: number): boolean => {
    for (let p = pid, hops = 0; p > 1 && hops < 64; p = parent.get(p) ?? 0, hops++) if (roots.includes(p)) return true;
    return false;
  };
  let totalRss = 0;
  let totalPss = 0;
  for (const [pid, kb] of rss) {
    if (!inTree(pid)) continue;
    totalRss += kb;
    try {
      const m = /^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
      totalPss += m ? Number(m[1]) : 0;
    } catch {
      // gone, or smaps_rollup not readable: counted as 0 (the RSS figure still has it)
    }
  }
  return { rss: totalRss, pss: totalPss };
}

async function connect(t: Target): Promise<RawImapClient> {
  const c = await RawImapClient.open('127.0.0.1', t.port);
  await c.startTls(t.ca);
  await c.ok(`LOGIN ${t.user} ${t.password}`);
  return c;
}

async function timed<T>(label: string, results: Map<string, number>, f: () => Promise<T>, repeat = 1): Promise<T> {
  let best = Infinity;
  let r: T;
  for (let i = 0; i < repeat; i++) {
    const start = performance.now();
    r = await f();
    best = Math.min(best, performance.now() - start);
  }
  results.set(label, best);
  console.log(`  ${label.padEnd(36)} ${best.toFixed(1).padStart(10)} ms${repeat > 1 ? ` (best of ${repeat})` : ''}`);
  return r!;
}

function searchCount(r: { untagged: Buffer[] }): number {
  const line = r.untagged.map((l) => l.toString()).find((l) => l.startsWith('* SEARCH')) ?? '* SEARCH';
  return line.slice(8).trim().split(/\s+/).filter(Boolean).length;
}

async function workload(t: Target, messages: Buffer[]): Promise<Map<string, number>> {
  const results = new Map<string, number>();
  console.log(`${t.name}:`);
  let c = await connect(t);
  await c.command('DELETE bench');
  await c.ok('CREATE bench');
  await timed(`APPEND x${messages.length}`, results, async () => {
    for (const m of messages) await c.ok('APPEND bench ', m);
  });
  await c.close();
  c = await connect(t);
  await timed('SELECT', results, () => c.ok('SELECT bench'), REPEAT);
  await timed('UID FETCH 1:* (FLAGS)', results, () => c.ok('UID FETCH 1:* (FLAGS)'), REPEAT);
  await timed('FETCH 1:* (ENVELOPE)', results, () => c.ok('FETCH 1:* (ENVELOPE)'), REPEAT);
  const subj = await timed('UID SEARCH SUBJECT "quarterly report"', results, () => c.ok('UID SEARCH SUBJECT "quarterly report"'), REPEAT);
  const body = await timed('UID SEARCH BODY needleword', results, () => c.ok('UID SEARCH BODY needleword'), REPEAT);
  await timed('STORE 1:* +FLAGS (\\Seen)', results, () => c.ok('STORE 1:* +FLAGS.SILENT (\\Seen)'));
  const expectSubj = messages.filter((_, i) => i % 100 === 3).length;
  const expectBody = messages.filter((_, i) => i % 1000 === 7).length;
  if (searchCount(subj) !== expectSubj || searchCount(body) !== expectBody) {
    throw new Error(`${t.name}: search hits ${searchCount(subj)}/${searchCount(body)}, expected ${expectSubj}/${expectBody}`);
  }
  await c.close();

  if (IDLE > 0) {
    const before = memoryKb(t.pids());
    const idle: RawImapClient[] = [];
    for (let i = 0; i < IDLE; i++) {
      const ic = await connect(t);
      await ic.ok('SELECT bench');
      ic.send('IDLE');
      await ic.readResponse(); // "+ idling"
      idle.push(ic);
    }
    const after = memoryKb(t.pids());
    const rssPer = (after.rss - before.rss) / IDLE;
    const pssPer = (after.pss - before.pss) / IDLE;
    results.set(`RSS per IDLE connection (KiB, ${IDLE} conns)`, rssPer);
    results.set(`PSS per IDLE connection (KiB, ${IDLE} conns)`, pssPer);
    console.log(`  ${'RSS per IDLE connection'.padEnd(36)} ${rssPer.toFixed(1).padStart(10)} KiB  (${IDLE} connections, ${before.rss} -> ${after.rss} KiB)`);
    console.log(`  ${'PSS per IDLE connection'.padEnd(36)} ${pssPer.toFixed(1).padStart(10)} KiB  (${IDLE} connections, ${before.pss} -> ${after.pss} KiB)`);
    for (const ic of idle) {
      ic.write('DONE\r\n');
      await ic.readResponse();
      await ic.close();
    }
  }
  return results;
}

async function startMailstack(): Promise<Target> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'imap-server.ts')], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, MAILSTACK_LOG_LEVEL: 'silent' },
  });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`mailstack bench server exited (${code})`)));
  });
  const info = JSON.parse(line) as { port: number; user: string; password: string; certFile: string; pid: number };
  return {
    name: 'mailstack',
    port: info.port,
    user: info.user,
    password: `"${info.password}"`,
    ca: readFileSync(info.certFile),
    pids: () => [child.pid!],
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

async function startDovecotTarget(): Promise<Target> {
  const dir = mkdtempSync(join(tmpdir(), 'mailstack-bench-tls-'));
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=localhost', '-keyout', keyFile, '-out', certFile], { stdio: 'ignore' });
  const limit = IDLE + 50;
  const d = await startDovecot({
    tls: { certFile, keyFile },
    // Room for the idle connections: Dovecot's defaults allow 10 sessions per user and IP and 100 processes.
    extraConfig: `mail_max_userip_connections = ${limit}\ndefault_process_limit = ${limit}\ndefault_client_limit = ${limit * 2}\nservice imap {\n  process_limit = ${limit}\n}\nservice imap-login {\n  process_limit = ${limit}\n}\n`,
  });
  return {
    name: 'dovecot',
    port: d.port,
    user: d.user,
    password: d.password,
    ca: readFileSync(certFile),
    pids: () => [d.process.pid!],
    async stop() {
      await d.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** summarizeMessage and extractSearchText over the whole SpamAssassin corpus, three rounds, best one. */
function mimeBench(): void {
  const corpus = spamAssassinSample(100_000, 1).map((m) => m.raw);
  const bytes = corpus.reduce((n, m) => n + m.length, 0);
  console.log(`src/mime over the SpamAssassin corpus: ${corpus.length} messages, ${(bytes / 1048576).toFixed(1)} MiB`);
  for (const [label, f] of [['summarizeMessage', summarizeMessage], ['extractSearchText', extractSearchText]] as const) {
    let best = Infinity;
    for (let round = 0; round < 3; round++) {
      const start = performance.now();
      for (const m of corpus) f(m);
      best = Math.min(best, performance.now() - start);
    }
    console.log(`  ${label.padEnd(20)} ${best.toFixed(0)} ms: ${((corpus.length / best) * 1000).toFixed(0)} msg/s, ${((bytes / 1048576 / best) * 1000).toFixed(1)} MiB/s`);
  }
}

if (process.argv.includes('--mime')) {
  mimeBench();
  process.exit(0);
}

const messages = makeMessages(MESSAGES);
console.log(`bench:imap: ${MESSAGES} messages, ${IDLE} idle connections (node ${process.version})`);
const all = new Map<string, Map<string, number>>();
for (const name of ['mailstack', 'dovecot']) {
  if (ONLY && ONLY !== name) continue;
  if (name === 'dovecot' && !dovecotBinary()) {
    console.log('dovecot: not installed, skipped');
    continue;
  }
  const target = name === 'mailstack' ? await startMailstack() : await startDovecotTarget();
  try {
    all.set(name, await workload(target, messages));
  } finally {
    await target.stop();
  }
}
const ours = all.get('mailstack');
const theirs = all.get('dovecot');
if (ours && theirs) {
  console.log('\n| operation | mailstack | Dovecot | Dovecot / mailstack |\n| --- | ---: | ---: | ---: |');
  for (const [label, v] of ours) {
    const d = theirs.get(label);
    if (d === undefined) continue;
    const unit = label.startsWith('RSS') || label.startsWith('PSS') ? ' KiB' : ' ms';
    console.log(`| ${label} | ${v.toFixed(1)}${unit} | ${d.toFixed(1)}${unit} | ${(d / v).toFixed(2)}x |`);
  }
  // Dovecot's APPEND creates a file per message in its Maildir (in the temporary directory).
  const fileSystemNote = unjournaledExt4Note(tmpdir(), "Dovecot's APPEND");
  if (fileSystemNote) console.log(fileSystemNote);
}
const out = arg('json', '');
if (out) writeFileSync(out, JSON.stringify(Object.fromEntries([...all].map(([k, v]) => [k, Object.fromEntries(v)])), null, 2));
