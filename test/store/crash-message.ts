// The messages of the crash test, derived from their id alone so the parent can check every stored byte.
import { createHash } from 'node:crypto';

export const CRASH_USER = 'crash@example.test';

export function crashMessage(id: string): Buffer {
  const seed = createHash('sha256').update(id).digest();
  // Sizes from ~1 KB to ~64 KB, so some commits span many pages.
  const bodyBytes = 800 + (seed.readUInt16BE(0) % 64) * 1000;
  const lines: string[] = [];
  let block = seed;
  let length = 0;
  while (length < bodyBytes) {
    block = createHash('sha256').update(block).digest();
    const line = block.toString('base64');
    lines.push(line);
    length += line.length + 2;
  }
  return Buffer.from(`From: load@example.org\r\nTo: ${CRASH_USER}\r\nSubject: crash ${id}\r\nMessage-ID: <${id}@crash.test>\r\n\r\n${lines.join('\r\n')}\r\n`);
}

/** The messages the compaction crash test expunges: a third of them, picked by id. */
export function expungeable(id: string): boolean {
  return createHash('sha256').update(id).digest()[1]! % 3 === 0;
}

/** The id back from a stored message's Message-ID. */
export function crashId(messageId: string | null | undefined): string | null {
  const match = /^<([^@>]+)@crash\.test>$/.exec(messageId ?? '');
  return match ? (match[1] as string) : null;
}
