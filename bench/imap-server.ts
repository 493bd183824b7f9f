// The mailstack IMAP server for bench/imap.ts, in its own process so the benchmark client does not share its
// event loop: a fresh encrypted store in a temp dir (the IMAP test harness), one user without a quota.
// Prints one JSON line {port, tlsPort, user, password, certFile, pid} and runs until SIGTERM.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startHarness, PASSWORD } from '../test/imap/harness.ts';

const h = await startHarness({ maxMessageBytes: 8 * 1024 * 1024 });
const certFile = join(h.dir, 'bench-cert.pem');
writeFileSync(certFile, h.runtime.tls.cert);
process.stdout.write(JSON.stringify({ port: h.port, tlsPort: h.tlsPort, user: h.other.address, password: PASSWORD, certFile, pid: process.pid }) + '\n');
process.once('SIGTERM', () => {
  void h.close().then(() => process.exit(0));
});
