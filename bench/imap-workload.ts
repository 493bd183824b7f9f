// The messages of bench:imap (bench/imap.ts) and bench/imap-ab.ts: deterministic, so both servers get
// byte-identical mail. The workload's shape follows ../shared/peers/bench-imap.py (our own code).
import { rng } from '../test/imap/fuzz-lib.ts';

const WORDS = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet'];

export function makeMessages(n: number): Buffer[] {
  const random = rng(42);
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    let body = Array.from({ length: 120 }, () => WORDS[Math.floor(random() * WORDS.length)]).join(' ');
    if (i % 1000 === 7) body += ' needleword';
    const subject = `Benchmark message ${i} ` + (i % 100 === 3 ? 'quarterly report' : 'status');
    out.push(
      Buffer.from(
        `From: Sender ${i % 50} <sender${i % 50}@example.net>\r\nTo: user@example.org\r\nSubject: ${subject}\r\n` +
          `Date: Tue, 24 Nov 2026 10:${String(i % 60).padStart(2, '0')}:00 +0000\r\nMessage-ID: <bench-${i}@example.net>\r\n\r\n${body}\r\n`,
      ),
    );
  }
  return out;
}
