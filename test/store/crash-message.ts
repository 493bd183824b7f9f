// The messages of the crash test, derived from their id alone so the parent can check every stored byte.
import { createHash } from 'node:crypto';

export const CRASH_USER = 'crash@example.test';

export function crashMessage(id: string): Buffer {
  const seed = createHash('sha256').update(id).digest();
  // Sizes from ~1 KB to ~64 KB, so some commits span many pages.
  const bodyBytes = 800 + (seed.readUInt16BE(0) % 64) * 1000;
  const blocks: Buffer[] = [];
  let block = seed;
  let length = 0;
  while (length < bodyBytes) {
    block = createHash('sha256').update(block).digest();
    blocks.push(block);
    length += 46; // one digest in base64 (44) and its line break
  }
  // Half of them as one base64 stream in lines of 76 (an attachment, which the store keeps decoded when it is
  // 8 KiB or more: src/store/sqlite/body-packing.ts), half as a line per digest (each ending in "=": kept as it is).
  const body = seed[2]! % 2 === 0
    ? Buffer.concat(blocks).toString('base64').replace(/.{76}(?!$)/g, '$&\r\n')
    : blocks.map((digest) => digest.toString('base64')).join('\r\n');
  return Buffer.from(`From: load@example.org\r\nTo: ${CRASH_USER}\r\nSubject: crash ${id}\r\nMessage-ID: <${id}@crash.test>\r\n\r\n${body}\r\n`);
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
